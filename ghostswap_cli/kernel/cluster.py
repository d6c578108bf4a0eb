"""Swap slots of one device: swap_map bytes and a cluster allocator, created on first use.

Mirrors the SSD cluster allocator of mm/swapfile.c (6.12: ``cluster_alloc_swap_entry``,
``inc_cluster_info_page``, ``free_cluster``, the free/nonfull lists of ``swap_cluster_info``)
for order-0 allocations, with these documented simplifications:

* the free-cluster list is kept in index order (6.12 strides it by SWAP_CLUSTER_COLS from a
  random column to spread cache lines; a simulator wants deterministic runs);
* there is one CPU, so one "next offset" (``si->percpu_cluster``);
* nonfull and frag lists are one FIFO (order-0 only, so they hold the same kind of cluster).

Metadata for a cluster exists only once the cluster is touched: a never-used cluster is implicit
in ``next_fresh`` and a cluster whose count drops to 0 is dropped and queued at the tail of the
free list, as ``free_cluster`` does. So swapon of a 16 TiB ghost costs what a 1 MiB one does.

Per slot, beside the ``swap_map`` count byte, a cluster keeps where the page's data lives
(``loc``) and a reference (``ref``: a zswap entry id or a pool handle), the simulator's
stand-in for the swap table / zswap xarray / zeromap of the kernel.
"""

from __future__ import annotations

import collections
from array import array

from ghostswap_cli.uapi import SWAP_HAS_CACHE, SWAP_MAP_BAD, SWAPFILE_CLUSTER

__all__ = (
    "Cluster",
    "SwapSlots",
    "LOC_NONE",
    "LOC_ZERO",
    "LOC_ZSWAP",
    "LOC_CACHE",
    "LOC_DISK",
    "LOC_KIND",
    "LOC_COMMITTED",
    "ZSWAP_E_TYPE_SHIFT",
)

# where a slot's data lives
LOC_NONE = 0  # no data (free, bad, or allocated and not yet written)
LOC_ZERO = 1  # zeromap: the page was all zeros, no I/O
LOC_ZSWAP = 2  # ref is a zswap entry id
#: zswap entries keep the swap type of their slot in e_flags bits 3..7 (zswap.E_TYPE_SHIFT;
#: here so that mm.py checks an entry without importing zswap and its compressors)
ZSWAP_E_TYPE_SHIFT = 3
LOC_CACHE = 3  # the page stayed resident in the swap cache (ghost write failed); ref is a pool handle
LOC_DISK = 4  # written to the backing file at the slot's offset
LOC_KIND = 0x7F
LOC_COMMITTED = 0x80  # the data is referenced by the last committed state: defer its reuse

_CL = SWAPFILE_CLUSTER
_ZERO_MAP = bytes(SWAPFILE_CLUSTER)
_ZERO_REF = array("I", bytes(4 * SWAPFILE_CLUSTER))


class Cluster:
    """``struct swap_cluster_info`` plus the per-slot bytes of its 512 slots."""

    __slots__ = ("idx", "count", "map", "loc", "ref", "on_nonfull")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.count = 0  # slots in use, bad slots included (inc_cluster_info_page)
        self.map = bytearray(_ZERO_MAP)  # swap_map: use count | SWAP_HAS_CACHE, or SWAP_MAP_BAD
        self.loc = bytearray(_ZERO_MAP)
        self.ref = array("I", _ZERO_REF)
        self.on_nonfull = False

    def to_bytes(self) -> bytes:
        return bytes(self.map) + bytes(self.loc) + self.ref.tobytes()

    @classmethod
    def from_bytes(cls, idx: int, data: bytes) -> Cluster:
        n = SWAPFILE_CLUSTER
        if len(data) != 6 * n:
            raise ValueError(f"cluster {idx}: record of {len(data)} bytes, expected {6 * n}")
        c = cls(idx)
        c.map[:] = data[:n]
        c.loc[:] = data[n : 2 * n]
        c.ref = array("I")
        c.ref.frombytes(data[2 * n :])
        m = c.map
        c.count = n - m.count(0)
        return c


class SwapSlots:
    """The slots of one swap device (``si->swap_map`` + ``si->cluster_info``)."""

    def __init__(self, max_pages: int, badpages: tuple[int, ...] = ()) -> None:
        self.max = max_pages
        self.nr_clusters = (max_pages + SWAPFILE_CLUSTER - 1) // SWAPFILE_CLUSTER
        self.clusters: dict[int, Cluster] = {}
        self.next_fresh = 0  # clusters below this index have been handed out at least once
        self.freed: collections.deque[int] = collections.deque()  # free list tail
        self.nonfull: collections.deque[int] = collections.deque()
        self.cur: Cluster | None = None  # the CPU's cluster, si->percpu_cluster
        self.cur_next = 0  # next slot to try in it
        self.inuse_pages = 0  # allocated slots, bad slots excluded
        self.dirty: set[int] = set()
        self.dropped: set[int] = set()  # clusters freed since the last save, to delete
        self.pending_free: list[int] = []  # offsets whose disk data the committed state holds
        self._special: set[int] = set()
        self._setup(badpages)

    # setup_swap_map / setup_clusters ------------------------------------------------------
    def _setup(self, badpages: tuple[int, ...]) -> None:
        bad = [0, *badpages]  # slot 0 holds the header
        # slots past max in the last cluster are marked used so the cluster never looks free
        tail = range(self.max, self.nr_clusters * SWAPFILE_CLUSTER)
        for offset in (*bad, *tail):
            if offset >= self.nr_clusters * SWAPFILE_CLUSTER:
                continue
            c = self._cluster(offset // SWAPFILE_CLUSTER)
            i = offset % SWAPFILE_CLUSTER
            if c.map[i] != SWAP_MAP_BAD:
                c.map[i] = SWAP_MAP_BAD
                c.count += 1
        # clusters with bad or reserved slots start on the nonfull list, as in setup_clusters
        for idx in sorted(self.clusters):
            c = self.clusters[idx]
            self._special.add(idx)
            self.dirty.add(idx)
            if c.count < SWAPFILE_CLUSTER:
                c.on_nonfull = True
                self.nonfull.append(idx)

    def _cluster(self, idx: int) -> Cluster:
        c = self.clusters.get(idx)
        if c is None:
            c = self.clusters[idx] = Cluster(idx)
        return c

    # allocation --------------------------------------------------------------------------
    def _take_free_cluster(self) -> Cluster | None:
        while self.next_fresh < self.nr_clusters:
            idx = self.next_fresh
            self.next_fresh += 1
            if idx in self._special:
                continue
            return self._cluster(idx)
        while self.freed:
            idx = self.freed.popleft()
            if idx not in self.clusters:
                return self._cluster(idx)
        return None

    def alloc(self) -> int:
        """``cluster_alloc_swap_entry`` for order 0: the offset of a free slot, or 0 if full."""
        c = self.cur
        if c is not None:
            # the CPU's cluster (si->percpu_cluster): continue from its next offset
            m = c.map
            i = m.find(0, self.cur_next)
            if i < 0 and self.cur_next:
                i = m.find(0, 0, self.cur_next)
            if i >= 0:
                m[i] = 1
                c.count += 1
                self.inuse_pages += 1
                self.dirty.add(c.idx)
                if c.count < _CL and i + 1 < _CL:
                    self.cur_next = i + 1
                else:
                    self._drop_cur(c)
                return c.idx * _CL + i
            self._drop_cur(c)
        c = self._take_free_cluster()
        if c is None:
            while self.nonfull:
                idx = self.nonfull.popleft()
                c = self.clusters.get(idx)
                if c is None:
                    continue
                c.on_nonfull = False
                if c.count < _CL:
                    break
            else:
                return 0
        self.cur = c
        self.cur_next = 0
        return self.alloc()

    def _drop_cur(self, c: Cluster) -> None:
        """The CPU moves off its cluster; one with free slots left joins the nonfull tail."""
        self.cur = None
        if c.count < _CL and not c.on_nonfull:
            c.on_nonfull = True
            self.nonfull.append(c.idx)

    @property
    def next_offset(self) -> int:
        """``si->percpu_cluster->next[0]`` as an absolute offset (0: none)."""
        c = self.cur
        return 0 if c is None else c.idx * _CL + self.cur_next

    @next_offset.setter
    def next_offset(self, offset: int) -> None:
        if offset:
            self.cur = self.clusters.get(offset // _CL)
            self.cur_next = offset % _CL
        else:
            self.cur = None
            self.cur_next = 0

    # freeing -----------------------------------------------------------------------------
    def free(self, offset: int) -> None:
        """``swap_entry_range_free`` for one slot: count to 0, data reference dropped."""
        c = self.clusters[offset // _CL]
        i = offset % _CL
        loc = c.loc[i]
        if loc == LOC_DISK | LOC_COMMITTED:
            # the last committed state still maps this slot to data on disk: hold the slot
            # (as the swap slots cache holds freed entries) until the next commit
            c.map[i] = SWAP_HAS_CACHE
            c.loc[i] = LOC_NONE
            self.pending_free.append(offset)
            self.dirty.add(c.idx)
            return
        if 1 < c.count < _CL:
            # the common case, inline: the cluster stays in use and on the list it is on
            c.map[i] = 0
            c.loc[i] = LOC_NONE
            c.ref[i] = 0
            c.count -= 1
            self.inuse_pages -= 1
            self.dirty.add(c.idx)
            return
        self._release(c, i)

    def _release(self, c: Cluster, i: int) -> None:
        c.map[i] = 0
        c.loc[i] = LOC_NONE
        c.ref[i] = 0
        c.count -= 1
        self.inuse_pages -= 1
        idx = c.idx
        if c.count == 0 and idx not in self._special:
            # free_cluster: metadata goes away, the cluster joins the tail of the free list
            if c.on_nonfull:
                self.nonfull.remove(idx)
            del self.clusters[idx]
            self.dirty.discard(idx)
            self.dropped.add(idx)
            self.freed.append(idx)
            if self.cur is c:
                self.cur = None
            return
        self.dirty.add(idx)
        if not c.on_nonfull and c.count < SWAPFILE_CLUSTER and self.cur is not c:
            # partial_free_cluster: a full cluster with a hole goes to the nonfull tail
            c.on_nonfull = True
            self.nonfull.append(idx)

    def release_pending(self) -> int:
        """Free the slots held since the last commit; called just before committing."""
        n = len(self.pending_free)
        for offset in self.pending_free:
            c = self.clusters[offset // SWAPFILE_CLUSTER]
            self._release(c, offset % SWAPFILE_CLUSTER)
        self.pending_free.clear()
        return n

    # lookups -----------------------------------------------------------------------------
    def slot(self, offset: int) -> tuple[Cluster, int]:
        return self.clusters[offset // SWAPFILE_CLUSTER], offset % SWAPFILE_CLUSTER

    def count(self, offset: int) -> int:
        c = self.clusters.get(offset // SWAPFILE_CLUSTER)
        return 0 if c is None else c.map[offset % SWAPFILE_CLUSTER]

    def used_offsets(self):
        """Offsets of allocated slots (bad and reserved slots excluded), in order."""
        for idx in sorted(self.clusters):
            c = self.clusters[idx]
            base = idx * SWAPFILE_CLUSTER
            m = c.map
            for i in range(SWAPFILE_CLUSTER):
                v = m[i]
                if v and v != SWAP_MAP_BAD:
                    yield base + i

    @property
    def nr_clusters_touched(self) -> int:
        return len(self.clusters)

    # persistence -------------------------------------------------------------------------
    def state_bytes(self) -> bytes:
        """Allocator state that is not in the cluster records (lists, cursors)."""
        head = array("Q", [self.next_fresh, self.next_offset, self.inuse_pages,
                           len(self.freed), len(self.nonfull), len(self._special)])
        body = array("Q", [*self.freed, *self.nonfull, *sorted(self._special)])
        return head.tobytes() + body.tobytes()

    @classmethod
    def restore(
        cls, max_pages: int, state: bytes, clusters: dict[int, Cluster]
    ) -> SwapSlots:
        self = cls.__new__(cls)
        self.max = max_pages
        self.nr_clusters = (max_pages + SWAPFILE_CLUSTER - 1) // SWAPFILE_CLUSTER
        a = array("Q")
        a.frombytes(state)
        self.clusters = clusters
        self.cur = None
        self.cur_next = 0
        self.next_fresh, self.inuse_pages = a[0], a[2]
        self.next_offset = a[1]
        nfreed, nnonfull, nspecial = a[3], a[4], a[5]
        pos = 6
        self.freed = collections.deque(a[pos : pos + nfreed])
        pos += nfreed
        self.nonfull = collections.deque(a[pos : pos + nnonfull])
        pos += nnonfull
        self._special = set(a[pos : pos + nspecial])
        for idx in self.nonfull:
            c = clusters.get(idx)
            if c is not None:
                c.on_nonfull = True
        self.dirty = set()
        self.dropped = set()
        self.pending_free = []
        return self
