"""Where ``trace record`` learns what a process wrote and accessed, best source first.

A source has two halves: a *write* detector (which pages changed this interval) and an *access*
detector (which pages were touched, read or written). Each says whether the running kernel has it
and, if not, which kernel option or privilege it lacks.

=============  ==================================================  ============================
``--source``   writes                                              accesses
=============  ==================================================  ============================
pagemap-scan   ``PAGEMAP_SCAN`` + userfaultfd async write-protect  best available below
page-idle      soft-dirty (``clear_refs`` 4, pagemap bit 55)       page idle bitmap
damon          soft-dirty if the kernel has it, else content hash  DAMON vaddr regions
soft-dirty     soft-dirty                                          first touches only
hash           content hash between samples                        first touches only
=============  ==================================================  ============================

Every source also counts a page that became present (first touch, or swap-in) as accessed, and one
written as accessed. Without page idle tracking or DAMON, reads of pages already present are
invisible: the kernel offers no other per-page accessed bit to another process (``PAGEMAP_SCAN``
has no accessed category upstream).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import mmap
import os
import platform
from collections.abc import Sequence
from pathlib import Path

from ghostswap_cli.errors import ToolError
from ghostswap_cli.replay.pagemap_scan import (
    PAGE_IS_PFNZERO,
    PAGE_IS_PRESENT,
    PAGE_IS_SWAPPED,
    PAGE_IS_WRITTEN,
    PM_SCAN_WP_MATCHING,
    pagemap_scan,
    pagemap_scan_supported,
)
from ghostswap_cli.replay.ptrace import INJECT_ARCH, PtraceError
from ghostswap_cli.replay.record_target import PM_PFN_MASK, Presence, Target
from ghostswap_cli.replay.uffd_inject import UffdWriteProtect

__all__ = (
    "SOURCES",
    "SourceChoice",
    "WriteDetector",
    "AccessDetector",
    "choose_source",
    "probe_sources",
)

SOURCES = ("pagemap-scan", "page-idle", "damon", "soft-dirty", "hash")
PAGE_IDLE = Path("/sys/kernel/mm/page_idle/bitmap")
DAMON_ADMIN = Path("/sys/kernel/mm/damon/admin")
PM_SOFT_DIRTY = 1 << 55
Ranges = Sequence[tuple[int, int]]


# --- write detectors -----------------------------------------------------------------------------


class WriteDetector:
    """``sample()`` returns the pages written since the last call: VPN → contents when the
    detector read them already, or None (the recorder reads them)."""

    name = ""

    def begin(self, target: Target, ranges: Ranges) -> None:
        pass

    def sample(self, target: Target, ranges: Ranges, now: Presence) -> dict[int, bytes | None]:
        raise NotImplementedError

    def end(self, target: Target) -> None:
        pass

    def forget_mm(self) -> None:
        """The process exec'ed: what was set up inside the old image is gone with it."""


class HashWrites(WriteDetector):
    """Every present page is read and hashed each interval; a new hash is a write. Costs a
    read of all resident memory per interval, and misses a write that restores the old bytes."""

    name = "hash"

    def __init__(self) -> None:
        self.hashes: dict[int, int] = {}

    def sample(self, target: Target, ranges: Ranges, now: Presence) -> dict[int, bytes | None]:
        vpns = sorted(now.present - now.zero)
        pages = target.read_pages(vpns)
        written: dict[int, bytes | None] = {}
        hashes: dict[int, int] = {}
        for vpn, page in pages.items():
            h = hash(page)
            hashes[vpn] = h
            if self.hashes.get(vpn) != h:
                written[vpn] = page
        # swapped-out pages keep their hash: they are not read (that would swap them in)
        for vpn in now.swapped:
            if vpn in self.hashes:
                hashes[vpn] = self.hashes[vpn]
        self.hashes = hashes
        return written


class PagemapScanWrites(WriteDetector):
    """The target's own userfaultfd write-protects its anonymous memory asynchronously; each
    sample is one ``PAGEMAP_SCAN`` with ``PM_SCAN_WP_MATCHING`` per mapping, which reports the
    pages written since the last one and protects them again. Mappings that cannot be registered
    fall back to hashing."""

    name = "pagemap-scan"

    def __init__(self) -> None:
        self.uffd: UffdWriteProtect | None = None
        self.fallback = HashWrites()

    @staticmethod
    def available(target: Target | None) -> tuple[bool, str]:
        if platform.machine() != INJECT_ARCH:
            return False, f"PAGEMAP_SCAN write tracking is implemented for {INJECT_ARCH} only"
        if target is None:  # no process yet: the ioctl on our own pagemap says if the kernel has it
            try:
                fd = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                return False, f"cannot open /proc/self/pagemap: {e.strerror}"
            try:
                return pagemap_scan_supported(fd)
            finally:
                os.close(fd)
        if not target.has_scan:
            return False, target.scan_reason or "no PAGEMAP_SCAN ioctl (Linux 6.7+)"
        if target.tracee is None:
            return False, ("PAGEMAP_SCAN write tracking needs ptrace to set up userfaultfd inside "
                           f"the target ({target.ptrace_error or 'not traced'})")
        return True, ""

    def begin(self, target: Target, ranges: Ranges) -> None:
        self.uffd = UffdWriteProtect(target.tracee)  # type: ignore[arg-type]
        with target.stopped():
            self.uffd.open()
        self._register(target, ranges)

    def _register(self, target: Target, ranges: Ranges) -> list[tuple[int, int]]:
        assert self.uffd is not None
        live = set(ranges)
        self.uffd.forget(live)
        todo = [r for r in ranges if r not in self.uffd.registered and r not in self.uffd.failed]
        if not todo or target.exiting:
            return []
        with target.stopped():
            done = self.uffd.register(todo)
        return done

    def _scan(self, target: Target, start: int, end: int) -> list[tuple[int, int, int]]:
        try:
            return list(pagemap_scan(
                target.pagemap, start, end, category_mask=PAGE_IS_WRITTEN,
                return_mask=PAGE_IS_WRITTEN | PAGE_IS_PFNZERO | PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                flags=PM_SCAN_WP_MATCHING))
        except OSError:
            return []  # the mapping went away

    def sample(self, target: Target, ranges: Ranges, now: Presence) -> dict[int, bytes | None]:
        assert self.uffd is not None
        self._register(target, ranges)
        ps = target.page_size
        written: dict[int, bytes | None] = {}
        for start, end in sorted(self.uffd.registered):
            for s, e, cat in self._scan(target, start, end):
                if cat & PAGE_IS_PFNZERO:
                    continue  # the zero page: read, never written
                written.update(dict.fromkeys(range(s // ps, e // ps)))
        others = [r for r in ranges if r not in self.uffd.registered]
        if others:
            ps_ranges = [(s // ps, e // ps) for s, e in others]
            sub = Presence({v for v in now.present if any(a <= v < b for a, b in ps_ranges)},
                           {v for v in now.swapped if any(a <= v < b for a, b in ps_ranges)}, now.zero)
            written.update(self.fallback.sample(target, others, sub))
        return written

    def forget_mm(self) -> None:
        if self.uffd is not None:
            self.uffd.fd = None  # O_CLOEXEC: closed by the exec

    def end(self, target: Target) -> None:
        if self.uffd is not None and self.uffd.fd is not None and not target.gone and not target.exiting:
            with contextlib.suppress(PtraceError), target.stopped():
                self.uffd.close()


class SoftDirtyWrites(WriteDetector):
    """Soft-dirty bits: ``echo 4 > /proc/PID/clear_refs`` clears them, the next write sets
    pagemap bit 55 again (Documentation/admin-guide/mm/soft-dirty.rst)."""

    name = "soft-dirty"

    @staticmethod
    def available(target: Target | None = None) -> tuple[bool, str]:
        """Probed on a page of our own: cleared, written, looked at."""
        buf = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        try:
            buf[0] = 1
            try:
                Path("/proc/self/clear_refs").write_text("4")
            except OSError as e:
                return False, f"cannot clear soft-dirty bits: {e.strerror}"
            buf[0] = 2
            import ctypes

            addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
            with open("/proc/self/pagemap", "rb") as f:
                f.seek(addr // mmap.PAGESIZE * 8)
                word = int.from_bytes(f.read(8), "little")
            del addr
            if not word & PM_SOFT_DIRTY:
                return False, "the kernel has no soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY)"
            return True, ""
        finally:
            with contextlib.suppress(BufferError):
                buf.close()

    def _clear(self, target: Target) -> None:
        try:
            Path(f"/proc/{target.pid}/clear_refs").write_text("4")
        except OSError as e:
            raise ToolError(f"cannot clear soft-dirty bits of process {target.pid}: {e.strerror}") from None

    def begin(self, target: Target, ranges: Ranges) -> None:
        self._clear(target)

    def sample(self, target: Target, ranges: Ranges, now: Presence) -> dict[int, bytes | None]:
        ps = target.page_size
        written: dict[int, bytes | None] = {}
        for start, end in ranges:
            for vpn, word in target.pagemap_words(start // ps, end // ps):
                if word & PM_SOFT_DIRTY and vpn in now.present and vpn not in now.zero:
                    written[vpn] = None
        self._clear(target)
        return written


# --- access detectors ----------------------------------------------------------------------------


class AccessDetector:
    """``sample()`` returns pages accessed since the last call (beyond writes and first touches,
    which the recorder always counts)."""

    name = ""

    def begin(self, target: Target, ranges: Ranges) -> None:
        pass

    def sample(self, target: Target, ranges: Ranges, now: Presence) -> set[int]:
        return set()

    def end(self, target: Target) -> None:
        pass


class FirstTouch(AccessDetector):
    name = "first-touch"


class PageIdleAccess(AccessDetector):
    """Page idle tracking: set a page's bit in /sys/kernel/mm/page_idle/bitmap (by PFN, from
    pagemap, which shows PFNs to root only); an access clears it (Documentation/admin-guide/mm/
    idle_page_tracking.rst)."""

    name = "page-idle"

    @staticmethod
    def available(target: Target | None = None) -> tuple[bool, str]:
        if not PAGE_IDLE.exists():
            return False, "the kernel has no page idle tracking (CONFIG_IDLE_PAGE_TRACKING)"
        if not os.access(PAGE_IDLE, os.R_OK | os.W_OK):
            return False, f"{PAGE_IDLE} needs root"
        return True, ""

    def __init__(self) -> None:
        self.fd = -1

    def _pfns(self, target: Target, ranges: Ranges, now: Presence) -> dict[int, int]:
        ps = target.page_size
        pfns: dict[int, int] = {}
        for start, end in ranges:
            for vpn, word in target.pagemap_words(start // ps, end // ps):
                pfn = word & PM_PFN_MASK
                if vpn in now.present and pfn:
                    pfns[vpn] = pfn
        if now.present and not pfns:
            raise ToolError("pagemap shows no page frame numbers: page idle tracking needs root "
                            "(CAP_SYS_ADMIN)")
        return pfns

    def _mark_idle(self, pfns: dict[int, int]) -> None:
        words: dict[int, int] = {}
        for pfn in pfns.values():
            words[pfn // 64] = words.get(pfn // 64, 0) | 1 << (pfn % 64)
        for w, bits in words.items():
            with contextlib.suppress(OSError):
                os.pwrite(self.fd, bits.to_bytes(8, "little"), w * 8)

    def begin(self, target: Target, ranges: Ranges) -> None:
        self.fd = os.open(PAGE_IDLE, os.O_RDWR | os.O_CLOEXEC)
        self._mark_idle(self._pfns(target, ranges, target.presence(ranges)))

    def sample(self, target: Target, ranges: Ranges, now: Presence) -> set[int]:
        pfns = self._pfns(target, ranges, now)
        accessed: set[int] = set()
        cache: dict[int, int] = {}
        for vpn, pfn in pfns.items():
            w = pfn // 64
            if w not in cache:
                try:
                    cache[w] = int.from_bytes(os.pread(self.fd, 8, w * 8), "little")
                except OSError:
                    cache[w] = 0
            if not cache[w] >> (pfn % 64) & 1:
                accessed.add(vpn)
        self._mark_idle(pfns)
        return accessed

    def end(self, target: Target) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class DamonAccess(AccessDetector):
    """A kdamond of our own on the target (``vaddr`` operations), set up through DAMON's sysfs
    and removed at the end. Each sample asks for the regions (a ``stat`` scheme's tried regions)
    and counts the present pages of every region with a non-zero access count as accessed: DAMON
    samples one page per region, so pages of a hot region that were not touched count too. The
    regions are as fine as ``min_nr_regions`` lets them be (one per page here, up to 10000)."""

    name = "damon"
    LOCK = Path("/run/lock/ghostswap-damon.lock")

    @staticmethod
    def available(target: Target | None = None) -> tuple[bool, str]:
        kd = DAMON_ADMIN / "kdamonds"
        if not kd.is_dir():
            return False, "the kernel has no DAMON sysfs (CONFIG_DAMON_SYSFS)"
        if not os.access(kd / "nr_kdamonds", os.W_OK):
            return False, "DAMON's sysfs needs root"
        n = int((kd / "nr_kdamonds").read_text())
        ops = ""
        for i in range(n):
            with contextlib.suppress(OSError):
                ops = (kd / str(i) / "contexts" / "0" / "avail_operations").read_text()
                break
        if ops and "vaddr" not in ops.split():
            return False, ("DAMON has no virtual-address monitoring (CONFIG_DAMON_VADDR); "
                           f"only {ops.strip()}")
        running = [i for i in range(n) if (kd / str(i) / "state").read_text().strip() == "on"]
        if running:
            return False, (f"kdamond {running[0]} is running (someone else's): DAMON's sysfs "
                           "cannot add a kdamond while any runs")
        return True, ""

    def __init__(self) -> None:
        self.index: int | None = None
        self.old_nr = 0
        self.lock_fd = -1

    def _w(self, rel: str, value: object) -> None:
        (DAMON_ADMIN / "kdamonds" / str(self.index) / rel).write_text(str(value))

    def _r(self, rel: str) -> str:
        return (DAMON_ADMIN / "kdamonds" / str(self.index) / rel).read_text().strip()

    def begin(self, target: Target, ranges: Ranges) -> None:
        self.lock_fd = os.open(self.LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        nr = DAMON_ADMIN / "kdamonds" / "nr_kdamonds"
        self.old_nr = int(nr.read_text())
        nr.write_text(str(self.old_nr + 1))
        self.index = self.old_nr
        pages = sum((e - s) // target.page_size for s, e in ranges)
        self._w("contexts/nr_contexts", 1)
        self._w("contexts/0/operations", "vaddr")
        attrs = "contexts/0/monitoring_attrs"
        self._w(f"{attrs}/intervals/sample_us", 5000)
        self._w(f"{attrs}/intervals/aggr_us", 100000)
        self._w(f"{attrs}/nr_regions/max", max(min(pages, 10000), 20))
        self._w(f"{attrs}/nr_regions/min", max(min(pages, 10000), 10))
        self._w("contexts/0/targets/nr_targets", 1)
        self._w("contexts/0/targets/0/pid_target", target.pid)
        self._w("contexts/0/schemes/nr_schemes", 1)
        self._w("contexts/0/schemes/0/action", "stat")
        self._w("state", "on")

    def sample(self, target: Target, ranges: Ranges, now: Presence) -> set[int]:
        ps = target.page_size
        try:
            self._w("state", "update_schemes_tried_regions")
        except OSError:
            return set()
        base = DAMON_ADMIN / "kdamonds" / str(self.index) / "contexts/0/schemes/0/tried_regions"
        accessed: set[int] = set()
        for region in base.iterdir():
            if not region.name.isdigit():
                continue
            try:
                if int((region / "nr_accesses").read_text()) == 0:
                    continue
                s, e = int((region / "start").read_text()), int((region / "end").read_text())
            except (OSError, ValueError):
                continue
            accessed.update(v for v in range(s // ps, e // ps) if v in now.present)
        return accessed

    def end(self, target: Target) -> None:
        if self.index is None:
            return
        with contextlib.suppress(OSError):
            self._w("state", "off")
        with contextlib.suppress(OSError):
            (DAMON_ADMIN / "kdamonds" / "nr_kdamonds").write_text(str(self.old_nr))
        self.index = None
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1


# --- choosing ------------------------------------------------------------------------------------


@dataclasses.dataclass
class SourceChoice:
    name: str  # one of SOURCES
    writes: WriteDetector
    accesses: AccessDetector
    notes: list[str]  # why better sources were not used
    reads_invisible: bool

    @property
    def description(self) -> str:
        return f"{self.name} (writes: {self.writes.name}, accesses: {self.accesses.name})"


def probe_sources(target: Target | None) -> dict[str, tuple[bool, str]]:
    """For each of SOURCES: whether it can be used here, and why not."""
    out: dict[str, tuple[bool, str]] = {"pagemap-scan": PagemapScanWrites.available(target)}
    idle, sd = PageIdleAccess.available(), SoftDirtyWrites.available()
    out["page-idle"] = (idle[0] and sd[0], "; ".join(r for ok, r in (idle, sd) if not ok))
    out["damon"] = DamonAccess.available()
    out["soft-dirty"] = sd
    out["hash"] = (True, "")
    return out


def _best_access(probes: dict[str, tuple[bool, str]]) -> AccessDetector:
    if PageIdleAccess.available()[0]:
        return PageIdleAccess()
    if probes["damon"][0]:
        return DamonAccess()
    return FirstTouch()


def _detectors(name: str, probes: dict[str, tuple[bool, str]]) -> tuple[WriteDetector, AccessDetector]:
    """Each source's own half, and the best available other half."""
    if name == "pagemap-scan":
        return PagemapScanWrites(), _best_access(probes)
    if name == "page-idle":
        return SoftDirtyWrites(), PageIdleAccess()
    if name == "damon":
        return (SoftDirtyWrites() if probes["soft-dirty"][0] else HashWrites()), DamonAccess()
    if name == "soft-dirty":
        return SoftDirtyWrites(), FirstTouch()
    return HashWrites(), FirstTouch()


def choose_source(target: Target | None, wanted: str = "auto") -> SourceChoice:
    """The best source (``auto``, in the order of SOURCES) or the one asked for; ToolError
    saying why it cannot be used."""
    probes = probe_sources(target)
    if wanted != "auto":
        ok, why = probes[wanted]
        if not ok:
            raise ToolError(f"source {wanted} is not available: {why}")
    notes: list[str] = []
    for name in ([wanted] if wanted != "auto" else SOURCES):
        ok, why = probes[name]
        if not ok:
            notes.append(f"{name}: {why}")
            continue
        writes, access = _detectors(name, probes)
        return SourceChoice(name, writes, access, notes, isinstance(access, FirstTouch))
    raise ToolError("no recording source is available")  # hash always is; kept for clarity
