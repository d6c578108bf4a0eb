"""``trace record``: sample a live process at an interval and write an access trace.

Each interval the recorder reads the target's anonymous mappings, which of their pages are in
memory (``PAGEMAP_SCAN`` or pagemap), asks the source (:mod:`ghostswap_cli.replay.record_sources`)
which pages were written and which accessed, reads the written pages from /proc/PID/mem and hands
an :class:`Interval` to the sink. The trace sink writes, per interval and with the interval's
timestamp, a ``read`` for each page accessed but not written, a ``write`` with the page's bytes
for each page written, and a ``free`` for each page that left the mappings (munmap, MADV_DONTNEED).

Page contents are stored once per distinct page: a text trace refers to a pages file next to it
(``file:TRACE.pages:OFFSET``), each distinct page written there once; zero and same-filled pages
are written as ``zero``/``fill`` as everywhere. A binary trace has no references and stores every
write's page inline.

The first sample sees every page already present as written (nothing has been write-protected,
hashed or cleared yet): the trace starts with the process's memory as it was, which is what a
replay needs to compress it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from ghostswap_cli.codec.trace import (
    K_FILE,
    TF_CAPTURED,
    Content,
    TraceWriter,
    open_trace_writer,
    same_filled,
)
from ghostswap_cli.replay.record_sources import SourceChoice, choose_source
from ghostswap_cli.replay.record_target import Presence, Target

__all__ = ("Interval", "PageStore", "TraceSink", "RecordResult", "record")


@dataclasses.dataclass
class Interval:
    """What one sample saw: ``t_ns`` since recording started; ``accessed`` includes the written
    pages; ``written`` maps each written VPN to its bytes."""

    t_ns: int
    accessed: set[int]
    written: dict[int, bytes]
    freed: set[int]


class PageStore:
    """Distinct page contents in a file next to the trace, each stored once, written to a
    temporary name until :meth:`commit`."""

    def __init__(self, trace_path: os.PathLike[str] | str) -> None:
        self.path = Path(os.fspath(trace_path) + ".pages")
        self.name = self.path.name
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.name}.", suffix=".tmp")
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as the trace itself, not mkstemp's 0600
        self._f = os.fdopen(fd, "wb", buffering=1 << 20)
        self._offsets: dict[tuple[int, int], int] = {}
        self.size = 0

    def content(self, page: bytes) -> bytes | Content:
        """What to hand the trace writer for ``page``."""
        if same_filled(page) is not None:
            return page  # zero/fill: the writer stores the word, not the page
        # 96 bits of two fast hashes (SipHash, keyed per process, and CRC32): a collision among
        # even 10**8 distinct pages has odds below 10**-12; blake2b costs 2-3 times as much
        key = (hash(page), zlib.crc32(page))
        off = self._offsets.get(key)
        if off is None:
            off = self._offsets[key] = self.size
            self._f.write(page)
            self.size += len(page)
        return Content(K_FILE, data=page, path=self.name, offset=off)

    @property
    def distinct(self) -> int:
        return len(self._offsets)

    def commit(self) -> None:
        self._f.close()
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._f.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)


class TraceSink:
    """Writes intervals as access events (see the module comment)."""

    def __init__(self, writer: TraceWriter, pages: PageStore | None) -> None:
        self.w = writer
        self.pages = pages
        self.reads = self.writes = self.frees = 0
        self.distinct_pages: set[int] = set()

    def interval(self, iv: Interval) -> None:
        t = iv.t_ns
        for vpn in sorted(iv.accessed):
            page = iv.written.get(vpn)
            if page is None:
                self.w.read(vpn, t_ns=t)
                self.reads += 1
            else:
                self.w.write(vpn, self.pages.content(page) if self.pages else page, t_ns=t)
                self.writes += 1
        for vpn in sorted(iv.freed):
            self.w.free(vpn, t_ns=t)
            self.frees += 1
        self.distinct_pages |= iv.accessed


@dataclasses.dataclass
class RecordResult:
    """What a recording did and what it cost."""

    pid: int
    source: str
    source_description: str
    notes: list[str]
    reads_invisible: bool
    interval_s: float
    samples: int = 0
    reads: int = 0
    writes: int = 0
    frees: int = 0
    distinct_pages: int = 0
    distinct_contents: int = 0
    pages_file: str | None = None
    recorded_s: float = 0.0
    target_wall_s: float | None = None  # started command: exec to exit
    exit_status: int | None = None
    ended: str = ""  # "exit", "duration", "interrupted", "gone"
    sample_ms_mean: float = 0.0
    sample_ms_max: float = 0.0
    sampling_s: float = 0.0  # time the recorder spent sampling (while the target ran on)
    stopped_ms: float = 0.0  # time the target was held stopped (ptrace injections)
    late_samples: int = 0  # samples that took longer than the interval
    pages_read: int = 0

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class _Recorder:
    def __init__(self, target: Target, choice: SourceChoice, sink: TraceSink, maps_filter: str) -> None:
        self.target = target
        self.choice = choice
        self.sink = sink
        self.maps_filter = maps_filter
        self.prev = Presence(set(), set(), set())
        self.t0 = time.monotonic_ns()
        self.samples = 0
        self.sample_ns: list[int] = []
        self.pages_read = 0

    def ranges(self) -> list[tuple[int, int]]:
        return [(m.start, m.end) for m in self.target.mappings(self.maps_filter)]

    def begin(self) -> None:
        ranges = self.ranges()
        self.choice.writes.begin(self.target, ranges)
        self.choice.accesses.begin(self.target, ranges)

    def end(self) -> None:
        for part in (self.choice.accesses, self.choice.writes):
            with contextlib.suppress(Exception):  # cleanup of a target that may be gone
                part.end(self.target)

    def sample(self) -> None:
        start = time.monotonic_ns()
        target = self.target
        ranges = self.ranges()
        now = target.presence(ranges)
        written = self.choice.writes.sample(target, ranges, now)
        extra = self.choice.accesses.sample(target, ranges, now)
        resident = now.present | now.swapped
        need = sorted(v for v, p in written.items() if p is None and v in now.present)
        contents = target.read_pages(need)
        self.pages_read += len(need)
        pages = {v: p if p is not None else contents.get(v) for v, p in written.items()}
        pages = {v: p for v, p in pages.items() if p is not None}
        if not target.has_scan:
            # without PAGEMAP_SCAN's PFNZERO a read of a fresh page (which maps the zero page)
            # looks written: a page new this interval and all zero is taken as read
            old = self.prev.present | self.prev.swapped
            for v in [v for v, p in pages.items() if v not in old and same_filled(p) == 0]:
                del pages[v]
        accessed = set(pages) | (now.present - self.prev.present) | (extra & resident)
        freed = (self.prev.present | self.prev.swapped) - resident
        self.sink.interval(Interval(start - self.t0, accessed, pages, freed))
        self.prev = now
        self.samples += 1
        self.sample_ns.append(time.monotonic_ns() - start)

    def new_mm(self) -> None:
        """After exec: every page of the old image is gone, the detectors start over."""
        self.sink.interval(Interval(time.monotonic_ns() - self.t0, set(), {},
                                    self.prev.present | self.prev.swapped))
        self.prev = Presence(set(), set(), set())
        self.choice.writes.forget_mm()
        self.end()
        self.target.open_files()
        self.choice = choose_source(self.target, self.choice.name)
        self.begin()


def record(
    target: Target,
    output: os.PathLike[str] | str,
    *,
    fmt: str = "text",
    interval_s: float = 0.1,
    duration_s: float | None = None,
    source: str = "auto",
    maps_filter: str = "anon",
    comments: list[str] | None = None,
    on_source: Callable[[SourceChoice], None] | None = None,
) -> RecordResult:
    """Record ``target`` into ``output`` until it exits, ``duration_s`` passes or Ctrl-C.

    ``on_source`` is called with the chosen source before the target is let go. The trace (and
    its pages file) replace ``output`` only when recording succeeds. ``target`` is released
    (detached, never killed) in every case."""
    try:
        choice = choose_source(target, source)
    except BaseException:
        target.abandon()
        target.release()
        raise
    if on_source is not None:
        on_source(choice)
    head = [f"recorded by ghostswap trace record from process {target.pid}",
            f"source: {choice.description}",
            f"interval: {interval_s * 1000:g} ms"]
    head += [f"not used: {n}" for n in choice.notes]
    if choice.reads_invisible:
        head.append("reads of pages already in memory are not seen (no page idle tracking, no DAMON)")
    head += comments or []
    result = RecordResult(pid=target.pid, source=choice.name, source_description=choice.description,
                          notes=choice.notes, reads_invisible=choice.reads_invisible,
                          interval_s=interval_s)
    pages = PageStore(output) if fmt == "text" else None
    rec: _Recorder | None = None
    try:
        with open_trace_writer(output, fmt, target.page_size, flags=TF_CAPTURED, comments=head) as w:
            sink = TraceSink(w, pages)
            rec = _Recorder(target, choice, sink, maps_filter)
            rec.begin()
            target.resume_from_event()
            interval_ns = int(interval_s * 1e9)
            stop_at = None if duration_s is None else rec.t0 + int(duration_s * 1e9)
            next_t = rec.t0
            try:
                while True:
                    now = time.monotonic_ns()
                    if stop_at is not None and now >= stop_at:
                        rec.sample()
                        result.ended = "duration"
                        break
                    wake = next_t if stop_at is None else min(next_t, stop_at)
                    ev = target.wait((wake - now) / 1e9) if wake > now else None
                    if ev is None:
                        if time.monotonic_ns() >= next_t:
                            rec.sample()
                            if rec.sample_ns[-1] > interval_ns:
                                result.late_samples += 1
                            next_t += interval_ns * max(1, -(-(time.monotonic_ns() - next_t) // interval_ns))
                        continue
                    if ev.kind == "exit":
                        rec.sample()  # the last look: memory is still there
                        result.ended = "exit"
                        target.let_exit()
                        break
                    if ev.kind == "exec":
                        rec.new_mm()
                        target.resume_from_event()
                        continue
                    result.ended = "gone"
                    break
            except KeyboardInterrupt:
                result.ended = "interrupted"
            rec.end()
            result.reads, result.writes, result.frees = sink.reads, sink.writes, sink.frees
            result.distinct_pages = len(sink.distinct_pages)
        if pages is not None:
            pages.commit()
            result.distinct_contents = pages.distinct
            result.pages_file = str(pages.path)
    except BaseException:
        if pages is not None:
            pages.discard()
        if rec is not None:
            rec.end()
        target.abandon()  # only if it never ran
        raise
    finally:
        target.release()
    result.samples = rec.samples
    result.pages_read = rec.pages_read
    result.recorded_s = (time.monotonic_ns() - rec.t0) / 1e9
    if rec.sample_ns:
        result.sample_ms_mean = sum(rec.sample_ns) / len(rec.sample_ns) / 1e6
        result.sample_ms_max = max(rec.sample_ns) / 1e6
        result.sampling_s = sum(rec.sample_ns) / 1e9
    if target.tracee is not None:
        result.stopped_ms = target.tracee.stopped_ns / 1e6
    result.exit_status = target.exit_status
    if target.child and target.ended_ns is not None:
        result.target_wall_s = (target.ended_ns - target.started_ns) / 1e9
    return result
