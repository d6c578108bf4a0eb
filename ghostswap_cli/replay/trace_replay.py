"""Replay a page trace through the simulated kernel and its zswap pool.

``replay_trace`` drives the page table (``kernel/mm.py``) from a trace reader: ``out`` swaps a
page out (slot, zeromap, zswap, file or resident), ``in`` faults it back and checks its bytes
against the CRC32 kept when it went out, ``free`` unmaps it. The report is the kernel's counters
over the replay plus what only a replayer knows (corrupt pages, compression ratio, peak pool).

A replay is one transaction by default: if the trace turns out malformed at event 9,000,000,
or the process is killed, the state is exactly as before the replay. ``commit_every`` trades
that for checkpoints.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gc
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ghostswap_cli.errors import TraceError

if TYPE_CHECKING:
    from ghostswap_cli.codec.trace import TraceReader
    from ghostswap_cli.kernel.machine import Kernel

__all__ = ("ReplayOptions", "ReplayReport", "replay_trace", "TIMELINE_COLUMNS")

TIMELINE_COLUMNS = (
    "event",
    "pool_total_size",
    "stored_pages",
    "compression_ratio",
    "written_back_pages",
    "stayed_resident",
    "swap_used_pages",
    "zero_pages",
)

REJECT_COUNTERS = (
    "reject_compress_poor",
    "reject_compress_fail",
    "reject_alloc_fail",
    "reject_kmemcache_fail",
)
DELTA_COUNTERS = (
    "pswpin", "pswpout", "swpin_zero", "swpout_zero", "zswpin", "zswpout", "zswpwb",
    "written_back_pages", "pool_limit_hit", "reject_reclaim_fail", "decompress_fail",
    *REJECT_COUNTERS,
)


@dataclasses.dataclass
class ReplayOptions:
    compressor: str | None = None  # for this replay only; the parameter is restored after
    level: int | None = None
    timeline: IO[str] | None = None
    timeline_every: int = 1000
    commit_every: int = 0
    progress: Callable[[int, int], None] | None = None  # (events, bytes read)
    progress_every: int = 8192
    compress_ahead: str = "auto"  # auto, on, off: see replay/compress_ahead.py
    # inline (no second process): compress each batch's swap-outs in one library call where
    # the compressor has one (zstd); off: one call per page, inside zswap_store
    batch_compress: str = "auto"


@dataclasses.dataclass
class ReplayReport:
    trace: str
    format: str
    page_size: int
    compressor: str
    events: int = 0
    swapped_out: int = 0
    swapped_in: int = 0
    freed: int = 0
    stored_pages: int = 0
    zero_pages: int = 0
    rejected: dict[str, int] = dataclasses.field(default_factory=dict)
    written_back_pages: int = 0
    stayed_resident: int = 0
    corrupt_pages: int = 0
    corrupt_vpns: list[int] = dataclasses.field(default_factory=list)
    compression_ratio: float = 0.0
    zswap_accepted_pages: int = 0
    zswap_accepted_bytes: int = 0
    pool_total_size: int = 0
    pool_peak_size: int = 0
    implicit_swapins: int = 0
    in_not_swapped: int = 0
    no_swap_space: int = 0
    swapcache_pages: int = 0
    counters: dict[str, int] = dataclasses.field(default_factory=dict)
    devices: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0
    compress_ahead: str = "off"
    pool_samples: list[int] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("pool_samples")
        d["events_per_second"] = round(self.events / self.elapsed) if self.elapsed else None
        d["elapsed"] = round(self.elapsed, 6)
        return d


def replay_trace(k: Kernel, reader: TraceReader, options: ReplayOptions) -> ReplayReport:
    if reader.page_size != k.page_size:
        raise TraceError(
            str(reader.path), "line 1" if reader.format == "text" else "header",
            f"trace page size {reader.page_size} does not match the kernel's PAGE_SIZE "
            f"{k.page_size}",
        )
    mm = k.mm
    zswap = k.zswap
    saved_params = dict(k.params)
    if options.compressor is not None:
        from ghostswap_cli.kernel.procfs import write_file

        write_file(k, "/sys/module/zswap/parameters/compressor", options.compressor)
    if options.level is not None:
        from ghostswap_cli.kernel.procfs import write_file

        write_file(k, "/sys/kernel/ghostswap/compressor_level", str(options.level))
    compressor = zswap.current_compressor()
    before = {name: k.counters[name] for name in DELTA_COUNTERS}
    stats_before = dataclasses.replace(mm.stats, corrupt_vpns=[])
    zs_before = dict(zswap.session)
    model = zswap.model
    peak = model.pool_pages
    report = ReplayReport(
        trace=str(reader.path), format=reader.format, page_size=k.page_size,
        compressor=compressor.name + (f":{options.level}" if options.level else ""),
    )
    writer = None
    if options.timeline is not None:
        writer = csv.writer(options.timeline, lineterminator="\n")
        writer.writerow(TIMELINE_COLUMNS)
    every = max(options.timeline_every, 1)
    progress = options.progress
    progress_every = max(options.progress_every, 1)
    commit_every = options.commit_every
    swap_out = mm.swap_out
    swap_in = mm.swap_in
    free = mm.free
    samples: list[int] = []
    sample_every = 256
    marks = [every] + ([progress_every] if progress is not None else []) + (
        [commit_every] if commit_every else [])

    def batch_size(done: int) -> int:
        """Events up to the next timeline row, progress call or commit (at most BATCH), so
        the per-event loop only replays and the bookkeeping runs between batches."""
        return min([BATCH] + [m - done % m for m in marks])

    n = 0
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        # the loop makes no reference cycles, and a collection every few thousand events would
        # walk all of the machine's objects: about 3% of a replay's time, measured
        if gc.isenabled():
            gc.disable()
            stack.callback(gc.enable)
        ahead = _start_compress_ahead(k, reader, options.compress_ahead)
        if ahead is not None:
            stack.enter_context(ahead)
        # (None, None) from the iterator: compress inline (swap_out's defaults); with a batch
        # compressor or a second process, each batch gets its own
        compressed = itertools.repeat((None, None))
        compress_all = _batch_compressor(k, options.batch_compress)
        zero = mm.zero_page
        inline = (None if compress_all is None else  # for ahead's inline phases
                  lambda events: _compress_batch(compress_all, events, zero))
        for batch in _event_batches(reader, batch_size):
            if ahead is not None:
                compressed = ahead.batch(batch, inline)
            elif compress_all is not None:
                compressed = _compress_batch(compress_all, batch, zero)
            for op, vpn, page in batch:
                if op == 0:
                    data, csum = next(compressed)
                    swap_out(vpn, page, data, csum)
                    if model.pool_pages > peak:
                        peak = model.pool_pages
                elif op == 1:
                    swap_in(vpn)
                else:
                    free(vpn)
            n += len(batch)
            if n % every == 0:
                if writer is not None:
                    _timeline_row(writer, k, n, stats_before, before)
                if n % (every * sample_every) == 0 or len(samples) < 4096:
                    samples.append(model.pool_pages)
            if progress is not None and n % progress_every == 0:
                progress(n, reader.bytes_read)
            if commit_every and n % commit_every == 0:
                k.commit()
    report.elapsed = time.perf_counter() - t0
    if ahead is not None:
        report.compress_ahead = ahead.summary()
    if writer is not None and n % every:
        _timeline_row(writer, k, n, stats_before, before)
    if progress is not None:
        progress(n, reader.bytes_read)
    if options.compressor is not None or options.level is not None:
        for name in ("/sys/module/zswap/parameters/compressor",
                     "/sys/kernel/ghostswap/compressor_level"):
            k.set_param(name, saved_params[name])

    st = mm.stats
    report.events = n
    report.swapped_out = st.swapped_out - stats_before.swapped_out
    report.swapped_in = st.swapped_in - stats_before.swapped_in
    report.freed = st.freed - stats_before.freed
    report.stored_pages = zswap.stored_pages
    delta = {name: k.counters[name] - before[name] for name in DELTA_COUNTERS}
    report.counters = delta
    report.zero_pages = delta["swpout_zero"]
    rejected = {name.removeprefix("reject_"): delta[name] for name in REJECT_COUNTERS}
    for reason, count in zswap.session.items():
        rejected[reason] = count - zs_before.get(reason, 0)
    report.rejected = rejected
    report.written_back_pages = delta["written_back_pages"]
    report.stayed_resident = st.stayed_resident - stats_before.stayed_resident
    report.corrupt_pages = st.corrupt_pages - stats_before.corrupt_pages
    report.corrupt_vpns = list(st.corrupt_vpns)
    report.zswap_accepted_pages = st.zswap_accepted_pages - stats_before.zswap_accepted_pages
    report.zswap_accepted_bytes = st.zswap_accepted_bytes - stats_before.zswap_accepted_bytes
    if report.zswap_accepted_bytes:
        report.compression_ratio = round(
            report.zswap_accepted_pages * k.page_size / report.zswap_accepted_bytes, 4
        )
    report.pool_total_size = model.pool_pages * k.page_size
    report.pool_peak_size = peak * k.page_size
    report.implicit_swapins = st.implicit_swapins - stats_before.implicit_swapins
    report.in_not_swapped = st.in_not_swapped - stats_before.in_not_swapped
    report.no_swap_space = st.no_swap_space - stats_before.no_swap_space
    report.swapcache_pages = k.counters["nr_swapcache_pages"]
    report.devices = [
        {
            "name": si.path,
            "type": "ghost" if si.is_ghost else "file",
            "prio": si.prio,
            "size_pages": si.pages,
            "used_pages": si.inuse_pages,
        }
        for si in k.active()
    ]
    samples.append(model.pool_pages)
    report.pool_samples = samples
    return report


def _start_compress_ahead(k: Kernel, reader: TraceReader, mode: str):
    """A :class:`CompressAhead` for this replay, or None to compress inline."""
    from ghostswap_cli.replay import compress_ahead

    if mode not in ("auto", "on", "off"):
        raise ValueError(f"compress_ahead must be auto, on or off, not {mode!r}")
    if mode == "off" or not k.zswap.enabled or not hasattr(os, "fork"):
        return None
    if mode == "auto" and not compress_ahead.worthwhile(reader.size):
        return None
    c = k.zswap.current_compressor()
    return compress_ahead.CompressAhead(
        reader.path, allow_dirs=reader.allow_dirs, page_size=reader.page_size,
        compressor=c.name, level=c.level, probe=mode == "auto",
    )


def _batch_compressor(k: Kernel, mode: str):
    if mode not in ("auto", "off"):
        raise ValueError(f"batch_compress must be auto or off, not {mode!r}")
    if mode == "off" or not k.zswap.enabled:
        return None
    from ghostswap_cli.kernel.compressors import batch_compressor

    return batch_compressor(k.zswap.current_compressor())


def _compress_batch(compress_all, batch: list, zero: bytes):
    """``(compressed, None)`` for each swap-out of ``batch``, in order (``(None, None)`` for a
    zero page, which the swap core keeps as a bit), from one call for the whole batch."""
    pages = [page for op, _vpn, page in batch if op == 0]
    done = iter(compress_all([p for p in pages if p != zero]))
    return iter([(None, None) if p == zero else (next(done), None) for p in pages])


BATCH = 1024  # events between checks for timeline rows, progress and commits


def _event_batches(reader, batch_size):
    """Batches of events, ``batch_size(events so far)`` long."""
    it = iter(reader)
    done = 0
    while True:
        batch = list(itertools.islice(it, batch_size(done)))
        if not batch:
            return
        done += len(batch)
        yield batch


def _timeline_row(writer, k: Kernel, n: int, stats_before, before: dict[str, int]) -> None:
    st = k.mm.stats
    pages = st.zswap_accepted_pages - stats_before.zswap_accepted_pages
    nbytes = st.zswap_accepted_bytes - stats_before.zswap_accepted_bytes
    ratio = round(pages * k.page_size / nbytes, 4) if nbytes else 0.0
    writer.writerow(
        (
            n,
            k.zswap.model.pool_pages * k.page_size,
            k.zswap.stored_pages,
            ratio,
            k.counters["written_back_pages"] - before["written_back_pages"],
            st.stayed_resident - stats_before.stayed_resident,
            sum(si.inuse_pages for si in k.active()),
            k.counters["swpout_zero"] - before["swpout_zero"],
        )
    )


def open_timeline(path: Path) -> IO[str]:
    return open(path, "w", newline="", encoding="utf-8")
