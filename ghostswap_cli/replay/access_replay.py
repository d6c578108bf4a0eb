"""Replay an access trace: a process touches pages, the simulated kernel decides what is swapped.

The process runs in the cgroup ``/sys/fs/cgroup/workload`` (memory.max, memory.high,
memory.swap.max, memory.zswap.max) on a machine of ``ram`` bytes. Each page of the process is in
one of these states (``PS_*``):

* not mapped; mapped to the shared zero page (read before any write: nothing is charged);
* resident (on the LRU, charged);
* resident *and* in the swap cache (read back from swap; its slot, and with 6.1's zswap its
  compressed copy, stay until the page is written, so reclaiming it again writes nothing);
* in the swap cache but unmapped (written to the swap file; freed by the next scan that finds
  it, or mapped again by a fault, a minor one);
* swapped out (in the machine's page table as a swap entry: zeromap, zswap, disk; a shadow entry
  remembers when it was evicted).

A resident hit only sets the page's young bit (one bytearray store). A fault charges the cgroup
(reclaiming above memory.max through :mod:`ghostswap_cli.kernel.vmscan`, OOM after the retries);
a swap-in goes through ``workingset_refault`` and the machine's swap-in path, whose CRC check
proves every page comes back with the bytes it went out with. Reclaim sends pages through the
machine's own swap-out path (slot allocation by priority, zswap_store, the swap file, the ghost
write failure), so every area and zswap counter moves as in a trace of swap events.

At the end the process exits: its pages are unmapped and its slots freed, the counters stay.
"""

from __future__ import annotations

import dataclasses
import math
import time
from array import array
from collections import Counter
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from ghostswap_cli.codec.trace import (
    OP_FREE,
    OP_IN,
    OP_OUT,
    OP_READ,
    OP_WRITE,
    Content,
    TraceReader,
    content_page,
)
from ghostswap_cli.errors import TraceError
from ghostswap_cli.kernel.cluster import LOC_CACHE, LOC_DISK, LOC_ZERO, LOC_ZSWAP
from ghostswap_cli.kernel.memcontrol import UNLIMITED, MemCgroup, parse_limit
from ghostswap_cli.kernel.params import CGROUP, LRU_GEN, VM
from ghostswap_cli.kernel.vmscan import (
    PAGEOUT_ACTIVATE,
    PAGEOUT_CLEAN,
    PAGEOUT_FREED,
    PAGEOUT_WRITEBACK,
    Lruvec,
)
from ghostswap_cli.kernel.workingset import NO_SHADOW

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel

__all__ = (
    "AccessOptions",
    "AccessReport",
    "AccessProcess",
    "replay_access_trace",
    "is_access_trace",
    "MEMORY_COUNTERS",
    "TIMELINE_COLUMNS",
)

PS_NONE, PS_ZEROMAP, PS_RESIDENT, PS_SWAPCACHE, PS_SC_UNMAPPED, PS_OUT = range(6)
# /proc/vmstat and memory.stat counters an access replay moves
MEMORY_COUNTERS = (
    "pswpin", "pswpout", "zswpin", "zswpout", "zswpwb", "swpin_zero", "swpout_zero",
    "pgfault", "pgmajfault", "pgscan_direct", "pgsteal_direct", "pgscan_anon", "pgsteal_anon",
    "pgrefill", "pgactivate", "pgdeactivate", "workingset_refault_anon",
    "workingset_activate_anon", "workingset_restore_anon", "oom_kill", "written_back_pages",
    "reject_compress_poor", "reject_alloc_fail", "pool_limit_hit",
)
TIMELINE_COLUMNS = ("accesses", "t_s", "resident_pages", "memory_current", "zswap_bytes",
                    "pool_total_size", "stored_pages", "swap_pages", "pswpout", "pswpin",
                    "zswpout", "zswpin", "workingset_refault_anon")


def is_access_trace(reader: TraceReader) -> bool:
    """Version-2 traces are replayed as access traces (they may hold read/write events)."""
    return reader.version >= 2


@dataclasses.dataclass
class AccessOptions:
    """Overrides for this replay; None takes the machine's parameter."""

    memory_max: str | None = None
    memory_high: str | None = None
    memory_swap_max: str | None = None
    memory_zswap_max: str | None = None
    swappiness: int | None = None
    page_cluster: int | None = None
    policy: str | None = None  # "lru" or "mglru"
    compressor: str | None = None
    level: int | None = None
    timeline: IO[str] | None = None
    timeline_every: int = 10_000
    progress: Callable[[int, int], None] | None = None
    samples: int = 200  # points kept for the curve of memory use in the report


@dataclasses.dataclass
class AccessReport:
    trace: str
    page_size: int
    compressor: str
    policy: str
    kernel: str
    memory_max: int | None  # bytes, None = max
    memory_high: int | None
    accesses: int = 0
    reads: int = 0
    writes: int = 0
    frees: int = 0
    distinct_pages: int = 0
    duration_s: float = 0.0
    elapsed: float = 0.0
    swap_outs: int = 0
    swap_ins: int = 0
    refaults: int = 0
    oom_killed: bool = False
    oom_at_access: int | None = None
    peak_memory: int = 0
    peak_resident_pages: int = 0
    peak_zswap_bytes: int = 0
    peak_pool_size: int = 0
    peak_stored_pages: int = 0
    peak_swap_pages: int = 0
    peak_disk_pages: int = 0
    zero_pages_out: int = 0
    stayed_resident: int = 0
    no_swap_space: int = 0
    written_back_pages: int = 0
    corrupt_pages: int = 0
    end: dict[str, int] = dataclasses.field(default_factory=dict)  # at the end, before exit
    counters: dict[str, int] = dataclasses.field(default_factory=dict)  # deltas
    memory_events: dict[str, int] = dataclasses.field(default_factory=dict)
    timeline: list[dict[str, float]] = dataclasses.field(default_factory=list)

    @property
    def per_second(self) -> float:
        return 1 / self.duration_s if self.duration_s else 0.0

    def rate(self, count: int) -> dict[str, float | None]:
        return {
            "per_s": round(count / self.duration_s, 3) if self.duration_s else None,
            "per_1k_accesses": round(1000 * count / self.accesses, 3) if self.accesses else None,
        }

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["swap_out_rate"] = self.rate(self.swap_outs)
        d["refault_rate"] = self.rate(self.refaults)
        d["accesses_per_second"] = round(self.accesses / self.elapsed) if self.elapsed else None
        d["elapsed"] = round(self.elapsed, 6)
        d["peak_pool_share_of_limit"] = (round(self.peak_zswap_bytes / self.memory_max, 4)
                                         if self.memory_max else None)
        return d


class AccessProcess:
    """One replayed process: its pages, its cgroup and LRU, the reclaim callbacks."""

    def __init__(self, k: Kernel, cgroup: MemCgroup, swappiness: int, exclusive_loads: bool,
                 policy: str) -> None:
        self.k = k
        self.mm = k.mm
        self.zswap = k.zswap
        self.page_size = k.page_size
        self.cg = cgroup
        self.exclusive_loads = exclusive_loads
        self.policy = policy
        if policy == "mglru":
            from ghostswap_cli.kernel.lru_gen import LruGen

            self.lruvec = LruGen(swappiness=swappiness)
        else:
            self.lruvec = Lruvec(swappiness=swappiness)
        self.index: dict[int, int] = {}
        self.vpns = array("q")
        self.state = bytearray()
        self.content = array("i")
        self.shadow = array("q")
        self.zlen = array("H")  # compressed bytes charged for the page's zswap entry
        self.contents: list[Content] = []
        self.content_ids: dict[Content, int] = {}
        self.ptes: set[int] = set()  # PTE pages (vpn >> 9) the process has touched
        self.ev: Counter[str] = Counter()
        self.oom = False
        self.zero_out = 0
        self.disk_pages = 0
        self.stored = 0

    # --- pages --------------------------------------------------------------------------
    def page_index(self, vpn: int) -> int:
        i = len(self.vpns)
        self.index[vpn] = i
        self.vpns.append(vpn)
        self.state.append(PS_NONE)
        self.content.append(-1)
        self.shadow.append(NO_SHADOW)
        self.zlen.append(0)
        if i >= self.lruvec.capacity:
            self.lruvec.grow(max(2 * self.lruvec.capacity, i + 1))
        key = vpn >> 9
        if key not in self.ptes:
            self.ptes.add(key)
            self.cg.pagetable_pages += 1
        return i

    def content_id(self, c: Content) -> int:
        cid = self.content_ids.get(c)
        if cid is None:
            cid = self.content_ids[c] = len(self.contents)
            self.contents.append(c)
        return cid

    def _reclaim(self, nr: int) -> None:
        self.lruvec.try_to_free_pages(nr, self)

    # --- faults -------------------------------------------------------------------------
    def fault(self, i: int, write: bool, cid: int) -> bool:
        """Anything but a resident hit. False: the process was OOM-killed."""
        st = self.state[i]
        ev = self.ev
        cg = self.cg
        ev["pgfault"] += 1
        if st == PS_SWAPCACHE:  # write to a page read back from swap: do_wp_page frees the slot
            self._free_swap(i)
            self.state[i] = PS_RESIDENT
            self.content[i] = cid
            self.lruvec.young[i] = 1
            return True
        if st in (PS_NONE, PS_ZEROMAP):
            if not write:
                self.state[i] = PS_ZEROMAP
                return True
            if not cg.try_charge(self._reclaim):
                return self._oom()
            cg.resident += 1
            self.state[i] = PS_RESIDENT
            self.content[i] = cid
            self.shadow[i] = NO_SHADOW
            self.lruvec.add_new(i)
            cg.handle_over_high(self._reclaim)
            cg.note_peak()
            return True
        if st == PS_SC_UNMAPPED:  # minor fault: still in the swap cache
            self.state[i] = PS_SWAPCACHE
            self.lruvec.young[i] = 1
            if write:
                ev["pgfault"] -= 1  # one fault, handled in two steps here
                return self.fault(i, True, cid)
            return True
        # PS_OUT: do_swap_page
        ev["pgmajfault"] += 1
        if not cg.try_charge(self._reclaim):
            return self._oom()
        vpn = self.vpns[i]
        active = False
        shadow = self.shadow[i]
        if shadow != NO_SHADOW:
            active = self.lruvec.refault(i, shadow, self.swap_available())
            self.shadow[i] = NO_SHADOW
        loc = self.mm.swap_location(vpn)
        keep = not write and not self.swap_full() and (loc == LOC_DISK or not self.exclusive_loads)
        if loc == LOC_ZERO:
            keep = False
        if keep:
            self.mm.swap_read_keep(vpn)
            self.state[i] = PS_SWAPCACHE
        else:
            self.mm.swap_in(vpn)
            self._slot_gone(i, loc)
            self.state[i] = PS_RESIDENT
        if write:
            self.content[i] = cid
        cg.resident += 1
        self.lruvec.add_refaulted(i, active)
        self.ev["swap_ins"] += 1
        cg.handle_over_high(self._reclaim)
        cg.note_peak()
        return True

    def _oom(self) -> bool:
        self.oom = True
        self.ev["oom_kill"] += 1
        return False

    def _slot_gone(self, i: int, loc: int) -> None:
        """The page's slot (and any zswap entry) was freed."""
        cg = self.cg
        cg.swap_pages -= 1
        if loc == LOC_ZSWAP:
            cg.zswap_bytes -= self.zlen[i]
            cg.zswapped_pages -= 1
            self.zlen[i] = 0
            self.stored -= 1
        elif loc == LOC_ZERO:
            self.zero_out -= 1
        elif loc == LOC_DISK:
            self.disk_pages -= 1

    def _free_swap(self, i: int) -> None:
        vpn = self.vpns[i]
        loc = self.mm.swap_location(vpn)
        if loc < 0:
            return
        self.mm.cancel_swap_out(vpn)
        self.mm.stats.swapped_out += 1  # it did go out; only its slot is dropped now
        self._slot_gone(i, loc)

    def free(self, i: int) -> None:
        """munmap/MADV_DONTNEED of the page."""
        st = self.state[i]
        if st in (PS_RESIDENT, PS_SWAPCACHE, PS_SC_UNMAPPED):
            self.lruvec.remove(i)
            self.cg.resident -= 1
        if st in (PS_SWAPCACHE, PS_SC_UNMAPPED, PS_OUT):
            vpn = self.vpns[i]
            loc = self.mm.swap_location(vpn)
            self.mm.free(vpn)
            self._slot_gone(i, loc)
        self.state[i] = PS_NONE
        self.shadow[i] = NO_SHADOW

    # --- PageOwner (called by reclaim) ----------------------------------------------------
    def swap_available(self) -> bool:
        return self.k.nr_swap_pages > 0 and self.cg.swap_pages < self.cg.swap_max_pages

    def swap_full(self) -> bool:
        """``vm_swap_full() || mem_cgroup_swap_full()``: free the slot on swap-in."""
        k = self.k
        return k.nr_swap_pages * 2 < k.total_swap_pages or self.cg.swap_full()

    def pageout(self, i: int) -> int:
        st = self.state[i]
        if st in (PS_SWAPCACHE, PS_SC_UNMAPPED):
            return PAGEOUT_CLEAN
        cg = self.cg
        if cg.swap_pages >= cg.swap_max_pages:
            return PAGEOUT_ACTIVATE  # mem_cgroup_try_charge_swap failed in add_to_swap
        vpn = self.vpns[i]
        page = content_page(self.contents[self.content[i]], self.page_size)
        z = self.zswap
        refuse = cg.zswap_bytes >= cg.zswap_max_bytes  # obj_cgroup_may_zswap
        if refuse:
            saved, z.enabled = z.enabled, False
        try:
            self.mm.swap_out(vpn, page)
        finally:
            if refuse:
                z.enabled = saved
        loc = self.mm.swap_location(vpn)
        if loc < 0 or loc == LOC_CACHE:  # no slot, or the ghost write failed
            self.mm.cancel_swap_out(vpn)
            return PAGEOUT_ACTIVATE
        cg.swap_pages += 1
        self.ev["swap_outs"] += 1
        if loc == LOC_ZSWAP:
            return self._stored(i, self.mm.zswap_entry_of(vpn))
        if loc == LOC_ZERO:
            self.zero_out += 1
            return PAGEOUT_FREED
        self.disk_pages += 1
        self.state[i] = PS_SC_UNMAPPED
        return PAGEOUT_WRITEBACK

    def _stored(self, i: int, eid: int) -> int:
        dlen = self.zswap.e_len[eid]
        self.zlen[i] = dlen
        self.cg.zswap_bytes += dlen
        self.cg.zswapped_pages += 1
        self.stored += 1
        return PAGEOUT_FREED

    def free_folio(self, i: int, shadow: int) -> None:
        self.state[i] = PS_OUT
        self.shadow[i] = shadow
        self.cg.resident -= 1
        lv = self.lruvec
        lv.young[i] = lv.referenced[i] = lv.workingset[i] = 0

    # --- the end ------------------------------------------------------------------------
    def exit(self) -> None:
        """The process exits: unmap everything, free every slot."""
        for i in range(len(self.vpns)):
            if self.state[i] != PS_NONE:
                self.free(i)


def _limit_bytes(value: str) -> int | None:
    return None if value == "max" else int(value)


def replay_access_trace(k: Kernel, reader: TraceReader, options: AccessOptions) -> AccessReport:
    """Replay ``reader`` (an access trace) in the workload cgroup; see the module docstring."""
    from ghostswap_cli.kernel.params import PARAMS
    from ghostswap_cli.kernel.procfs import write_file

    if reader.page_size != k.page_size:
        raise TraceError(str(reader.path), "line 1" if reader.format == "text" else "header",
                         f"trace page size {reader.page_size} does not match the kernel's PAGE_SIZE "
                         f"{k.page_size}")
    ps = k.page_size

    def param(name: str, override: object) -> str:
        return PARAMS[name].parse(str(override)) if override is not None else k.params[name]

    mem_max = param(CGROUP + "memory.max", options.memory_max)
    mem_high = param(CGROUP + "memory.high", options.memory_high)
    swap_max = param(CGROUP + "memory.swap.max", options.memory_swap_max)
    zswap_max = param(CGROUP + "memory.zswap.max", options.memory_zswap_max)
    swappiness = int(param(VM + "swappiness", options.swappiness))
    policy = options.policy or ("mglru" if int(k.params[LRU_GEN], 16) & 1 else "lru")
    ram_pages = k.totalram_pages
    cg = MemCgroup(
        ps,
        max_pages=min(parse_limit(mem_max, ps), ram_pages),
        high_pages=parse_limit(mem_high, ps),
        swap_max_pages=parse_limit(swap_max, ps),
        zswap_max_bytes=UNLIMITED if zswap_max == "max" else int(zswap_max),
    )
    saved = {n: k.params[n] for n in ("/sys/module/zswap/parameters/compressor",
                                      "/sys/kernel/ghostswap/compressor_level")}
    if options.compressor is not None:
        write_file(k, "/sys/module/zswap/parameters/compressor", options.compressor)
    if options.level is not None:
        write_file(k, "/sys/kernel/ghostswap/compressor_level", str(options.level))
    config = k.machine["config"]
    proc = AccessProcess(k, cg, swappiness, exclusive_loads=config != "distro-6.1", policy=policy)
    z = k.zswap
    comp = z.current_compressor()
    report = AccessReport(
        trace=str(reader.path), page_size=ps,
        compressor=comp.name + (f":{options.level}" if options.level else ""),
        policy=policy, kernel=config, memory_max=_limit_bytes(mem_max), memory_high=_limit_bytes(mem_high),
    )
    before = {name: k.counters[name] for name in MEMORY_COUNTERS}
    st_before = dataclasses.replace(k.mm.stats, corrupt_vpns=[])
    try:
        _run(proc, reader, options, report)
        _finish(proc, report, before, st_before)
    finally:
        for name, value in saved.items():
            k.set_param(name, value)
    return report


def _snapshot(proc: AccessProcess, report: AccessReport, n: int, t: float) -> dict[str, float]:
    k = proc.k
    cg = proc.cg
    row = {
        "accesses": n, "t_s": round(t, 6), "resident_pages": cg.resident,
        "memory_current": cg.usage() * proc.page_size, "zswap_bytes": cg.zswap_bytes,
        "pool_total_size": k.pool_pages * proc.page_size, "stored_pages": proc.stored,
        "swap_pages": cg.swap_pages,
        "pswpout": k.counters["pswpout"], "pswpin": k.counters["pswpin"],
        "zswpout": k.counters["zswpout"], "zswpin": k.counters["zswpin"],
        "workingset_refault_anon": proc.lruvec.events["workingset_refault_anon"],
    }
    return row


def _peaks(proc: AccessProcess, report: AccessReport) -> None:
    cg = proc.cg
    ps = proc.page_size
    report.peak_resident_pages = max(report.peak_resident_pages, cg.resident)
    report.peak_zswap_bytes = max(report.peak_zswap_bytes, cg.zswap_bytes)
    report.peak_pool_size = max(report.peak_pool_size, proc.k.pool_pages * ps)
    report.peak_stored_pages = max(report.peak_stored_pages, proc.stored)
    report.peak_swap_pages = max(report.peak_swap_pages, cg.swap_pages)
    report.peak_disk_pages = max(report.peak_disk_pages, proc.disk_pages)


def _run(proc: AccessProcess, reader: TraceReader, options: AccessOptions, report: AccessReport) -> None:
    import csv

    index = proc.index
    state = proc.state
    young = proc.lruvec.young
    content = proc.content
    content_id = proc.content_id
    page_index = proc.page_index
    fault = proc.fault
    RES = PS_RESIDENT
    writer = None
    if options.timeline is not None:
        writer = csv.writer(options.timeline, lineterminator="\n")
        writer.writerow(TIMELINE_COLUMNS)
    every = max(options.timeline_every, 1)
    progress = options.progress
    reads = writes = frees = n = 0
    first_t = last_t = None
    t0 = time.perf_counter()
    next_mark = every
    last_cid: tuple[Content | None, int] = (None, -1)
    for op, vpn, c, t in reader.timed(materialize=False):
        if op == OP_READ:
            i = index.get(vpn)
            if i is None:
                i = page_index(vpn)
            reads += 1
            if state[i] == RES or state[i] == PS_SWAPCACHE:
                young[i] = 1
            elif not fault(i, False, -1):
                break
        elif op == OP_WRITE:
            i = index.get(vpn)
            if i is None:
                i = page_index(vpn)
            writes += 1
            if c is last_cid[0]:
                cid = last_cid[1]
            else:
                cid = content_id(c)  # type: ignore[arg-type]
                last_cid = (c, cid)
            if state[i] == RES:
                young[i] = 1
                content[i] = cid
            elif not fault(i, True, cid):
                break
        elif op == OP_FREE:
            frees += 1
            i = index.get(vpn)
            if i is not None:
                proc.free(i)
            continue
        elif op in (OP_OUT, OP_IN):
            raise TraceError(str(reader.path), f"{'line' if reader.format == 'text' else 'record'} "
                             f"{reader.position}", f"{'out' if op == OP_OUT else 'in'} event in an access "
                             "replay: swap events and access events do not mix")
        n += 1
        if t is not None:
            if first_t is None:
                first_t = t
            last_t = t
        if n >= next_mark:
            next_mark += every
            _peaks(proc, report)
            ts = (last_t - first_t) / 1e9 if first_t is not None and last_t is not None else 0.0
            row = _snapshot(proc, report, n, ts)
            report.timeline.append(row)
            if writer is not None:
                writer.writerow([row[col] for col in TIMELINE_COLUMNS])
            if progress is not None:
                progress(n, reader.bytes_read)
    report.elapsed = time.perf_counter() - t0
    _peaks(proc, report)
    if proc.oom:
        report.oom_killed = True
        report.oom_at_access = n + 1
    report.accesses, report.reads, report.writes, report.frees = n, reads, writes, frees
    report.distinct_pages = len(proc.vpns)
    if first_t is not None and last_t is not None:
        report.duration_s = (last_t - first_t) / 1e9
    ts = report.duration_s
    row = _snapshot(proc, report, n, ts)
    report.timeline.append(row)
    if writer is not None:
        writer.writerow([row[col] for col in TIMELINE_COLUMNS])
    if len(report.timeline) > options.samples:
        step = len(report.timeline) / options.samples
        report.timeline = [report.timeline[int(j * step)] for j in range(options.samples)] + [row]


def _finish(proc: AccessProcess, report: AccessReport, before: dict[str, int], st_before) -> None:
    k = proc.k
    cg = proc.cg
    ev = proc.lruvec.events
    # the reclaim and fault counters go to /proc/vmstat (and the cgroup's memory.stat)
    for name, value in list(ev.items()) + [("pgfault", proc.ev["pgfault"]), ("pgmajfault", proc.ev["pgmajfault"]),
                                           ("oom_kill", proc.ev["oom_kill"])]:
        if name in k.counters:
            k.counters[name] += value
    delta = {name: k.counters[name] - before[name] for name in MEMORY_COUNTERS}
    report.counters = delta
    report.swap_outs = proc.ev["swap_outs"]
    report.swap_ins = proc.ev["swap_ins"]
    report.refaults = ev["workingset_refault_anon"]
    report.peak_memory = cg.peak_pages * proc.page_size
    report.zero_pages_out = delta["swpout_zero"]
    st = k.mm.stats
    report.stayed_resident = st.stayed_resident - st_before.stayed_resident
    report.no_swap_space = st.no_swap_space - st_before.no_swap_space
    report.corrupt_pages = st.corrupt_pages - st_before.corrupt_pages
    report.written_back_pages = delta["written_back_pages"]
    report.memory_events = dict(cg.events)
    report.end = {
        "memory_current": cg.usage() * proc.page_size,
        "resident_pages": cg.resident,
        "active_anon": proc.lruvec.active_pages() * proc.page_size,
        "inactive_anon": (cg.resident - proc.lruvec.active_pages()) * proc.page_size,
        "zswap": cg.zswap_bytes,
        "zswapped": cg.zswapped_pages * proc.page_size,
        "stored_pages": proc.stored,
        "zero_pages": proc.zero_out,
        "disk_pages": proc.disk_pages,
        "swap_pages": cg.swap_pages,
        "pool_total_size": k.pool_pages * proc.page_size,
    }
    _save_memory_stat(k, report)
    proc.exit()


def _save_memory_stat(k: Kernel, report: AccessReport) -> None:
    """Keep the last replay's cgroup view for /sys/fs/cgroup/workload/memory.stat."""
    k.last_memory_stat = dict(report.end, **report.counters)  # type: ignore[attr-defined]


def pages_for(size: int, page_size: int) -> int:
    return math.ceil(size / page_size)
