"""Replay an access trace: a process touches pages, the simulated kernel decides what is swapped.

The process runs in the cgroup ``/sys/fs/cgroup/workload`` (memory.max, memory.high,
memory.swap.max, memory.zswap.max) on a machine of ``ram`` bytes. Each page of the process is in
one of these states (``PS_*``):

* not mapped; mapped to the shared zero page (read before any write: nothing is charged);
* resident (on the LRU, charged);
* resident *and* in the swap cache (read back from swap; its slot, and with 6.1's zswap its
  compressed copy, stay until the page is written, so reclaiming it again writes nothing);
* with 6.1 (``distro-6.1``), written after that: ``do_wp_page`` reuses the exclusive page
  without leaving the swap cache, so slot and zswap copy stay, stale, until reclaim writes the
  page again (frontswap invalidates the old entry before the new store);
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
import sys
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

PS_NONE, PS_ZEROMAP, PS_RESIDENT, PS_SWAPCACHE, PS_SC_UNMAPPED, PS_OUT, PS_SC_DIRTY = range(7)
_HAS_SLOT = (PS_SWAPCACHE, PS_SC_UNMAPPED, PS_OUT, PS_SC_DIRTY)
_ON_LRU = (PS_RESIDENT, PS_SWAPCACHE, PS_SC_UNMAPPED, PS_SC_DIRTY)
# /proc/vmstat and memory.stat counters an access replay moves
MEMORY_COUNTERS = (
    "pswpin", "pswpout", "zswpin", "zswpout", "zswpwb", "swpin_zero", "swpout_zero",
    "pgfault", "pgmajfault", "pgscan_direct", "pgsteal_direct", "pgscan_anon", "pgsteal_anon",
    "pgrefill", "pgactivate", "pgdeactivate", "workingset_refault_anon",
    "workingset_activate_anon", "workingset_restore_anon", "oom_kill", "swap_ra", "swap_ra_hit",
    "written_back_pages",
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
    page_cluster: int | None = None  # swap readahead: 2^N pages (VMA-based, as vma_ra_enabled)
    swap_trace: Any = None  # a TraceWriter: the swap events reclaim produced (out/in/free)
    memory_reclaim: int = 0  # bytes written to memory.reclaim ...
    reclaim_every_s: float = 0.0  # ... every this many seconds of trace time (proactive, like TMO)
    policy: str | None = None  # "lru" or "mglru"
    compressor: str | None = None
    level: int | None = None
    timeline: IO[str] | None = None
    timeline_every: int = 10_000
    progress: Callable[[int, int], None] | None = None
    samples: int = 200  # points kept for the curve of memory use in the report
    bulk: bool = True  # binary traces: runs of resident hits in one NumPy step (same results)


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
    proactive_reclaimed_pages: int = 0
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
        self.pages: dict[int, bytes] = {}  # materialised contents (seeded pages cost ~10 us each)
        self.content_ids: dict[Content, int] = {}
        self.ptes: set[int] = set()  # PTE pages (vpn >> 9) the process has touched
        self.ev: Counter[str] = Counter()
        self.oom = False
        self.swap_writer = None  # TraceWriter of the swap events, if asked for
        self.out_emitted = bytearray()
        self.ra_flag = bytearray()
        self.ra_prev = 0
        self.ra_hits = 0
        self.ra_win = 1
        self.ra_max_win = 1  # 2^page-cluster, set by the replay
        self.vma_start = 1 << 62
        self.vma_end = 0
        self.zero_out = 0
        self.counters_at_start = {n: k.counters[n] for n in ("pswpout", "pswpin", "zswpout", "zswpin")}
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
        self.ra_flag.append(0)
        self.out_emitted.append(0)
        if vpn < self.vma_start:
            self.vma_start = vpn
        if vpn >= self.vma_end:
            self.vma_end = vpn + 1
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
        if st in (PS_SWAPCACHE, PS_SC_DIRTY):
            # a write to a page read back from swap: 6.1's do_wp_page reuses the exclusive page
            # and leaves it in the swap cache (dirty); later kernels free the slot here
            if self.exclusive_loads:
                self._free_swap(i)
                self.state[i] = PS_RESIDENT
            else:
                self.state[i] = PS_SC_DIRTY
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
        if st == PS_SC_UNMAPPED:  # minor fault: still in the swap cache (swap_cache_get_folio)
            self._emit_in(i)
            self.state[i] = PS_SWAPCACHE
            self.lruvec.young[i] = 1
            if self.ra_flag[i]:
                self.ra_flag[i] = 0
                ev["swap_ra_hit"] += 1
                self.ra_hits = min(self.ra_hits + 1, SWAP_RA_HITS_MAX)
            self.ra_prev = self.vpns[i]
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
        # the swap cache keeps the slot on a read fault; 6.18's zswap frees its copy (exclusive
        # loads), 6.1's keeps it, as the zeromap and the swap file always do
        keep = not write and not self.swap_full() and (loc != LOC_ZSWAP or not self.exclusive_loads)
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
        self._emit_in(i)
        if self.ra_max_win > 1:
            self.swap_vma_readahead(vpn)
        cg.handle_over_high(self._reclaim)
        cg.note_peak()
        return True

    def swap_vma_readahead(self, fvpn: int) -> None:
        """mm/swap_state.c ``swap_vma_readahead``: the window from ``swap_ra_info`` (grown by
        readahead hits, at most 2^page-cluster, kept inside the PMD), each swapped-out page in it
        read into the swap cache, unmapped, with PG_readahead. Charged like any swap-in (with
        reclaim; a page that cannot be charged is skipped, never OOM)."""
        prev, self.ra_prev = self.ra_prev, fvpn
        hits, self.ra_hits = self.ra_hits, 0
        win = _swapin_nr_pages(prev, fvpn, hits, self.ra_max_win, self.ra_win)
        self.ra_win = win
        if win == 1:
            return
        if fvpn == prev + 1:
            lo, hi = fvpn, fvpn + win
        elif prev == fvpn + 1:
            lo, hi = fvpn - win + 1, fvpn + 1
        else:
            left = (win - 1) // 2
            lo, hi = fvpn - left, fvpn + win - left
        pmd = fvpn & ~511
        lo, hi = max(lo, pmd, self.vma_start), min(hi, pmd + 512, self.vma_end)
        index, state, cg = self.index, self.state, self.cg
        for vpn in range(lo, hi):
            if vpn == fvpn:
                continue
            p = index.get(vpn)
            if p is None or state[p] != PS_OUT:
                continue
            loc = self.mm.swap_location(vpn)
            if loc == LOC_ZSWAP and self.exclusive_loads:
                continue  # (6.18 loads would free the entry: not modelled for readahead)
            if not cg.try_charge(self._reclaim, may_oom=False):
                continue
            active = False
            shadow = self.shadow[p]
            if shadow != NO_SHADOW:
                active = self.lruvec.refault(p, shadow, self.swap_available())
                self.shadow[p] = NO_SHADOW
            self.mm.swap_read_keep(vpn)
            state[p] = PS_SC_UNMAPPED
            self.ra_flag[p] = 1
            self._emit_in(p)
            cg.resident += 1
            self.lruvec.add_refaulted(p, active)
            self.lruvec.young[p] = 0
            self.ev["swap_ra"] += 1
            self.ev["swap_ins"] += 1

    def memory_reclaim(self, nbytes: int) -> int:
        """``memory_reclaim`` (a write to memory.reclaim): reclaim until ``nbytes`` are freed or
        ``MAX_RECLAIM_RETRIES`` rounds free nothing (the kernel then returns -EAGAIN)."""
        from ghostswap_cli.kernel.memcontrol import MAX_RECLAIM_RETRIES

        want = -(-nbytes // self.page_size)
        done = 0
        retries = MAX_RECLAIM_RETRIES
        while done < want:
            got = self.lruvec.try_to_free_pages(want - done, self)
            if not got:
                if not retries:
                    break
                retries -= 1
            done += got
        self.ev["proactive_reclaimed"] += done
        return done

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
        if st in _ON_LRU:
            self.lruvec.remove(i)
            self.cg.resident -= 1
        if st in _HAS_SLOT:
            vpn = self.vpns[i]
            loc = self.mm.swap_location(vpn)
            self.mm.free(vpn)
            self._slot_gone(i, loc)
        if self.swap_writer is not None and self.out_emitted[i]:
            self.out_emitted[i] = 0
            self.swap_writer.free(self.vpns[i])
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
        if st == PS_SC_DIRTY:  # its old copy is stale: written again below, in a fresh slot
            self._free_swap(i)
            self.state[i] = PS_RESIDENT
        if cg.swap_pages >= cg.swap_max_pages:
            return PAGEOUT_ACTIVATE  # mem_cgroup_try_charge_swap failed in add_to_swap
        vpn = self.vpns[i]
        cid = self.content[i]
        page = self.pages.get(cid)
        if page is None:
            page = content_page(self.contents[cid], self.page_size)
            if len(self.pages) < PAGE_CACHE:
                self.pages[cid] = page
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
        self._emit_out(i)
        return PAGEOUT_WRITEBACK

    def _stored(self, i: int, eid: int) -> int:
        dlen = self.zswap.e_len[eid]
        self.zlen[i] = dlen
        self.cg.zswap_bytes += dlen
        self.cg.zswapped_pages += 1
        self.stored += 1
        return PAGEOUT_FREED

    def _emit_out(self, i: int) -> None:
        if self.swap_writer is not None and not self.out_emitted[i]:
            self.out_emitted[i] = 1
            self.swap_writer.out(self.vpns[i], self.contents[self.content[i]])

    def _emit_in(self, i: int) -> None:
        if self.swap_writer is not None and self.out_emitted[i]:
            self.out_emitted[i] = 0
            self.swap_writer.in_(self.vpns[i])

    def free_folio(self, i: int, shadow: int) -> None:
        self._emit_out(i)
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


PAGE_CACHE = 8192  # distinct contents kept materialised (32 MiB of 4 KiB pages at most)
SWAP_RA_HITS_MAX = (1 << 12) - 1  # PAGE_SHIFT bits of swap_readahead_info


def _swapin_nr_pages(prev: int, offset: int, hits: int, max_pages: int, prev_win: int) -> int:
    """``__swapin_nr_pages``: the readahead window after ``hits`` readahead hits."""
    pages = hits + 2
    if pages == 2:
        if offset != prev + 1 and offset != prev - 1:
            pages = 1
    else:
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = roundup
    pages = min(pages, max_pages)
    return max(pages, prev_win // 2)


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
    proc.swap_writer = options.swap_trace
    proc.ra_max_win = 1 << min(int(param(VM + "page-cluster", options.page_cluster)), 5)  # SWAP_RA_ORDER_CEILING
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
        if reader.format == "binary" and sys.byteorder == "little":
            _run_binary(proc, reader, options, report)
        else:
            _run(proc, reader, options, report)
        _finish(proc, report, before, st_before)
    finally:
        for name, value in saved.items():
            k.set_param(name, value)
    return report


def _snapshot(proc: AccessProcess, report: AccessReport, n: int, t: float) -> dict[str, float]:
    k = proc.k
    cg = proc.cg
    base = proc.counters_at_start
    row = {
        "accesses": n, "t_s": round(t, 6), "resident_pages": cg.resident,
        "memory_current": cg.usage() * proc.page_size, "zswap_bytes": cg.zswap_bytes,
        "pool_total_size": k.pool_pages * proc.page_size, "stored_pages": proc.stored,
        "swap_pages": cg.swap_pages,
        "pswpout": k.counters["pswpout"] - base["pswpout"], "pswpin": k.counters["pswpin"] - base["pswpin"],
        "zswpout": k.counters["zswpout"] - base["zswpout"], "zswpin": k.counters["zswpin"] - base["zswpin"],
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


class _Timeline:
    """The rows of --timeline (and the report's samples), every ``every`` accesses."""

    def __init__(self, proc: AccessProcess, report: AccessReport, options: AccessOptions,
                 reader: TraceReader) -> None:
        import csv

        self.proc, self.report, self.reader = proc, report, reader
        self.writer = None
        if options.timeline is not None:
            self.writer = csv.writer(options.timeline, lineterminator="\n")
            self.writer.writerow(TIMELINE_COLUMNS)
        self.every = max(options.timeline_every, 1)
        self.next_mark = self.every
        self.progress = options.progress
        self.samples = options.samples
        self.t0 = time.perf_counter()

    def row(self, n: int, t_s: float) -> None:
        _peaks(self.proc, self.report)
        row = _snapshot(self.proc, self.report, n, t_s)
        self.report.timeline.append(row)
        if self.writer is not None:
            self.writer.writerow([row[col] for col in TIMELINE_COLUMNS])

    def mark(self, n: int, t_s: float) -> None:
        self.next_mark += self.every
        self.row(n, t_s)
        if self.progress is not None:
            self.progress(n, self.reader.bytes_read)

    def finish(self, n: int, counts: tuple[int, int, int], first_t: int | None, last_t: int | None) -> None:
        """The end of the run: totals, the last row, the samples thinned to ``samples``."""
        proc, report = self.proc, self.report
        report.elapsed = time.perf_counter() - self.t0
        if proc.oom:
            report.oom_killed = True
            report.oom_at_access = n + 1
        report.accesses = n
        report.reads, report.writes, report.frees = counts
        report.distinct_pages = len(proc.vpns)
        if first_t is not None and last_t is not None:
            report.duration_s = (last_t - first_t) / 1e9
        self.row(n, report.duration_s)
        if len(report.timeline) > self.samples:
            step = len(report.timeline) / self.samples
            last = report.timeline[-1]
            report.timeline = [report.timeline[int(k * step)] for k in range(self.samples)] + [last]


_NEVER = 1 << 66
_BLOCK = 256  # records decoded to lists at a time for the one-at-a-time walk of a binary trace


def _run(proc: AccessProcess, reader: TraceReader, options: AccessOptions, report: AccessReport) -> None:

    index = proc.index
    state = proc.state
    young = proc.lruvec.young
    content = proc.content
    content_id = proc.content_id
    page_index = proc.page_index
    fault = proc.fault
    RES = PS_RESIDENT
    tl = _Timeline(proc, report, options, reader)
    pr_bytes, pr_every = options.memory_reclaim, int(options.reclaim_every_s * 1e9)
    next_pr = pr_every if pr_bytes and pr_every else _NEVER
    reads = writes = frees = n = 0
    first_t = last_t = None
    last_cid: tuple[Content | None, int] = (None, -1)
    for op, vpn, c, t in reader.timed(materialize=False):
        if op == OP_READ:
            i = index.get(vpn)
            if i is None:
                i = page_index(vpn)
            reads += 1
            st = state[i]
            if st in (RES, PS_SWAPCACHE, PS_SC_DIRTY):
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
            st = state[i]
            if st in (RES, PS_SC_DIRTY):
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
            if t - first_t >= next_pr:
                next_pr += pr_every
                proc.memory_reclaim(pr_bytes)
        if n >= tl.next_mark:
            tl.mark(n, (last_t - first_t) / 1e9 if first_t is not None and last_t is not None else 0.0)
    tl.finish(n, (reads, writes, frees), first_t, last_t)


def _reader_error(reader: TraceReader, fallback: str) -> TraceError:
    """The error the checking reader gives for this trace (the fast path met something odd)."""
    try:
        for _ in reader.timed(materialize=False):
            pass
    except TraceError as e:
        return e
    return TraceError(str(reader.path), "record ?", fallback)


def _run_binary(proc: AccessProcess, reader: TraceReader, options: AccessOptions,
                report: AccessReport) -> None:
    """The same replay as :func:`_run`, over a binary trace decoded a chunk at a time
    (:class:`~ghostswap_cli.replay.access_bulk.Chunk`): a resident hit is a list read, a dict
    lookup and one bytearray store, with no tuple or Content built, and runs of resident hits
    are applied in one NumPy step (:class:`~ghostswap_cli.replay.access_bulk.BulkHits`, unless
    ``options.bulk`` is off). Any record it does not expect (swap events, bad codes, timestamps
    going back, a cut-off end) hands over to the checking reader for the error. The per-access
    steps repeat :func:`_run`'s inline, on purpose (a call per access would halve the hit rate);
    the tests replay one trace both ways, and with and without bulk runs, and compare every
    counter."""

    from ghostswap_cli.codec import trace as tc
    from ghostswap_cli.replay.access_bulk import BulkHits, Chunk

    index = proc.index
    state = proc.state
    young = proc.lruvec.young
    content = proc.content
    page_index = proc.page_index
    fault = proc.fault
    RES, SC, SCD = PS_RESIDENT, PS_SWAPCACHE, PS_SC_DIRTY
    C_READ, C_FREE = tc.C_READ, tc.C_FREE
    C_W_ZERO, C_W_RAW = tc.C_W_ZERO, tc.C_W_RAW
    seeded = {c: k for c, k in tc._W_SEEDED.items()}
    mask = tc._VPN_MASK
    ps = reader.page_size
    pw = ps // 8
    seed_cids: dict[int, int] = {}
    zero_cid = proc.content_id(Content(tc.K_ZERO))
    tl = _Timeline(proc, report, options, reader)
    pr_bytes, pr_every = options.memory_reclaim, int(options.reclaim_every_s * 1e9)
    next_pr = pr_every if pr_bytes and pr_every else _NEVER
    bulk = BulkHits(state, young, content, (RES, SC, SCD), (RES, SCD))
    # resident hits in a row replayed one at a time, and how many make a bulk run worth trying
    streak, bulk_after = 0, bulk.after if options.bulk else _NEVER
    reads = writes = frees = n = 0
    first_t = None
    last_t = 0
    carry: array = array("Q")
    oom = False
    for words in reader.word_chunks():
        if carry:
            carry.extend(words)
            words, carry = carry, array("Q")
        ch = Chunk(words, pw, index, seed_cids, zero_cid, last_t)
        nrec = ch.n
        h = b = bend = 0
        while h < nrec:
            if h >= bend:  # the next records as lists, for the one-at-a-time walk below
                b, bend = h, min(h + _BLOCK, nrec)
                heads, words1, values = ch.block(b, bend - b)
            if streak >= bulk_after:
                end = min(nrec, h + tl.next_mark - n)
                f, nr, first_t, last_t = bulk.run(ch, h, end, first_t, last_t, next_pr)
                bulk_after = bulk.after
                streak = bulk_after if h + f == end else 0  # go on after a timeline row
                if f:
                    h += f
                    n += f
                    reads += nr
                    writes += f - nr
                    if n >= tl.next_mark:
                        tl.mark(n, (last_t - first_t) / 1e9 if first_t is not None else 0.0)
                    continue
            w = heads[h - b]
            code = w >> 52
            if code & 1:
                t = words1[h - b]
                code ^= 1
                if t < last_t:
                    raise _reader_error(reader, "timestamp goes back")
                if first_t is None:
                    first_t = t
                last_t = t
                if t - first_t >= next_pr:
                    next_pr += pr_every
                    proc.memory_reclaim(pr_bytes)
            if code == C_READ:
                vpn = w & mask
                h += 1
                p = index.get(vpn)
                if p is None:
                    p = page_index(vpn)
                    ch.new_page(vpn, p)
                reads += 1
                st = state[p]
                if st in (RES, SC, SCD):
                    young[p] = 1
                    streak += 1
                else:
                    streak = 0
                    if not fault(p, False, -1):
                        oom = True
                        break
            else:
                if code == C_W_ZERO:
                    cid = zero_cid
                elif code == C_FREE:
                    frees += 1
                    p = index.get(w & mask)
                    h += 1
                    if p is not None:
                        proc.free(p)
                    continue
                elif code in seeded:
                    value = values[h - b]
                    key = code << 64 | value
                    cid = seed_cids.get(key)
                    if cid is None:
                        cid = seed_cids[key] = proc.content_id(Content(seeded[code], value))
                        ch.new_content(key, cid)
                elif code == C_W_RAW:
                    j = int(ch.heads[h]) + 1 + (w >> 52 & 1)
                    cid = proc.content_id(reader_content_raw(words[j : j + pw].tobytes()))
                else:
                    raise _reader_error(reader, f"bad record code {code:#x}")
                vpn = w & mask
                h += 1
                p = index.get(vpn)
                if p is None:
                    p = page_index(vpn)
                    ch.new_page(vpn, p)
                writes += 1
                st = state[p]
                if st in (RES, SCD):
                    young[p] = 1
                    content[p] = cid
                    streak += 1
                else:
                    streak = 0
                    if not fault(p, True, cid):
                        oom = True
                        break
            n += 1
            if n >= tl.next_mark:
                tl.mark(n, (last_t - first_t) / 1e9 if first_t is not None else 0.0)
        if oom:
            break
        carry = words[ch.rest:] if ch.rest < len(words) else array("Q")
    else:
        if carry:
            raise _reader_error(reader, "truncated record")
    tl.finish(n, (reads, writes, frees), first_t, last_t if first_t is not None else None)


def reader_content_raw(page: bytes) -> Content:
    """A raw page, as the writer would have stored it (zero and same-filled pages it never stores
    raw, so none is recognised here)."""
    from ghostswap_cli.codec.trace import K_RAW

    return Content(K_RAW, data=page)


def _finish(proc: AccessProcess, report: AccessReport, before: dict[str, int], st_before) -> None:
    k = proc.k
    cg = proc.cg
    ev = proc.lruvec.events
    # the reclaim and fault counters go to /proc/vmstat (and the cgroup's memory.stat)
    for name, value in list(ev.items()) + [(n, proc.ev[n]) for n in
                                           ("pgfault", "pgmajfault", "oom_kill", "swap_ra", "swap_ra_hit")]:
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
    report.proactive_reclaimed_pages = proc.ev["proactive_reclaimed"]
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
