"""Design-lab foundations: parameters with their sources, the event protocol every model follows,
a cluster slot allocator, and the rows of the result table.

A *design* is a way the kernel could keep swapped-out pages (mainline, the RFC ghost swapfile, a
growing ghost, a ghost tier in front of a real file, virtual swap). Each model sees the same stream
of events from one real replay (``lab.py``): ``out(vpn, zero, clen)`` with the page's real
compressed length, ``swap_in(vpn)`` and ``free(vpn)``, then ``sample()`` once per event. It applies
its own policy (slots, clusters, a zsmalloc pool with the kernel's limit hysteresis,
writeback) and counts what the debate argued about: metadata bytes, disk held, pages kept resident,
writeback, redirection, lookups per swap-in and swapoff work.

The common bookkeeping lives in :class:`Design`; a design module overrides a handful of hooks
(where a page's slot comes from, where writeback goes, what its metadata costs). Pages are in
one of four states while swapped out:

``ZERO``   the zeromap holds it (all-zero page: a slot, no data);
``ZSWAP``  zswap holds it (a slot and a compressed object in the pool);
``DISK``   a disk slot holds it: its own slot (mainline) or a second slot reached by
           redirection (ghost tiers, virtual swap);
``CACHE``  nothing would take it: it stays resident in the swap cache and keeps its slot, as the
           RFC's ``AOP_WRITEPAGE_ACTIVATE`` leaves it (ghost-rfc.md hunk 8).

A page that gets no slot at all stays mapped and is not tracked.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ghostswap_cli.kernel.zpool import ZsPool
from ghostswap_cli.units import SizeError, parse_size

__all__ = (
    "Param",
    "ParamError",
    "switch_param",
    "SHARED_PARAMS",
    "parse_param_specs",
    "LabConfig",
    "ClusterAllocator",
    "Design",
    "Row",
    "ROWS",
    "ZERO",
    "ZSWAP",
    "DISK",
    "CACHE",
    "SAME_SLOT",
    "WRITEBACK_FAILS",
    "MAX_RECLAIM_RETRIES",
)


# --- parameters ----------------------------------------------------------------------------------


class ParamError(ValueError):
    """A ``--param KEY=VALUE`` that names no parameter or gives a value it cannot take."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One constant of a model, overridable with ``--param KEY=VALUE``.

    ``source`` says who claimed the figure and when (or which reference it comes from); the man
    page prints it next to the key.
    """

    key: str
    default: int
    unit: str
    source: str
    help: str
    minimum: int = 0
    maximum: int | None = None
    size: bool = False  # the value is a size (``4GiB``) rather than a plain integer

    def parse(self, text: str) -> int:
        text = text.strip()
        try:
            value = parse_size(text) if self.size else int(text, 10)
        except (SizeError, ValueError):
            kind = "a size (e.g. 4GiB)" if self.size else "an integer"
            raise ParamError(f"{self.key}: {text!r} is not {kind}") from None
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            upper = f" and at most {self.maximum}" if self.maximum is not None else ""
            raise ParamError(f"{self.key}: {value} is out of range (at least {self.minimum}{upper})")
        return value


def switch_param(key: str, default: int, source: str, help: str) -> Param:
    """A 0-or-1 parameter: a design choice to turn on or off."""
    return Param(key, default, "0 or 1", source, help, maximum=1)


SHARED_PARAMS: tuple[Param, ...] = (
    Param("zswap.accept_threshold_percent", 90, "percent",
          "mm/zswap.c module parameter default (zswap.md section 2)",
          "after the pool hit its limit, stores resume once it is at or below this share of it",
          maximum=100),
    Param("lab.ram", 4 << 30, "bytes",
          "ghostswap's default simulated machine (kernel/params.py, machine.ram)",
          "RAM the --max-pool-percent limit is a share of", minimum=1 << 20, size=True),
)


def parse_param_specs(specs: Iterable[str], known: Mapping[str, Param]) -> dict[str, int]:
    """``["vswap-48.entry_bytes=64", ...]`` -> ``{key: value}``; :class:`ParamError` if bad.

    ``known`` may map old keys to the Param they were renamed to; values come back under the
    Param's own key."""
    values: dict[str, int] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParamError(f"{spec!r}: expected KEY=VALUE (e.g. vswap-24.entry_bytes=32)")
        p = known.get(key)
        if p is None:
            names = sorted({q.key for q in known.values()})
            raise ParamError(f"unknown parameter {key!r}; known: {', '.join(names)}")
        values[p.key] = p.parse(text)  # an old name (an alias) sets the parameter it names
    return values


@dataclasses.dataclass(frozen=True)
class LabConfig:
    """What every model is configured with; sizes are in pages (slots), header page included."""

    page_size: int
    ghost_slots: int
    real_slots: tuple[int, ...]
    pool_limit_pages: int
    params: Mapping[str, int]

    @property
    def accept_pages(self) -> int:
        """``zswap_accept_thr_pages()``: the limit times accept_threshold_percent / 100."""
        return self.pool_limit_pages * self.params["zswap.accept_threshold_percent"] // 100


# --- slots ---------------------------------------------------------------------------------------


class ClusterAllocator:
    """Order-0 slot allocation over clusters of ``cluster_slots`` slots.

    The policy is the one of ``kernel/cluster.py`` (``SwapSlots``, the 6.12 SSD cluster allocator
    of mm/swapfile.c as the simulator runs it), so with 512-slot clusters the models pick the very
    slots the simulated kernel picks (a test checks this): the CPU's current cluster from its next
    offset; else a never-used cluster in index order, then freed clusters in the order they were
    freed; else the oldest cluster on the nonfull list. Clusters holding reserved slots (the header
    at offset 0, the tail past the end) start on the nonfull list. A cluster whose last slot is
    freed is forgotten (``free_cluster``).

    ``clusters_in_use`` counts clusters holding at least one allocated slot (reserved slots do not
    count): the clusters whose swap table a dynamic design pays for. ``grow()`` appends whole
    clusters (the growing ghost of ghost-dynamic).
    """

    __slots__ = ("cl", "nr_slots", "nr_clusters", "maps", "counts", "allocated", "special",
                 "next_fresh", "freed", "nonfull", "on_nonfull", "cur", "cur_next", "inuse",
                 "clusters_in_use", "prefer_nonfull")

    def __init__(self, nr_slots: int, cluster_slots: int = 512, reserved: Iterable[int] = (0,),
                 prefer_nonfull: bool = False) -> None:
        if cluster_slots < 1:
            raise ValueError("a cluster has at least one slot")
        if nr_slots < 0:
            raise ValueError("a device cannot have a negative number of slots")
        self.cl = cluster_slots
        self.nr_slots = nr_slots
        self.nr_clusters = -(-nr_slots // cluster_slots)
        self.maps: dict[int, bytearray] = {}  # cluster -> byte per slot: 0 free, 1 used, 2 reserved
        self.counts: dict[int, int] = {}  # cluster -> used slots, reserved ones included
        self.allocated: dict[int, int] = {}  # cluster -> allocated slots, reserved ones excluded
        self.special: set[int] = set()
        self.next_fresh = 0
        self.freed: collections.deque[int] = collections.deque()
        self.nonfull: collections.deque[int] = collections.deque()
        self.on_nonfull: set[int] = set()
        self.cur = -1
        self.cur_next = 0
        self.inuse = 0
        self.clusters_in_use = 0
        # "mm, swap: prefer nonfull over free clusters" (Kairui Song, 4 Aug 2025), for devices
        # that do not discard: a partly used cluster before a free one
        self.prefer_nonfull = prefer_nonfull
        tail = range(nr_slots, self.nr_clusters * cluster_slots)
        for offset in (*reserved, *tail):
            if not 0 <= offset < self.nr_clusters * cluster_slots:
                continue
            c = offset // cluster_slots
            m = self._new(c) if c not in self.maps else self.maps[c]
            if m[offset % cluster_slots] == 0:
                m[offset % cluster_slots] = 2
                self.counts[c] += 1
            self.special.add(c)
        for c in sorted(self.special):
            if self.counts[c] < cluster_slots:
                self.nonfull.append(c)
                self.on_nonfull.add(c)

    def _new(self, c: int) -> bytearray:
        m = self.maps[c] = bytearray(self.cl)
        self.counts[c] = 0
        self.allocated[c] = 0
        return m

    def _take_free_cluster(self) -> int:
        while self.next_fresh < self.nr_clusters:
            c = self.next_fresh
            self.next_fresh += 1
            if c in self.special:
                continue
            self._new(c)
            return c
        while self.freed:
            c = self.freed.popleft()
            if c not in self.maps:
                self._new(c)
                return c
        return -1

    def _take_nonfull(self) -> int:
        while self.nonfull:
            idx = self.nonfull.popleft()
            self.on_nonfull.discard(idx)
            if idx in self.maps and self.counts[idx] < self.cl:
                return idx
        return -1

    def _drop_cur(self, c: int) -> None:
        self.cur = -1
        if self.counts[c] < self.cl and c not in self.on_nonfull:
            self.nonfull.append(c)
            self.on_nonfull.add(c)

    def alloc(self) -> int | None:
        """The offset of a newly allocated slot, or None when every slot is taken."""
        cl = self.cl
        while True:
            c = self.cur
            if c >= 0:
                m = self.maps[c]
                i = m.find(0, self.cur_next)
                if i < 0 and self.cur_next:
                    i = m.find(0, 0, self.cur_next)
                if i >= 0:
                    m[i] = 1
                    self.counts[c] += 1
                    n = self.allocated[c] + 1
                    self.allocated[c] = n
                    if n == 1:
                        self.clusters_in_use += 1
                    self.inuse += 1
                    if self.counts[c] < cl and i + 1 < cl:
                        self.cur_next = i + 1
                    else:
                        self._drop_cur(c)
                    return c * cl + i
                self._drop_cur(c)
            c = self._take_nonfull() if self.prefer_nonfull else -1
            if c < 0:
                c = self._take_free_cluster()
            if c < 0:
                c = self._take_nonfull()
                if c < 0:
                    return None
            self.cur = c
            self.cur_next = 0

    def free(self, offset: int) -> None:
        cl = self.cl
        c, i = divmod(offset, cl)
        m = self.maps[c]
        if m[i] != 1:
            raise ValueError(f"slot {offset} is not allocated")
        m[i] = 0
        self.counts[c] -= 1
        self.inuse -= 1
        n = self.allocated[c] - 1
        self.allocated[c] = n
        if n == 0:
            self.clusters_in_use -= 1
        if self.counts[c] == 0 and c not in self.special:
            if c in self.on_nonfull:
                self.nonfull.remove(c)
                self.on_nonfull.discard(c)
            del self.maps[c], self.counts[c], self.allocated[c]
            self.freed.append(c)
            if self.cur == c:
                self.cur = -1
        elif c not in self.on_nonfull and self.counts[c] < cl and self.cur != c:
            self.nonfull.append(c)
            self.on_nonfull.add(c)

    def grow(self, clusters: int) -> None:
        """Append ``clusters`` never-used clusters at the end (whole clusters only)."""
        if self.nr_slots != self.nr_clusters * self.cl:
            raise ValueError("only a device of whole clusters can grow")
        self.nr_clusters += clusters
        self.nr_slots += clusters * self.cl


# --- rows ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the result table (a key of each design's JSON object)."""

    key: str
    label: str
    kind: str  # bytes | count | float | bool | text


ROWS: tuple[Row, ...] = (
    Row("devices", "swap devices", "text"),
    Row("metadata_peak_bytes", "metadata, peak", "bytes"),
    Row("metadata_static_at_peak_bytes", "  static part at the peak", "bytes"),
    Row("metadata_dynamic_at_peak_bytes", "  dynamic part at the peak", "bytes"),
    Row("metadata_mean_bytes", "metadata, mean over events", "bytes"),
    Row("metadata_per_stored_page", "metadata per stored page (bytes)", "float"),
    Row("stored_pages_peak", "stored pages, peak", "count"),
    Row("zswap_pages_peak", "  of them in zswap, peak", "count"),
    Row("pool_peak_bytes", "zswap pool, peak", "bytes"),
    Row("disk_held_peak_bytes", "disk held, peak", "bytes"),
    Row("disk_pinned_peak_bytes", "  held by pages not on disk", "bytes"),
    Row("disk_slow_peak_bytes", "  on the slow tier", "bytes"),
    Row("kept_resident", "pages kept resident", "count"),
    Row("kept_resident_no_slot", "  no free slot", "count"),
    Row("kept_resident_rejected", "  zswap rejected, nowhere to write", "count"),
    Row("rejected_pool_full", "zswap rejects: pool full", "count"),
    Row("rejected_incompressible", "zswap rejects: incompressible", "count"),
    Row("written_back", "pages written back", "count"),
    Row("written_direct", "pages written to disk directly", "count"),
    Row("redirect_slots_peak", "slots wasted by redirection, peak", "count"),
    Row("writeback_failed", "writeback attempts refused (ghost slot)", "count"),
    Row("shrinker_stalls", "shrinker runs stalled on ghost slots", "count"),
    Row("swapins_direct", "swap-ins direct (1 lookup)", "count"),
    Row("swapins_redirected", "swap-ins redirected (2 lookups)", "count"),
    Row("lookups_per_swapin", "lookups per swap-in, mean", "float"),
    Row("swapoff_entries_peak", "swapoff: entries to bring back, peak", "count"),
    Row("swapoff_page_table_walk", "swapoff: page-table walk needed", "bool"),
)


# --- the model base ------------------------------------------------------------------------------

ZERO, ZSWAP, DISK, CACHE = 0, 1, 2, 3
#: ``back`` of a DISK page whose data sits in its own (front) slot: nothing to redirect or free.
SAME_SLOT = -1
#: what ``writeback_dest_for`` returns for a slot that refuses writeback (a ghost slot under the
#: RFC: ``zswap_writeback_entry`` returns -EINVAL); the shrink worker rotates the entry and counts
#: a failure, as ``shrink_memcg_cb`` does.
WRITEBACK_FAILS = -2
#: mm/zswap.c: the shrink worker gives up after this many failed attempts in one run
MAX_RECLAIM_RETRIES = 16


class Design:
    """Bookkeeping shared by every model; a design overrides the hooks below.

    Per page (by VPN) a record ``[state, front, back, size_class]``: ``front`` is the slot the
    page table points at (a design-specific token), ``back`` the redirection target of a DISK page
    (``SAME_SLOT`` when the data is in the front slot), ``size_class`` the zsmalloc class of a
    ZSWAP page. zswap entries are kept in store order for writeback (oldest first; the kernel's
    second-chance ``referenced`` bit is not modelled).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: swapoff must walk page tables to find the entries (no indirection to move them behind)
    SWAPOFF_WALK: ClassVar[bool] = True

    def __init__(self, cfg: LabConfig) -> None:
        self.cfg = cfg
        self.p = cfg.params
        # the per-slot constants under the design's own name (mainline.slot_params); a design
        # whose figures are not whole bytes a slot (swap-table, vswap-24) has no static_bytes
        self.S = self.p.get(f"{self.name}.static_bytes", 0)
        self.D = self.p[f"{self.name}.dynamic_bytes"]
        self.C = self.p[f"{self.name}.cluster_slots"]
        self.page_size = cfg.page_size
        # the simulated 6.18 kernel's pool (kernel/zpool.py): whole zspages, an object freed
        # leaves a hole until its zspage empties, so the figures are the kernel's, not those of
        # a pool always compacted. Each object has a key (as zswap's entry id) naming its zspage.
        self.pool = ZsPool(cfg.page_size, "6.18")
        self.zkey: dict[int, int] = {}  # VPN -> pool key of a ZSWAP page
        self._free_keys: list[int] = []  # keys freed, reused last-freed first (as entry ids)
        self._next_key = 1
        self.max_pool_pages = cfg.pool_limit_pages
        self.accept_pages = cfg.accept_pages
        self.pool_reached_full = False
        self.pages: dict[int, list[int]] = {}
        self.lru: dict[int, None] = {}  # VPNs of ZSWAP pages, oldest first (dicts keep order)
        self.n_zero = self.n_zswap = self.n_disk = self.n_cache = 0
        self.n_redirected = 0
        self.zswap_bytes = 0  # compressed bytes in zswap (charged to the cgroup under pressure)
        self.zlen: dict[int, int] = {}
        # counts over the run
        self.kept_resident_no_slot = 0
        self.kept_resident_rejected = 0
        self.rejected_pool_full = 0
        self.rejected_incompressible = 0
        self.written_back = 0
        self.written_direct = 0
        self.swapins_direct = 0
        self.swapins_redirected = 0
        self.writeback_failed = 0
        self.shrinker_stalls = 0
        # samples
        self.samples = 0
        self.meta_sum = 0
        self.meta_peak = -1
        self.static_at_peak = 0
        self.dynamic_at_peak = 0
        self.stored_peak = 0
        self.zswap_peak = 0
        self.pool_peak = 0
        self.disk_peak = 0
        self.pinned_peak = 0
        self.slow_peak = 0
        self.redirect_peak = 0
        self.swapoff_peak = 0

    # --- hooks --------------------------------------------------------------------------------
    def alloc_front(self) -> tuple[int, bool] | None:
        """A slot for a page being swapped out: ``(token, direct_to_disk)``, or None if none is
        free. ``direct_to_disk`` says the slot is on a tier without zswap in front of it."""
        raise NotImplementedError

    def free_front(self, front: int) -> None:
        raise NotImplementedError

    def writeback_dest(self) -> int | None:
        """Where a page leaving zswap (or rejected by it) can be written: ``SAME_SLOT`` (its own
        disk slot), a new slot token reached by redirection, or None (no writeback)."""
        return None

    def writeback_dest_for(self, front: int) -> int | None:
        """As ``writeback_dest``, for the page whose slot is ``front``; ``WRITEBACK_FAILS`` when
        that slot refuses writeback while other slots would take it (the RFC's ghost in front of
        a real swapfile)."""
        return self.writeback_dest()

    def free_back(self, back: int) -> None:
        raise NotImplementedError

    def metadata(self) -> tuple[int, int]:
        """(static, dynamic) metadata bytes right now."""
        raise NotImplementedError

    def disk_slots(self) -> int:
        """Slots on disk-backed devices allocated right now."""
        return 0

    def disk_pinned(self) -> int:
        """Disk slots held by pages whose data is not on disk (zeromap, zswap, swap cache)."""
        return 0

    def slow_slots(self) -> int:
        """Disk slots allocated on a slow tier right now (swap-tiers)."""
        return 0

    def wasted_slots(self) -> int:
        """Slots held only to keep a redirection."""
        return 0

    def swapoff_entries(self) -> int:
        """Entries ``swapoff`` of the design's swap devices has to bring back right now."""
        return len(self.pages)

    def lookups(self, rec: list[int]) -> int:
        """Table lookups a swap-in of this page needs: 1 direct, 2 through a redirection."""
        return 1

    def describe_devices(self) -> str:
        raise NotImplementedError

    def can_swap(self) -> bool:
        """A slot is free somewhere (reclaim scans anon pages only then: get_scan_count)."""
        return True

    # --- zswap policy (mm/zswap.c zswap_check_limits, shrink_worker) ---------------------------
    def _pool_full(self) -> bool:
        cur = self.pool.pool_pages
        if cur >= self.max_pool_pages:
            self.pool_reached_full = True
        elif self.pool_reached_full and cur <= self.accept_pages:
            self.pool_reached_full = False
        return self.pool_reached_full

    def _shrink(self) -> None:
        """The global shrink worker: write back the oldest entries until the pool is at or
        below the accept threshold, no entry can be written anywhere, or ``MAX_RECLAIM_RETRIES``
        entries refused (a refused entry goes to the tail of the LRU, as the kernel rotates
        it). A run that refused entries and wrote none back is a stall."""
        pool = self.pool
        lru = self.lru
        pages = self.pages
        failures = wrote = 0
        while pool.pool_pages > self.accept_pages and lru:
            vpn = next(iter(lru))
            rec = pages[vpn]
            back = self.writeback_dest_for(rec[1])
            if back is None:
                break
            del lru[vpn]
            if back == WRITEBACK_FAILS:
                lru[vpn] = None
                self.writeback_failed += 1
                failures += 1
                if failures == MAX_RECLAIM_RETRIES:
                    break
                continue
            wrote += 1
            self._obj_free(vpn, rec[3])
            self.zswap_bytes -= self.zlen.pop(vpn)
            rec[0] = DISK
            rec[2] = back
            self.n_zswap -= 1
            self.n_disk += 1
            self.written_back += 1
            if back != SAME_SLOT:
                self.n_redirected += 1
        if failures and not wrote:
            self.shrinker_stalls += 1

    # --- events -------------------------------------------------------------------------------
    def out(self, vpn: int, zero: bool, clen: int) -> None:
        """Reclaim page ``vpn``; ``clen`` is its real compressed length (>= PAGE_SIZE: zswap
        rejects it as incompressible, as ``zswap_store`` in kernel/zswap.py does)."""
        rec = self.pages.get(vpn)
        if rec is not None:  # swapped out already: the trace faulted it in implicitly
            self.swap_in(vpn)
        got = self.alloc_front()
        if got is None:
            self.kept_resident_no_slot += 1
            return
        front, direct = got
        if direct and not zero:  # a zero page still goes to the zeromap (swap_writeout checks first)
            self.pages[vpn] = [DISK, front, SAME_SLOT, 0]
            self.n_disk += 1
            self.written_direct += 1
            return
        if zero:
            self.pages[vpn] = [ZERO, front, 0, 0]
            self.n_zero += 1
            return
        # zswap_store's order: the limit is checked before the page is compressed
        if (self.pool_reached_full or self.pool.pool_pages >= self.max_pool_pages) \
                and self._pool_full():
            self.rejected_pool_full += 1
            self._shrink()
        elif clen >= self.page_size:
            self.rejected_incompressible += 1
        else:
            free_keys = self._free_keys
            if free_keys:
                key = free_keys.pop()
            else:
                key = self._next_key
                self._next_key = key + 1
            cls = self.pool.obj_store(clen, key)
            self.zkey[vpn] = key
            self.pages[vpn] = [ZSWAP, front, 0, cls]
            self.zswap_bytes += clen
            self.zlen[vpn] = clen
            self.lru[vpn] = None
            self.n_zswap += 1
            return
        back = self.writeback_dest_for(front)
        if back is not None and back != WRITEBACK_FAILS:
            self.pages[vpn] = [DISK, front, back, 0]
            self.n_disk += 1
            self.written_direct += 1
            if back != SAME_SLOT:
                self.n_redirected += 1
            return
        self.pages[vpn] = [CACHE, front, 0, 0]
        self.n_cache += 1
        self.kept_resident_rejected += 1

    def swap_in(self, vpn: int) -> None:
        rec = self.pages.pop(vpn, None)
        if rec is None:  # the design kept it resident: no fault, no lookup
            return
        if self.lookups(rec) == 1:
            self.swapins_direct += 1
        else:
            self.swapins_redirected += 1
        self._release(vpn, rec)

    def free(self, vpn: int) -> None:
        rec = self.pages.pop(vpn, None)
        if rec is not None:
            self._release(vpn, rec)

    def drop(self, vpn: int) -> None:
        """Let the slot of a page kept resident go, without a swap-in (the page never left)."""
        self.free(vpn)

    def _release(self, vpn: int, rec: list[int]) -> None:
        state = rec[0]
        if state == ZSWAP:
            self._obj_free(vpn, rec[3])
            del self.lru[vpn]
            self.zswap_bytes -= self.zlen.pop(vpn)
            self.n_zswap -= 1
        elif state == ZERO:
            self.n_zero -= 1
        elif state == DISK:
            self.n_disk -= 1
            if rec[2] != SAME_SLOT:
                self.free_back(rec[2])
                self.n_redirected -= 1
        else:
            self.n_cache -= 1
        self.free_front(rec[1])

    def _obj_free(self, vpn: int, cls: int) -> None:
        key = self.zkey.pop(vpn)
        self.pool.obj_free(cls, key)
        self._free_keys.append(key)

    def sample(self) -> None:
        """Account the state after one event (peaks and the mean over events)."""
        static, dynamic = self.metadata()
        meta = static + dynamic
        self.samples += 1
        self.meta_sum += meta
        if meta > self.meta_peak:
            self.meta_peak = meta
            self.static_at_peak = static
            self.dynamic_at_peak = dynamic
        stored = self.n_zero + self.n_zswap + self.n_disk
        if stored > self.stored_peak:
            self.stored_peak = stored
        if self.n_zswap > self.zswap_peak:
            self.zswap_peak = self.n_zswap
        pp = self.pool.pool_pages
        if pp > self.pool_peak:
            self.pool_peak = pp
        d = self.disk_slots()
        if d > self.disk_peak:
            self.disk_peak = d
        d = self.disk_pinned()
        if d > self.pinned_peak:
            self.pinned_peak = d
        d = self.slow_slots()
        if d > self.slow_peak:
            self.slow_peak = d
        w = self.wasted_slots()
        if w > self.redirect_peak:
            self.redirect_peak = w
        s = self.swapoff_entries()
        if s > self.swapoff_peak:
            self.swapoff_peak = s

    def current_metadata(self) -> int:
        static, dynamic = self.metadata()
        return static + dynamic

    # --- the result ---------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        ps = self.page_size
        if self.samples == 0:  # no event: the state right after swapon
            self.sample()
            self.samples, self.meta_sum = 0, 0
        swapins = self.swapins_direct + self.swapins_redirected
        return {
            "devices": self.describe_devices(),
            "metadata_peak_bytes": self.meta_peak,
            "metadata_static_at_peak_bytes": self.static_at_peak,
            "metadata_dynamic_at_peak_bytes": self.dynamic_at_peak,
            "metadata_mean_bytes": self.meta_sum / self.samples if self.samples else 0.0,
            "metadata_per_stored_page": (
                self.meta_peak / self.stored_peak if self.stored_peak else None
            ),
            "stored_pages_peak": self.stored_peak,
            "zswap_pages_peak": self.zswap_peak,
            "pool_peak_bytes": self.pool_peak * ps,
            "disk_held_peak_bytes": self.disk_peak * ps,
            "disk_pinned_peak_bytes": self.pinned_peak * ps,
            "disk_slow_peak_bytes": self.slow_peak * ps,
            "kept_resident": self.kept_resident_no_slot + self.kept_resident_rejected,
            "kept_resident_no_slot": self.kept_resident_no_slot,
            "kept_resident_rejected": self.kept_resident_rejected,
            "rejected_pool_full": self.rejected_pool_full,
            "rejected_incompressible": self.rejected_incompressible,
            "written_back": self.written_back,
            "written_direct": self.written_direct,
            "writeback_failed": self.writeback_failed,
            "shrinker_stalls": self.shrinker_stalls,
            "redirect_slots_peak": self.redirect_peak,
            "swapins_direct": self.swapins_direct,
            "swapins_redirected": self.swapins_redirected,
            "lookups_per_swapin": (
                (self.swapins_direct + 2 * self.swapins_redirected) / swapins if swapins else None
            ),
            "swapoff_entries_peak": self.swapoff_peak,
            "swapoff_page_table_walk": self.SWAPOFF_WALK,
        }


def human_bytes(n: int | float) -> str:
    """Sizes in the table: exact below 1 KiB, else one decimal as util-linux prints them."""
    from ghostswap_cli.units import size_to_human_string

    n = round(n)
    return f"{n} B" if n < 1024 else size_to_human_string(n, space=True, three_letter=True)
