"""zswap: a compressed cache of swap pages, with real compression and a real pool.

Mirrors mm/zswap.c (store/load logic of 6.18, which matches late-2025 source; ghost changes from
the RFC), organised like it: statistics, data structures, LRU, writeback, store/load.

* ``zswap_store`` is a ladder of early rejections, each bumping one counter named like its
  debugfs file. It checks the global limit with the accept-threshold hysteresis
  (``zswap_check_limits``), compresses, refuses an output that is not smaller than a page
  (``reject_compress_poor``; 6.12 accepted exactly PAGE_SIZE, 6.18 stores such pages raw when the
  cgroup allows writeback: both are simplified to a reject here, as the ghost RFC needs), and
  stores the object in a page-level zsmalloc pool (zpool.py ``ZsPool``: the release's size
  classes and zspage chains, holes left by frees until a zspage empties), whose allocated pages
  are ``pool_total_size``. A state written before #19 has a ``ZsPoolModel`` (a pool always
  compacted): ``adopt_page_pool`` stores its entries again in a page-level pool when it loads.
* On a rejected store while the pool is full, the global shrink worker runs (synchronously, at
  once, where the kernel queues it): it writes back least recently used entries until the pool
  is under the accept threshold or it failed ``MAX_RECLAIM_RETRIES`` times. With the RFC it is
  only started when a real (non-ghost) swapfile is available; writeback of an entry whose slot
  is on a ghost is refused with -EINVAL (``reject_reclaim_fail``).
* The LRU gives every new entry a second chance (``referenced``), as ``shrink_memcg_cb``.

With the ``distro-6.1`` configuration the store is 6.1's ``zswap_frontswap_store`` instead
(``zswap_frontswap_store`` below: same-filled entries, the zpool's 8-byte header for zbud and
z3fold, 6.1's limit checks and its one-page shrink), on a page-level pool of zpool.py.

Entries live in parallel arrays indexed by an entry id (id 0 is never used), so a stored page
costs 20 bytes of process memory, not a Python object: handle (4), length (2), slot offset (4),
LRU links (2 x 4), flags (1: the referenced bit, and the swap type in the top five bits: a slot
is (type, offset) with ``si->max`` an unsigned int, so 37 bits, not the 64 of a swp_entry_t),
compressor (1). ``e_swp`` is a view that composes the swap entry from the offset and the type.
"""

from __future__ import annotations

import errno
from array import array
from typing import TYPE_CHECKING

from ghostswap_cli.errors import StateError
from ghostswap_cli.kernel.cluster import LOC_ZSWAP, ZSWAP_E_TYPE_SHIFT
from ghostswap_cli.kernel.compressors import (
    SAME_FILLED_ID,
    DecompressError,
    compressor_by_id,
    compressor_id,
    get_compressor,
)
from ghostswap_cli.kernel.zpool import ZPOOL_HEADER_SIZES, new_pool
from ghostswap_cli.kernel.zsmalloc import ZsPoolModel
from ghostswap_cli.uapi import SWAPFILE_CLUSTER, SWP_OFFSET_MASK, SWP_TYPE_SHIFT

if TYPE_CHECKING:
    from ghostswap_cli.kernel.arena import Arena
    from ghostswap_cli.kernel.machine import Kernel

__all__ = ("Zswap", "ENTRY_BYTES", "ENTRY_CHUNK", "E_REFERENCED", "E_TYPE_SHIFT",
           "MAX_RECLAIM_RETRIES", "entry_record_v1_to_v2")

MAX_RECLAIM_RETRIES = 16
ZSWAP_PARAMS = "/sys/module/zswap/parameters/"
ENTRY_CHUNK = 4096  # entries per persisted record

E_REFERENCED = 1  # second chance on the LRU
E_TYPE_SHIFT = ZSWAP_E_TYPE_SHIFT  # e_flags bits 3..7: the slot's swap type (MAX_SWAPFILES_SHIFT 5)
_FLAG_BITS = (1 << E_TYPE_SHIFT) - 1
#: bytes per entry in a persisted record (and in memory): handle, len, offset, prev, next,
#: flags, compressor
ENTRY_BYTES = 4 + 2 + 4 + 4 + 4 + 1 + 1
_V1_ENTRY_BYTES = 24  # schema 1: the slot as a 64-bit swp_entry_t, flags with no type


def entry_record_v1_to_v2(data: bytes) -> bytes:
    """A schema-1 entry record (``e_swp`` as 64-bit swap entries) in the schema-2 layout; a
    record that is not well formed comes back unchanged (the loader or fsck reports it)."""
    if not isinstance(data, bytes) or len(data) < 4:
        return data
    n = int.from_bytes(data[:4], "little")
    if n > ENTRY_CHUNK or len(data) != 4 + _V1_ENTRY_BYTES * n:
        return data
    pos = 4 + 6 * n
    swp = array("Q")
    swp.frombytes(data[pos : pos + 8 * n])
    if max(swp, default=0) >> SWP_TYPE_SHIFT >= 1 << (8 - E_TYPE_SHIFT) or any(
            (s & SWP_OFFSET_MASK) >> 32 for s in swp):
        return data  # not representable: left for fsck to report
    off = array("I", (s & SWP_OFFSET_MASK for s in swp))
    links = data[pos + 8 * n : pos + 16 * n]
    old_flags = data[pos + 16 * n : pos + 17 * n]
    flags = bytes((f & _FLAG_BITS) | ((s >> SWP_TYPE_SHIFT) << E_TYPE_SHIFT if s else 0)
                  for f, s in zip(old_flags, swp, strict=True))
    return b"".join((data[: 4 + 6 * n], off.tobytes(), links, flags, data[pos + 17 * n :]))


class _SwpView:
    """``e_swp[eid]``: the swap entry (type, offset) of entry ``eid``, 0 if it is free, read
    from and written to ``e_off`` and the type bits of ``e_flags`` (for fsck, repair and
    tests; the hot paths read the arrays)."""

    __slots__ = ("z",)

    def __init__(self, z: Zswap) -> None:
        self.z = z

    def __len__(self) -> int:
        return len(self.z.e_off)

    def __getitem__(self, eid: int) -> int:
        z = self.z
        off = z.e_off[eid]
        return (z.e_flags[eid] >> E_TYPE_SHIFT) << SWP_TYPE_SHIFT | off if off else 0

    def __setitem__(self, eid: int, swp: int) -> None:
        z = self.z
        off = swp & SWP_OFFSET_MASK
        type_ = swp >> SWP_TYPE_SHIFT
        if off >> 32 or type_ >> (8 - E_TYPE_SHIFT):
            raise ValueError(f"swap entry {type_}:{off} does not fit a zswap entry")
        z.e_off[eid] = off
        z.e_flags[eid] = (z.e_flags[eid] & _FLAG_BITS) | (type_ << E_TYPE_SHIFT if off else 0)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def count(self, value: int) -> int:
        if value == 0:
            return self.z.e_off.count(0)
        return sum(1 for v in self if v == value)

_EMPTY_I = array("I")
_EMPTY_H = array("H")


class Zswap:
    """The zswap pool of one simulated machine."""

    def __init__(self, k: Kernel, arena: Arena, model: ZsPoolModel) -> None:
        self.k = k
        self.arena = arena
        self.model = model
        self.page_size = k.page_size
        # entry arrays, index = entry id
        self.e_handle = array("I", [0])
        self.e_len = array("H", [0])
        self.e_off = array("I", [0])  # the slot's offset; 0: a free entry
        self.e_prev = array("I", [0])
        self.e_next = array("I", [0])
        self.e_flags = bytearray(1)
        self.e_comp = bytearray(1)
        self.e_swp = _SwpView(self)
        self.free_ids = array("I")
        self.lru_head = 0
        self.lru_tail = 0
        self.stored_pages = 0
        self.pool_reached_full = False
        self.dirty: set[int] = set()
        self._comp_cache: dict[int, object] = {}
        # stores refused for a reason the kernel has no counter for (this process only)
        self.session = {"pool_limit": 0, "disabled": 0}
        self.counters = k.counters
        self.refresh()

    # --- tunables ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the module parameters (after a write to /sys/module/zswap/parameters)."""
        k = self.k
        self.enabled = k.params[ZSWAP_PARAMS + "enabled"] == "Y"
        name = k.params[ZSWAP_PARAMS + "compressor"]
        level = int(k.params.get("/sys/kernel/ghostswap/compressor_level", "0") or 0) or None
        self.compressor = get_compressor(name, level)
        self.compress = self.compressor.compress
        self.comp_id = compressor_id(self.compressor.name)
        self.max_pool_pages = k.totalram_pages * int(k.params[ZSWAP_PARAMS + "max_pool_percent"]) // 100
        self.accept_pages = (
            self.max_pool_pages * int(k.params[ZSWAP_PARAMS + "accept_threshold_percent"]) // 100
        )
        #: 6.1: frontswap's zswap (same-filled entries, zpool choice, its limit checks)
        self.v61 = k.release == "6.1"
        self.hlen = 0
        if self.v61:
            self.same_filled_enabled = k.params[ZSWAP_PARAMS + "same_filled_pages_enabled"] == "Y"
            self.non_same_filled_enabled = (
                k.params[ZSWAP_PARAMS + "non_same_filled_pages_enabled"] == "Y")
            zpool = k.params[ZSWAP_PARAMS + "zpool"]
            kind = getattr(self.model, "kind", "zsmalloc")
            if kind != zpool and self.model.stored_objects == 0:
                # the kernel makes a new pool; entries of the old one stay in it (here: an
                # old pool with entries keeps taking new ones until it is empty)
                self.model = new_pool(zpool, self.page_size, "6.1")
                kind = zpool
            self.hlen = ZPOOL_HEADER_SIZES[kind]  # struct zswap_header in evictable pools
            # zswap_accept_thr_pages of 6.1: totalram * thr / 100 * max / 100
            self.accept_pages = (k.totalram_pages * int(k.params[ZSWAP_PARAMS + "accept_threshold_percent"])
                                 // 100 * int(k.params[ZSWAP_PARAMS + "max_pool_percent"]) // 100)

    def current_compressor(self):
        return self.compressor

    def max_pages(self) -> int:
        """``zswap_max_pages``: totalram_pages * max_pool_percent / 100."""
        return self.max_pool_pages

    def accept_thr_pages(self) -> int:
        """``zswap_accept_thr_pages``: max_pages * accept_threshold_percent / 100."""
        return self.accept_pages

    def total_pages(self) -> int:
        return self.model.pool_pages

    def check_limits(self) -> bool:
        """``zswap_check_limits``: True while stores must be refused."""
        cur = self.model.pool_pages
        if cur >= self.max_pool_pages:
            self.k.counters["pool_limit_hit"] += 1
            self.pool_reached_full = True
        elif self.pool_reached_full and cur <= self.accept_pages:
            self.pool_reached_full = False
        return self.pool_reached_full

    # --- entries ----------------------------------------------------------------------------
    def _alloc_id(self) -> int:
        """A new entry id at the end of the arrays (the caller reuses free ids first)."""
        eid = len(self.e_handle)
        self.e_handle.append(0)
        self.e_len.append(0)
        self.e_off.append(0)
        self.e_prev.append(0)
        self.e_next.append(0)
        self.e_flags.append(0)
        self.e_comp.append(0)
        return eid

    def _lru_add(self, eid: int) -> None:
        tail = self.lru_tail
        self.e_prev[eid] = tail
        self.e_next[eid] = 0
        if tail:
            self.e_next[tail] = eid
            self.dirty.add(tail >> 12)
        else:
            self.lru_head = eid
        self.lru_tail = eid

    def _lru_del(self, eid: int) -> None:
        prev = self.e_prev[eid]
        nxt = self.e_next[eid]
        if prev:
            self.e_next[prev] = nxt
            self.dirty.add(prev >> 12)
        else:
            self.lru_head = nxt
        if nxt:
            self.e_prev[nxt] = prev
            self.dirty.add(nxt >> 12)
        else:
            self.lru_tail = prev
        self.e_prev[eid] = self.e_next[eid] = 0

    def _entry_free(self, eid: int) -> None:
        """``zswap_entry_free``: unlink from the LRU, free the object, uncharge."""
        e_prev = self.e_prev
        e_next = self.e_next
        dirty = self.dirty
        chunk = eid >> 12
        prev = e_prev[eid]
        nxt = e_next[eid]
        if prev:
            e_next[prev] = nxt
            if prev >> 12 != chunk:
                dirty.add(prev >> 12)
        else:
            self.lru_head = nxt
        if nxt:
            e_prev[nxt] = prev
            if nxt >> 12 != chunk:
                dirty.add(nxt >> 12)
        else:
            self.lru_tail = prev
        e_prev[eid] = e_next[eid] = 0
        length = self.e_len[eid]
        # deferred=None: the arena holds back any extent the last committed state may use
        self.arena.free(self.e_handle[eid], length)
        model = self.model
        try:
            if self.e_comp[eid] == SAME_FILLED_ID:  # 6.1: no pool object behind it
                self.k.counters["same_filled_pages"] -= 1
            else:
                model.obj_free(model.size_class(length + self.hlen), eid)
        except ValueError:
            # the persisted model does not account this entry: the state is inconsistent
            raise StateError(
                f"zswap entry {eid}: the pool model does not account it (the state is "
                f"inconsistent); run `ghostswap kernel fsck --repair`"
            ) from None
        self.e_off[eid] = 0
        self.e_flags[eid] = 0
        self.free_ids.append(eid)
        dirty.add(chunk)
        self.stored_pages -= 1

    # --- store / load -----------------------------------------------------------------------
    def zswap_store(self, swp: int, page: bytes, compressed: bytes | None = None) -> int:
        """Store ``page`` for swap entry ``swp``; returns the entry id, or 0 if rejected.

        ``compressed``, when given, is ``page`` compressed by the current compressor.
        """
        if not self.enabled:
            self.session["disabled"] += 1
            return 0
        if self.v61:
            return self.zswap_frontswap_store(swp, page, compressed)
        model = self.model
        # zswap_check_limits, with its no-op case (under the limit, not full) inline
        if (self.pool_reached_full or model.pool_pages >= self.max_pool_pages) and self.check_limits():
            self.session["pool_limit"] += 1
            self._reject_while_full()
            return 0
        data = self.compress(page) if compressed is None else compressed
        dlen = len(data)
        if dlen >= self.page_size:
            self.k.counters["reject_compress_poor"] += 1
            self._reject_while_full()
            return 0
        free_ids = self.free_ids
        eid = free_ids.pop() if free_ids else self._alloc_id()
        if model.obj_store(dlen, eid) < 0:  # pragma: no cover - dlen < PAGE_SIZE here
            free_ids.append(eid)
            self.k.counters["reject_alloc_fail"] += 1
            return 0
        return self._insert_entry(eid, swp, data, dlen, self.comp_id)

    def _insert_entry(self, eid: int, swp: int, data: bytes, dlen: int, comp_id: int) -> int:
        self.e_handle[eid] = self.arena.store(data)
        self.e_len[eid] = dlen
        self.e_off[eid] = swp & SWP_OFFSET_MASK
        self.e_flags[eid] = E_REFERENCED | (swp >> SWP_TYPE_SHIFT) << E_TYPE_SHIFT
        self.e_comp[eid] = comp_id
        self.e_next[eid] = 0
        # list_lru_add at the tail
        tail = self.lru_tail
        self.e_prev[eid] = tail
        chunk = eid >> 12
        dirty = self.dirty
        if tail:
            self.e_next[tail] = eid
            if tail >> 12 != chunk:
                dirty.add(tail >> 12)
        else:
            self.lru_head = eid
        self.lru_tail = eid
        dirty.add(chunk)
        self.stored_pages += 1
        self.counters["zswpout"] += 1
        return eid

    def zswap_frontswap_store(self, swp: int, page: bytes, compressed: bytes | None) -> int:
        """6.1's store (mm/zswap.c ``zswap_frontswap_store``, frontswap era).

        Limits first: over ``max_pool_percent`` (strictly more pages) is ``pool_limit_hit``
        and a queued shrink, after which stores wait for the pool to fall below the accept
        threshold. A page of one repeated word is stored as that word (``same_filled_pages``,
        counted in ``stored_pages``; no pool object). Otherwise it is compressed; output that
        does not fit in PAGE_SIZE fails the compressor (no counter in 6.1), and what the zpool
        refuses (zbud/z3fold: too big for a page with a header; zsmalloc: more than a page)
        is ``reject_compress_poor``. zbud and z3fold objects carry zswap's 8-byte header.
        """
        k = self.k
        model = self.model
        if model.pool_pages > self.max_pool_pages:  # zswap_is_full()
            k.counters["pool_limit_hit"] += 1
            self.pool_reached_full = True
            self.session["pool_limit"] += 1
            self.shrink_worker_6_1()
            return 0
        if self.pool_reached_full:
            if not self.accept_pages > model.pool_pages:  # zswap_can_accept()
                self.session["pool_limit"] += 1
                return 0
            self.pool_reached_full = False
        ps = self.page_size
        free_ids = self.free_ids
        if self.same_filled_enabled and page[:8] * (ps // 8) == page:
            eid = free_ids.pop() if free_ids else self._alloc_id()
            k.counters["same_filled_pages"] += 1
            return self._insert_entry(eid, swp, page[:8], 8, SAME_FILLED_ID)
        if not self.non_same_filled_enabled:
            self.session["non_same_filled"] = self.session.get("non_same_filled", 0) + 1
            return 0
        data = self.compress(page) if compressed is None else compressed
        dlen = len(data)
        if dlen > ps:
            # the crypto compressor ran out of room in its PAGE_SIZE output: -EINVAL
            self.session["compress_fail"] = self.session.get("compress_fail", 0) + 1
            return 0
        eid = free_ids.pop() if free_ids else self._alloc_id()
        ret = model.obj_store(dlen + self.hlen, eid)
        if ret < 0:
            free_ids.append(eid)
            k.counters["reject_compress_poor" if ret == -errno.ENOSPC else "reject_alloc_fail"] += 1
            return 0
        return self._insert_entry(eid, swp, data, dlen, self.comp_id)

    def shrink_worker_6_1(self) -> None:
        """6.1's ``shrink_worker``: ``zpool_shrink(pool, 1)`` evicts one pool page.

        zsmalloc could not evict until 6.4 (``-EINVAL``: ``reject_reclaim_fail``). zbud and
        z3fold write back the entries of their least recently used page; here, entries from
        the LRU head until a pool page is freed (at most three, a z3fold page's worth).
        """
        if getattr(self.model, "kind", "zsmalloc") == "zsmalloc":
            self.k.counters["reject_reclaim_fail"] += 1
            return
        before = self.model.pool_pages
        for _ in range(3):
            eid = self.lru_head
            if not eid:
                break
            self._lru_del(eid)
            self._lru_add(eid)
            if self.zswap_writeback_entry(eid):
                self.k.counters["reject_reclaim_fail"] += 1
                return
            self.k.counters["written_back_pages"] += 1
            if self.model.pool_pages < before:
                return

    def _reject_while_full(self) -> None:
        # RFC: only queue the shrink worker when a real swapfile can take the writeback
        if self.pool_reached_full and (
            self.k.personality != "ghost" or self.k.nr_real_swapfiles() > 0
        ):
            self.shrink_worker()

    def decompress(self, eid: int) -> bytes | None:
        """The page stored in entry ``eid``, or None if it cannot be decompressed."""
        data = self.arena.read(self.e_handle[eid], self.e_len[eid])
        cid = self.e_comp[eid]
        comp = self._comp_cache.get(cid)
        if comp is None:
            comp = self._comp_cache[cid] = compressor_by_id(cid)
        try:
            return comp.decompress(data, self.page_size)
        except DecompressError:
            self.k.counters["decompress_fail"] += 1
            return None

    def zswap_load(self, eid: int) -> bytes | None:
        """``zswap_load``: decompress and free the entry (exclusive load). None on failure."""
        data = self.arena.read(self.e_handle[eid], self.e_len[eid])
        cid = self.e_comp[eid]
        comp = self._comp_cache.get(cid)
        if comp is None:
            comp = self._comp_cache[cid] = compressor_by_id(cid)
        try:
            page = comp.decompress(data, self.page_size)
            self.counters["zswpin"] += 1
        except DecompressError:
            self.counters["decompress_fail"] += 1
            page = None
        self._entry_free(eid)
        return page

    def zswap_invalidate(self, eid: int) -> None:
        self._entry_free(eid)

    # --- writeback --------------------------------------------------------------------------
    def zswap_writeback_entry(self, eid: int) -> int:
        """Write entry ``eid`` back to its slot; 0 or a negative errno (RFC: ghost -> -EINVAL)."""
        offset = self.e_off[eid]
        type_ = self.e_flags[eid] >> E_TYPE_SHIFT
        si = self.k.swap_info_for_type(type_)
        if si is None:
            return -errno.ENOENT
        if si.is_ghost:
            return -errno.EINVAL
        c = si.slots.clusters.get(offset // SWAPFILE_CLUSTER) if si.slots is not None else None
        j = offset % SWAPFILE_CLUSTER
        if c is None or not 0 < offset < si.max or c.loc[j] != LOC_ZSWAP or c.ref[j] != eid:
            # never write a page to a slot that is not its own: a corrupt index must not
            # overwrite another page's data (or the file past its swap area)
            raise StateError(
                f"zswap entry {eid}: slot {type_}:{offset} does not point back "
                f"at it (the state is inconsistent); run `ghostswap kernel fsck --repair`"
            )
        page = self.decompress(eid)
        if page is None:
            return -errno.EIO
        self.k.page_io.swap_writepage_disk(si, offset, page)
        self._entry_free(eid)
        self.k.mm.note_written_back(si, offset)
        self.k.counters["zswpwb"] += 1
        return 0

    def shrink_one(self) -> int:
        """``shrink_memcg`` for one entry: 0 if written back, else a negative errno."""
        eid = self.lru_head
        if not eid:
            return -errno.ENOENT
        # rotate first, as shrink_memcg_cb does, so a failed entry ends at the tail
        self._lru_del(eid)
        self._lru_add(eid)
        if self.e_flags[eid] & E_REFERENCED:
            self.e_flags[eid] &= ~E_REFERENCED
            self.dirty.add(eid >> 12)
            return -errno.EAGAIN
        ret = self.zswap_writeback_entry(eid)
        if ret:
            self.k.counters["reject_reclaim_fail"] += 1
        else:
            self.k.counters["written_back_pages"] += 1
        return ret

    def shrink_worker(self) -> None:
        """Write back LRU entries until the pool is under the accept threshold."""
        thr = self.accept_thr_pages()
        failures = 0
        while self.model.pool_pages > thr:
            ret = self.shrink_one()
            if ret == -errno.ENOENT:
                break
            if ret:
                failures += 1
                if failures == MAX_RECLAIM_RETRIES:
                    break

    # --- persistence ------------------------------------------------------------------------
    def chunk_bytes(self, chunk: int) -> bytes:
        lo = chunk * ENTRY_CHUNK
        hi = min(lo + ENTRY_CHUNK, len(self.e_handle))
        return b"".join(
            (
                (hi - lo).to_bytes(4, "little"),
                self.e_handle[lo:hi].tobytes(),
                self.e_len[lo:hi].tobytes(),
                self.e_off[lo:hi].tobytes(),
                self.e_prev[lo:hi].tobytes(),
                self.e_next[lo:hi].tobytes(),
                bytes(self.e_flags[lo:hi]),
                bytes(self.e_comp[lo:hi]),
            )
        )

    def ensure_size(self, n: int) -> None:
        """Grow the entry arrays to ``n`` ids (new ids are free slots of the arrays)."""
        grow = n - len(self.e_handle)
        if grow > 0:
            self.e_handle.frombytes(bytes(4 * grow))
            self.e_len.frombytes(bytes(2 * grow))
            self.e_off.frombytes(bytes(4 * grow))
            self.e_prev.frombytes(bytes(4 * grow))
            self.e_next.frombytes(bytes(4 * grow))
            self.e_flags.extend(bytes(grow))
            self.e_comp.extend(bytes(grow))

    def load_chunk(self, chunk: int, data: bytes) -> None:
        n = int.from_bytes(data[:4], "little")
        lo = chunk * ENTRY_CHUNK
        if len(data) == 4 + _V1_ENTRY_BYTES * n and n:  # schema 1, read before migrating
            data = entry_record_v1_to_v2(data)
        if n > ENTRY_CHUNK or len(data) != 4 + ENTRY_BYTES * n:
            raise ValueError(f"zswap entry record {chunk}: {len(data)} bytes for {n} entries")
        self.ensure_size(lo + n)
        pos = 4
        for arr, width in (
            (self.e_handle, 4), (self.e_len, 2), (self.e_off, 4), (self.e_prev, 4), (self.e_next, 4)
        ):
            part = array(arr.typecode)
            part.frombytes(data[pos : pos + width * n])
            arr[lo : lo + n] = part
            pos += width * n
        self.e_flags[lo : lo + n] = data[pos : pos + n]
        pos += n
        self.e_comp[lo : lo + n] = data[pos : pos + n]

    def state_bytes(self) -> bytes:
        head = array(
            "Q",
            [self.lru_head, self.lru_tail, self.stored_pages, int(self.pool_reached_full),
             len(self.e_handle), len(self.free_ids)],
        )
        return head.tobytes() + self.free_ids.tobytes()

    def restore_state(self, data: bytes) -> int:
        head = array("Q")
        head.frombytes(data[:48])
        self.lru_head, self.lru_tail, self.stored_pages = head[0], head[1], head[2]
        self.pool_reached_full = bool(head[3])
        nfree = head[5]
        self.free_ids = array("I")
        self.free_ids.frombytes(data[48 : 48 + 4 * nfree])
        return head[4]

    def adopt_page_pool(self, old: ZsPoolModel):
        """The page-level pool for a state whose pool is the compacted ``ZsPoolModel`` (6.12
        and 6.18 machines before #19): the entries' objects stored again, oldest first on the
        LRU (the order they came in), so every object has its zspage and frees leave holes from
        now on. Stored in that order, each class fills one zspage after another, so the pool has
        the pages the old model counted (``pool_total_size`` does not move on the upgrade).

        If the entries do not add up to the old model's objects (a state fsck must repair),
        the pool gets the old model's counts instead, without keys, so that fsck still sees the
        mismatch and its rebuild stores the entries.
        """
        from ghostswap_cli.kernel.zsmalloc import ZS_HANDLE_SIZE

        k = self.k
        pool = (k.new_zswap_pool() if k.release != "6.1"
                else new_pool("zsmalloc", self.page_size, "6.1"))
        seen = bytearray(len(self.e_swp))
        order = []
        eid = self.lru_head
        while eid and eid < len(seen) and not seen[eid]:
            seen[eid] = 1
            order.append(eid)
            eid = self.e_next[eid]
        order += [e for e in self.live_entries() if not seen[e]]
        ps = self.page_size
        for eid in order:
            length = self.e_len[eid]
            if self.e_swp[eid] and 0 < length < ps and self.e_comp[eid] != SAME_FILLED_ID:
                pool.obj_store(length + self.hlen, eid)
        if pool.objects == old.objects:
            return pool
        pool = pool.empty_copy()
        for c, n in enumerate(old.objects):
            if n and c < pool.nr_classes and pool.objs_per_zspage(c):
                length = pool.class_size(c) - ZS_HANDLE_SIZE  # the class's own slot
                for _ in range(n):
                    pool.obj_store(length)
        return pool

    def live_entries(self):
        off = self.e_off
        for eid in range(1, len(off)):
            if off[eid]:
                yield eid
