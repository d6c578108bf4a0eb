"""One real replay of a trace feeding every design model.

``run_lab`` reads the trace twice. The first pass (``profile_trace``) checks every event and counts
the pages swapped out at once after each event (peak, percentiles): the sizes ``auto`` picks and
``advise`` recommends come from it. The second pass is the replay, for real, on a simulated kernel
in a temporary state directory (never the user's): a ghost swapfile in a temporary folder, large
enough for every page of the trace (at least ``--ghost-size``), zswap with the chosen compressor and
no pool limit. Each swapped-out page is compressed once by that compressor, stored in zswap (the
kernel stores those very bytes), loaded back on ``in`` and checked against the CRC taken when it
went out; at the end every page still out is brought back and checked too (``try_to_unuse``). So
``corrupt_pages`` must be 0 and every length the models see is a real compressed length.

Each model gets, per event, what it needs: ``out(vpn, zero, clen)`` (zero page or not, the
compressed length; ``clen >= PAGE_SIZE`` means zswap rejects the page as incompressible, as the
simulated ``zswap_store`` does), ``swap_in(vpn)``, ``free(vpn)``; then ``sample()``. Models apply
their own limits (pool size from the same zsmalloc accounting, slots, clusters): the oracle replay
runs with none, so it can check every page.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ghostswap_cli.codec.trace import OP_FREE, OP_IN, OP_OUT, TraceReader, open_trace
from ghostswap_cli.designs import DESIGN_NAMES, DESIGNS, resolve_params
from ghostswap_cli.designs.base import ROWS, LabConfig, human_bytes
from ghostswap_cli.errors import KernelError, ToolError

__all__ = (
    "TraceProfile",
    "profile_trace",
    "LabOptions",
    "LabReport",
    "run_lab",
    "DEFAULT_MAX_POOL_PERCENT",
    "DEFAULT_HEADROOM_PERCENT",
    "ORACLE_RAM",
    "EXIT_USAGE",
    "timeline_columns",
    "JSON_SCHEMA_VERSION",
)

DEFAULT_MAX_POOL_PERCENT = 20  # mm/zswap.c default of max_pool_percent
DEFAULT_HEADROOM_PERCENT = 25
#: RAM of the oracle machine: 1 PiB at max_pool_percent 100, so its pool never hits the limit
ORACLE_RAM = 1 << 50
EXIT_USAGE = 2
#: ``designs --json`` layout (ghostswap-designs(1), JSON OUTPUT): bumped when a key is removed or
#: changes meaning; keys and rows may be added within a version. 2: nine designs, the first five
#: renamed (``design_aliases``), the writeback-refused and shrinker-stall rows.
JSON_SCHEMA_VERSION = 2


# --- first pass ----------------------------------------------------------------------------------


@dataclasses.dataclass
class TraceProfile:
    """Pages swapped out at once, after each event of a trace (as a histogram)."""

    path: str
    format: str
    page_size: int
    events: int = 0
    outs: int = 0
    ins: int = 0
    frees: int = 0
    peak_swapped: int = 0
    peak_event: int = 0
    histogram: list[int] = dataclasses.field(default_factory=lambda: [0])  # count -> events

    def percentile(self, p: float) -> int:
        """Nearest-rank percentile over events of the pages swapped out at once (p in (0, 100])."""
        if not 0 < p <= 100:
            raise ValueError("the percentile must be in (0, 100]")
        if self.events == 0:
            return 0
        from fractions import Fraction

        rank = max(1, -(-Fraction(str(p)) * self.events // 100))
        cum = 0
        for count, n in enumerate(self.histogram):
            cum += n
            if cum >= rank:
                return count
        return self.peak_swapped  # pragma: no cover - the histogram sums to events

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events, "out": self.outs, "in": self.ins, "free": self.frees,
            "peak_swapped_pages": self.peak_swapped, "peak_event": self.peak_event,
            "p50": self.percentile(50), "p90": self.percentile(90), "p99": self.percentile(99),
        }


def profile_trace(reader: TraceReader) -> TraceProfile:
    """Read every event once (pages are not generated) and count pages out at once."""
    prof = TraceProfile(str(reader.path), reader.format, reader.page_size)
    swapped: set[int] = set()
    hist = prof.histogram
    n = peak = peak_event = 0
    ops = [0, 0, 0]
    for op, vpn, _content in reader.events():
        ops[op] += 1
        if op == OP_OUT:
            swapped.add(vpn)
        else:
            swapped.discard(vpn)
        n += 1
        c = len(swapped)
        if c >= len(hist):
            hist.append(0)
        hist[c] += 1
        if c > peak:
            peak, peak_event = c, n
    prof.events = n
    prof.outs, prof.ins, prof.frees = ops
    prof.peak_swapped, prof.peak_event = peak, peak_event
    return prof


# --- the lab -------------------------------------------------------------------------------------


@dataclasses.dataclass
class LabOptions:
    designs: Sequence[str] = DESIGN_NAMES
    ghost_size: int | None = None  # bytes; None: auto (what advise recommends)
    real_sizes: Sequence[int] = ()  # bytes, one per real device, highest priority first; (): auto
    pool_limit: int | None = None  # bytes
    max_pool_percent: int | None = None  # of lab.ram; default 20 when no pool_limit
    compressor: str | None = None  # None: the kernel's default
    params: dict[str, int] = dataclasses.field(default_factory=dict)
    timeline: IO[str] | None = None
    timeline_every: int = 100
    allow_dirs: Sequence[os.PathLike[str] | str] = ()
    headroom_percent: float = DEFAULT_HEADROOM_PERCENT  # for auto sizes
    memory: Any = None  # pressure.MemorySettings for an access trace; None: its defaults


@dataclasses.dataclass
class LabReport:
    trace: str
    format: str
    page_size: int
    compressor: str = ""
    events: int = 0
    swapped_out: int = 0
    swapped_in: int = 0
    freed: int = 0
    zero_pages: int = 0
    compressed_pages: int = 0  # compressed to less than a page
    compressed_bytes: int = 0
    incompressible_pages: int = 0
    corrupt_pages: int = 0
    verified_pages: int = 0
    oracle: dict[str, Any] = dataclasses.field(default_factory=dict)
    profile: dict[str, Any] = dataclasses.field(default_factory=dict)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    params: dict[str, int] = dataclasses.field(default_factory=dict)
    designs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def compression_ratio(self) -> float:
        if not self.compressed_bytes:
            return 0.0
        return round(self.compressed_pages * self.page_size / self.compressed_bytes, 4)

    def to_json(self) -> dict[str, Any]:
        from ghostswap_cli.designs import DESIGN_ALIASES

        d = {"schema_version": JSON_SCHEMA_VERSION, **dataclasses.asdict(self)}
        d["compression_ratio"] = self.compression_ratio
        d["elapsed"] = round(self.elapsed, 6)
        d["rows"] = [r.key for r in ROWS]
        if self.config.get("mode") == "memory-pressure":
            from ghostswap_cli.designs.pressure import PRESSURE_ROWS

            d["rows"] += [r.key for r in PRESSURE_ROWS]
        d["design_aliases"] = dict(DESIGN_ALIASES)
        return d


def timeline_columns(designs: Sequence[str]) -> list[str]:
    return ["event", *(f"{name}_metadata_bytes" for name in designs)]


def _slots(size: int, ps: int, what: str) -> int:
    slots = size // ps
    if slots < 2:
        raise ToolError(f"{what} {size} bytes is less than 2 pages of {ps} bytes "
                        "(a header and one slot)", EXIT_USAGE)
    return slots


def write_ghost_swapfile(path: Path, slots: int, page_size: int, label: str = "lab") -> None:
    """A ghost swapfile as ``mkswap --ghost`` writes it: one header page declaring ``slots``."""
    from ghostswap_cli.codec.swap_header import ByteOrder, SwapHeader, build_swap_header

    header = SwapHeader(page_size=page_size, byteorder=ByteOrder.LITTLE, version=1,
                        last_page=slots - 1, nr_badpages=0, sws_uuid=uuid.uuid4().bytes,
                        sws_volume=label.encode()[:15].ljust(16, b"\0"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, build_swap_header(header))
    finally:
        os.close(fd)


def run_lab(trace: os.PathLike[str] | str, options: LabOptions) -> LabReport:
    """Profile and replay ``trace`` once, feeding every model in ``options.designs``."""
    from ghostswap_cli.designs.advise import recommend

    params = resolve_params(options.params)
    names = [n for n in DESIGN_NAMES if n in options.designs]
    with open_trace(trace, allow_dirs=options.allow_dirs) as reader:
        ps = reader.page_size
        access = reader.version >= 2  # an access trace: reclaim decides what goes out
        if access:
            from ghostswap_cli.designs.pressure import auto_slots, scan_access_trace

            if options.memory is None:  # unlimited, nothing would ever be swapped
                raise ToolError(f"{trace}: an access trace: give --memory-max, the limit its "
                                "process runs under")
            prof = scan_access_trace(reader)
            auto_size = auto_slots(prof["distinct_pages"], options.headroom_percent,
                                   params["ghost-rfc.cluster_slots"])
        else:
            if options.memory is not None:
                raise ToolError(f"{trace}: --memory-max (like every memory setting) needs an "
                                "access trace (read/write events); this one has swap events")
            prof = profile_trace(reader)
            auto_size = recommend(prof, options.headroom_percent, 100,
                                  cluster_slots=params["ghost-rfc.cluster_slots"]).slots
        ghost_slots = (auto_size if options.ghost_size is None
                       else _slots(options.ghost_size, ps, "--ghost-size"))
        real_slots = (tuple(_slots(s, ps, "--real-size") for s in options.real_sizes)
                      if options.real_sizes else (auto_size,))
        if options.pool_limit is not None:
            pool_limit_pages = options.pool_limit // ps
            limit_text = f"--pool-limit {human_bytes(options.pool_limit)}"
        else:
            pct = DEFAULT_MAX_POOL_PERCENT if options.max_pool_percent is None else options.max_pool_percent
            pool_limit_pages = params["lab.ram"] // ps * pct // 100
            limit_text = f"max_pool_percent {pct} of lab.ram {human_bytes(params['lab.ram'])}"
        cfg = LabConfig(page_size=ps, ghost_slots=ghost_slots, real_slots=real_slots,
                        pool_limit_pages=pool_limit_pages, params=params)
        models = [DESIGNS[n](cfg) for n in names]
        report = LabReport(trace=str(trace), format=reader.format, page_size=ps)
        report.profile = prof if access else prof.to_dict()
        report.params = dict(params)
        report.config = {
            "mode": "memory-pressure" if access else "swap-events",
            "designs": names,
            "ghost_size_bytes": ghost_slots * ps,
            "ghost_size_auto": options.ghost_size is None,
            "real_sizes_bytes": [s * ps for s in real_slots],
            "real_sizes_auto": not options.real_sizes,
            "pool_limit_pages": pool_limit_pages,
            "pool_limit_bytes": pool_limit_pages * ps,
            "accept_pages": cfg.accept_pages,
            "pool_limit": limit_text,
        }
        if access:
            _pressure(reader, models, names, options, report, real_slots[0], pool_limit_pages)
            return report
        # the oracle needs a slot for every page of the trace so every page is checked
        oracle_slots = max(ghost_slots, auto_size)
        with tempfile.TemporaryDirectory(prefix="ghostswap-designs-") as tmp:
            _replay(Path(tmp), reader, ps, oracle_slots, models, names, options, report)
    for name, m in zip(names, models, strict=True):
        report.designs[name] = m.result()
    return report


def _pressure(reader: TraceReader, models: list, names: list[str], options: LabOptions,
              report: LabReport, real_slots: int, pool_limit_pages: int) -> None:
    """An access trace: the simulated kernel's access replay as the oracle, then every model's
    process under the same memory settings (``designs/pressure.py``)."""
    from ghostswap_cli.designs.pressure import MemorySettings, oracle_replay, run_pressure
    from ghostswap_cli.kernel.compressors import available_compressors, get_compressor

    settings = options.memory or MemorySettings()
    ram = report.params["lab.ram"]
    if options.compressor is not None and options.compressor not in available_compressors():
        raise ToolError(f"compressor {options.compressor} not available (available: "
                        f"{', '.join(available_compressors())})", EXIT_USAGE)
    t0 = time.perf_counter()
    oracle = oracle_replay(reader, settings, real_slots, ram, options.compressor, pool_limit_pages)
    report.compressor = oracle["compressor"]
    comp = get_compressor(report.compressor)
    writer = None
    if options.timeline is not None:
        writer = csv.writer(options.timeline, lineterminator="\n")
        writer.writerow(timeline_columns(names))
    procs, stats = run_pressure(reader, models, settings, ram // report.page_size, comp.compress,
                                writer, max(options.timeline_every, 1))
    report.elapsed = time.perf_counter() - t0
    prof = report.profile
    report.events = prof["events"]
    report.swapped_out, report.swapped_in = oracle["swap_outs"], oracle["swap_ins"]
    report.freed = prof["frees"]
    report.zero_pages = stats["zero_pages"]
    report.compressed_pages = stats["compressed_pages"]
    report.compressed_bytes = stats["compressed_bytes"]
    report.incompressible_pages = stats["incompressible_pages"]
    report.corrupt_pages = oracle["corrupt_pages"]
    report.verified_pages = oracle["swap_ins"]
    report.oracle = oracle
    report.config["memory"] = settings.to_dict()
    for name, m, p in zip(names, models, procs, strict=True):
        report.designs[name] = {**m.result(), **p.rows()}


def _replay(tmp: Path, reader: TraceReader, ps: int, oracle_slots: int, models: list,
            names: list[str], options: LabOptions, report: LabReport) -> None:
    from ghostswap_cli.kernel.machine import open_kernel, reset_state
    from ghostswap_cli.kernel.params import ZSWAP
    from ghostswap_cli.kernel.procfs import write_file
    from ghostswap_cli.kernel.swapfile import sys_swapon

    state = tmp / "state"
    reset_state(state, {"page_size": str(ps), "ram": str(ORACLE_RAM), "personality": "ghost",
                        "backing_rotational": "0", "backing_discard": "0"}, keep_machine=False)
    ghost_path = tmp / "oracle-ghost.swap"
    write_ghost_swapfile(ghost_path, oracle_slots, ps)
    with open_kernel(state) as k:
        if options.compressor is not None:
            try:
                write_file(k, ZSWAP + "compressor", options.compressor)
            except KernelError:
                from ghostswap_cli.kernel.compressors import available_compressors

                raise ToolError(f"compressor {options.compressor} not available (available: "
                                f"{', '.join(available_compressors())})", EXIT_USAGE) from None
        write_file(k, ZSWAP + "max_pool_percent", "100")
        si = sys_swapon(k, str(ghost_path), 0)
        mm = k.mm
        zswap = k.zswap
        compress = zswap.compress
        zero_page = mm.zero_page
        before_poor = k.counters["reject_compress_poor"]
        outs = [m.out for m in models]
        ins = [m.swap_in for m in models]
        frees = [m.free for m in models]
        samples = [m.sample for m in models]
        writer = None
        if options.timeline is not None:
            writer = csv.writer(options.timeline, lineterminator="\n")
            writer.writerow(timeline_columns(names))
        every = max(options.timeline_every, 1)
        n = zero_pages = compressed_pages = compressed_bytes = incompressible = 0
        t0 = time.perf_counter()
        for op, vpn, page in reader:
            if op == OP_OUT:
                if page == zero_page:
                    zero = True
                    clen = 0
                    mm.swap_out(vpn, page)
                    zero_pages += 1
                else:
                    zero = False
                    data = compress(page)
                    clen = len(data)
                    mm.swap_out(vpn, page, data)
                    if clen < ps:
                        compressed_pages += 1
                        compressed_bytes += clen
                    else:
                        incompressible += 1
                for f in outs:
                    f(vpn, zero, clen)
            elif op == OP_IN:
                mm.swap_in(vpn)
                for f in ins:
                    f(vpn)
            elif op == OP_FREE:
                mm.free(vpn)
                for f in frees:
                    f(vpn)
            for f in samples:
                f()
            n += 1
            if writer is not None and n % every == 0:
                writer.writerow([n, *(m.current_metadata() for m in models)])
        if writer is not None and n % every:
            writer.writerow([n, *(m.current_metadata() for m in models)])
        st = mm.stats
        swapped_in = st.swapped_in
        brought_back = k.try_to_unuse(si)
        report.elapsed = time.perf_counter() - t0
        report.compressor = zswap.current_compressor().name
        report.events = n
        report.swapped_out = st.swapped_out
        report.swapped_in = swapped_in
        report.freed = st.freed
        report.zero_pages = zero_pages
        report.compressed_pages = compressed_pages
        report.compressed_bytes = compressed_bytes
        report.incompressible_pages = incompressible
        report.corrupt_pages = st.corrupt_pages
        report.verified_pages = swapped_in + brought_back
        report.oracle = {
            "ghost_size_bytes": oracle_slots * ps,
            "pool_limit": "none (max_pool_percent 100 of 1 PiB)",
            "zswap_stored_pages": st.zswap_accepted_pages,
            "zswap_stored_bytes": st.zswap_accepted_bytes,
            "rejected_incompressible": k.counters["reject_compress_poor"] - before_poor,
            "no_swap_space": st.no_swap_space,
            "brought_back_at_end": brought_back,
            "corrupt_vpns": list(st.corrupt_vpns[:16]),
        }

