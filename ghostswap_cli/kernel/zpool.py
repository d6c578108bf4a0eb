"""zswap's pool allocators at the level of their pages: which page holds which object.

``ZsPoolModel`` (zsmalloc.py) counts objects per size class and reports the pool as if it were
always compacted. The kernel's figure is not that: ``pool_total_size`` is every page the
allocator holds, and an object freed by a load or an invalidation leaves a hole in its page
until the page is empty or compaction moves its neighbours out. The pools here keep track of
each page (each zspage, for zsmalloc) and of which one every object is in, so frees leave the
holes the kernel leaves and ``pool_pages`` is the kernel's ``pages_allocated``.

``ZsPool``
    mm/zsmalloc.c. Size classes as the release computes them (6.1: ``get_pages_per_zspage``,
    at most 4 pages; 6.3 onwards, so 6.12 and 6.18: ``calculate_zspage_chain_size``, up to
    ``CONFIG_ZSMALLOC_CHAIN_SIZE`` pages, 8 by default). The machines of every release use it
    (6.12 and 6.18 since #19; before, their pool was ``ZsPoolModel``'s). Every class keeps
    its zspages on fullness lists and ``zs_malloc`` takes the head of the fullest non-full list
    (``find_get_zspage``): 6.1 has four groups (``ZS_EMPTY``, ``ZS_ALMOST_EMPTY`` up to 3/4
    used, ``ZS_ALMOST_FULL``, ``ZS_FULL``) and ``insert_zspage`` puts a zspage behind the head
    when it is emptier than the head; 6.4 onwards has eleven (``ZS_INUSE_RATIO_0`` ..
    ``_100`` in steps of 10%) and always inserts at the head. A zspage whose last object goes
    is freed at once (``free_zspage``). ``pool_pages`` is ``pool->pages_allocated``, what
    ``zs_get_total_pages()`` returns and zswap reports (6.1: ``zpool_get_total_size``; 6.12:
    ``zswap_total_pages()`` over ``zpool_get_total_pages``; 6.18, no zpool layer:
    ``zs_get_total_pages`` directly), so a pool with holes reports every page it holds.
    ``compact()`` is ``zs_compact()``: per class, largest first, objects move from the
    emptiest zspages into the fullest until no zspage's worth of slots is free (6.1: a source
    emptied into one destination after another; 6.4 onwards, 6.12 and 6.18: a destination
    filled from one source after another). The kernel runs it from the pool's shrinker
    (``zs_shrinker_scan``; 6.12 and 6.18: ``shrinker_alloc(0, "mm-zspool:%s")``, not
    ``SHRINKER_MEMCG_AWARE``), and zswap never calls it. ``shrink_slab`` for a cgroup other
    than the root calls memcg-aware shrinkers only, so cgroup reclaim (``memory.reclaim``,
    ``memory.max``: the only reclaim the simulator has, vmscan.py) never compacts; global
    reclaim and ``drop_caches`` do. On the real 6.1 of the oracle neither the
    ``memory.reclaim`` of the recorded fills (tests/fixtures/linux-6.1/) nor an ``echo 2 >
    drop_caches`` after their reads (a trial run: ``pool_total_size`` stayed 3403776 with
    zstd, 18489344 with lz4) freed anything, so nothing here calls it on its own, in any
    release; memory-pressure models can.
``Zbud``
    mm/zbud.c (6.1; removed in 6.15): one page holds at most two objects, first and last
    buddy, in 64-byte chunks after a one-chunk header; ``zbud_alloc`` takes the first page on
    the unbuddied list of the smallest free-chunk count that fits.
``Z3fold``
    mm/z3fold.c (6.1; removed in 6.13): up to three objects a page (first, middle, last) in
    64-byte chunks after a two-chunk header; objects over ``PAGE_SIZE - 192`` bytes get a
    headless page of their own. Simplified: a freed middle buddy is not moved down
    (``z3fold_compact_page``), and the per-CPU unbuddied lists are one list.

zswap passes its entry id as ``key`` to ``obj_store`` and ``obj_free``, so the pool can find the
page of the object being freed. Every pool also takes ``key`` 0 (an unnamed object; frees of one
take the object from the emptiest page), which is what the rebuilds of fsck use.

>>> pool = ZsPool(release="6.1")
>>> [pool.obj_store(1024, key) for key in (1, 2, 3)] == [pool.size_class(1024)] * 3
True
>>> pool.pool_pages   # one zspage of the 1040-byte class: 4 pages for 15 objects
4
>>> pool.obj_free(pool.size_class(1024), 2); pool.pool_pages   # a hole, not a page less
4
"""

from __future__ import annotations

import errno
import struct
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterator

from ghostswap_cli.errors import StateError
from ghostswap_cli.kernel.zsmalloc import (
    CONFIG_ZSMALLOC_CHAIN_SIZE,
    ZS_MAX_PAGES_PER_ZSPAGE_6_1,
    PoolTotals,
    ZsPoolModel,
    _class_tables,
)

# an empty object map, compressed once: zlib's deflate state is about 270 KB, more than the
# rest of a small pool's commit
_EMPTY_KEYS = zlib.compress(b"", 1)

#: no zspage: the end of a fullness list, an empty list's head
_NIL = 0xFFFFFFFF

__all__ = (
    "ZsPool",
    "Zbud",
    "Z3fold",
    "new_pool",
    "pool_from_bytes",
    "pool_pages_of",
    "ZPOOL_HEADER_SIZES",
)

#: Bytes zswap puts before each object in an evictable pool (6.1 ``struct zswap_header``, the
#: swap entry): zbud and z3fold can evict, zsmalloc could not until 6.4.
ZPOOL_HEADER_SIZES = {"zsmalloc": 0, "zbud": 8, "z3fold": 8}

_RELEASE_CODES = {"6.1": 1, "6.12": 12, "6.18": 18}
_CODE_RELEASES = {v: k for k, v in _RELEASE_CODES.items()}

# magic, version, page_size, release code, pages, objects, zspages, keys, crc32 of the body
_HEADER = struct.Struct("<4sHIHQQIII")
_ZS_MAGIC = b"GSZP"
_ZBUD_MAGIC = b"GSZB"
_Z3_MAGIC = b"GSZ3"
_VERSION = 1


def _pack(arr: array) -> bytes:
    if struct.pack("=H", 1) != struct.pack("<H", 1):  # pragma: no cover - big-endian host
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def _unpack(typecode: str, data: bytes) -> array:
    arr = array(typecode)
    arr.frombytes(data)
    if struct.pack("=H", 1) != struct.pack("<H", 1):  # pragma: no cover - big-endian host
        arr.byteswap()
    return arr


class _PagePool(PoolTotals):
    """What the three allocators share: an object -> page map by key, page records, state."""

    kind = ""
    magic = b""

    def __init__(self, page_size: int, release: str) -> None:
        if release not in _RELEASE_CODES:
            raise ValueError(f"unknown release {release!r}")
        self.page_size = page_size
        self.release = release
        self.pool_pages = 0
        self._stored = 0
        self._where = array("I")  # key -> page id + 1 (0: no object under that key)

    # -- keys ----------------------------------------------------------------------------------
    def _remember(self, key: int, pid: int) -> None:
        if key:
            where = self._where
            if key >= len(where):
                where.frombytes(bytes(4 * (key + 1 - len(where) + 1024)))
            where[key] = pid + 1

    def _forget(self, key: int) -> int:
        """The page of object ``key`` (and the key is forgotten), or -1 if it is unknown."""
        where = self._where
        if key and key < len(where) and where[key]:
            pid = where[key] - 1
            where[key] = 0
            return pid
        return -1

    def _body_keys(self) -> bytes:
        n = len(self._where)
        while n and not self._where[n - 1]:
            n -= 1
        return _pack(self._where[:n])

    def _header(self, pages: int, records: int, body: bytes, nkeys: int) -> bytes:
        return _HEADER.pack(self.magic, _VERSION, self.page_size, _RELEASE_CODES[self.release],
                            self.pool_pages, self._stored, records, nkeys, zlib.crc32(body))


class ZsPool(_PagePool):
    """zsmalloc with its zspages: holes after frees, fullness lists, compaction."""

    kind = "zsmalloc"
    magic = _ZS_MAGIC

    def __init__(self, page_size: int = 4096, release: str = "6.18") -> None:
        super().__init__(page_size, release)
        self.legacy = release == "6.1"
        self.chain_size = ZS_MAX_PAGES_PER_ZSPAGE_6_1 if self.legacy else CONFIG_ZSMALLOC_CHAIN_SIZE
        (self.nr_classes, self.huge_class_size, self._size, self._ppz, self._opz,
         self._distinct, self._lookup) = _class_tables(page_size, self.chain_size, self.legacy)
        self._objs = [0] * self.nr_classes
        # 6.1: ZS_EMPTY 0, ZS_ALMOST_EMPTY 1, ZS_ALMOST_FULL 2, ZS_FULL 3;
        # 6.4+: ZS_INUSE_RATIO_0 .. ZS_INUSE_RATIO_99 = 0..10, ZS_INUSE_RATIO_100 = 11
        self.full_group = 3 if self.legacy else 11
        self._alloc_order = (2, 1) if self.legacy else tuple(range(10, 0, -1))
        self._src_order = (1, 2) if self.legacy else tuple(range(1, 11))
        # The fullness lists are intrusive doubly-linked lists through flat arrays indexed by
        # zspage id (the kernel's zspage->list): 8 bytes a zspage where an OrderedDict entry
        # cost over 100 (#18). Head of list (class c, group g): _heads[c * _ngroups + g].
        # A zspage is on a list exactly when its _zs_group is not 0 (ZS_EMPTY/_RATIO_0 zspages
        # are freed at once, isolated ones are off every list).
        self._ngroups = self.full_group + 1
        self._heads = array("I", [_NIL]) * (self.nr_classes * self._ngroups)
        self._listed = array("I", bytes(4 * self.nr_classes))  # zspages on the class's lists
        self._zs_class = array("H")
        self._zs_inuse = array("I")
        self._zs_group = array("B")
        self._zs_prev = array("I")
        self._zs_next = array("I")
        self._free_ids = array("I")  # popped from the end: the last freed id is reused first
        #: pages freed by compaction (``zs_pool_stats.pages_compacted``), this process only
        self.pages_compacted = 0

    # -- classes (as ZsPoolModel) --------------------------------------------------------------
    def size_class(self, length: int) -> int:
        if not 0 < length <= self.page_size:
            raise ValueError(f"object length {length} outside 1..{self.page_size}")
        return self._lookup[length]

    def class_size(self, class_index: int) -> int:
        return self._size[class_index]

    def pages_per_zspage(self, class_index: int) -> int:
        return self._ppz[class_index]

    def objs_per_zspage(self, class_index: int) -> int:
        return self._opz[class_index]

    @property
    def objects(self) -> tuple[int, ...]:
        return tuple(self._objs)

    @property
    def zspages(self) -> int:
        """Allocated zspages (``OBJ_ALLOCATED`` / objs_per_zspage summed over the classes)."""
        return len(self._zs_class) - len(self._free_ids)

    def empty_copy(self) -> ZsPool:
        return ZsPool(self.page_size, self.release)

    # -- fullness ------------------------------------------------------------------------------
    def _group(self, inuse: int, opz: int) -> int:
        if inuse == 0:
            return 0
        if inuse == opz:
            return self.full_group
        if self.legacy:  # get_fullness_group(), fullness_threshold_frac 4
            return 1 if inuse <= 3 * opz // 4 else 2
        return (100 * inuse // opz) // 10 + 1

    def _walk(self, c: int, g: int) -> Iterator[int]:
        """The zspages on list (``c``, ``g``), head first."""
        zid = self._heads[c * self._ngroups + g]
        nxt = self._zs_next
        while zid != _NIL:
            yield zid
            zid = nxt[zid]

    def _insert(self, c: int, group: int, zid: int) -> None:
        """``insert_zspage``: at the head; in 6.1 behind the head when emptier than it."""
        heads, prv, nxt = self._heads, self._zs_prev, self._zs_next
        i = c * self._ngroups + group
        head = heads[i]
        if self.legacy and head != _NIL and self._zs_inuse[zid] < self._zs_inuse[head]:
            after = nxt[head]
            prv[zid] = head
            nxt[zid] = after
            nxt[head] = zid
            if after != _NIL:
                prv[after] = zid
        else:
            prv[zid] = _NIL
            nxt[zid] = head
            if head != _NIL:
                prv[head] = zid
            heads[i] = zid
        self._zs_group[zid] = group
        self._listed[c] += 1

    def _unlink(self, c: int, zid: int) -> None:
        """``remove_zspage``: off the list of its group (which must not be 0)."""
        prv, nxt = self._zs_prev, self._zs_next
        p, n = prv[zid], nxt[zid]
        if p != _NIL:
            nxt[p] = n
        else:
            self._heads[c * self._ngroups + self._zs_group[zid]] = n
        if n != _NIL:
            prv[n] = p
        self._zs_group[zid] = 0
        self._listed[c] -= 1

    def _new_zspage(self, c: int) -> int:
        if self._free_ids:
            zid = self._free_ids.pop()
            self._zs_class[zid] = c
            self._zs_inuse[zid] = 0
            self._zs_group[zid] = 0
        else:
            zid = len(self._zs_class)
            if zid >= _NIL:  # pragma: no cover - 2**32 zspages
                raise MemoryError("zsmalloc: zspage ids exhausted")
            self._zs_class.append(c)
            self._zs_inuse.append(0)
            self._zs_group.append(0)
            self._zs_prev.append(_NIL)
            self._zs_next.append(_NIL)
        self.pool_pages += self._ppz[c]
        return zid

    def _free_zspage(self, c: int, zid: int) -> None:
        self.pool_pages -= self._ppz[c]
        self._zs_group[zid] = 0
        self._free_ids.append(zid)

    def _refile(self, c: int, zid: int, inuse: int, opz: int) -> None:
        """``fix_fullness_group``: move the zspage only when its group changed."""
        new = self._group(inuse, opz)
        if new != self._zs_group[zid]:
            if self._zs_group[zid]:
                self._unlink(c, zid)
            if new:
                self._insert(c, new, zid)

    # -- hot path ------------------------------------------------------------------------------
    def obj_store(self, length: int, key: int = 0) -> int:
        """``zs_malloc(length)``: the class index, or -ENOSPC / -EINVAL (nothing changed)."""
        if length > self.page_size:
            return -errno.ENOSPC
        if length <= 0:
            return -errno.EINVAL
        c = self._lookup[length]
        heads = self._heads
        base = c * self._ngroups
        zid = _NIL
        for g in self._alloc_order:  # find_get_zspage
            zid = heads[base + g]
            if zid != _NIL:
                break
        if zid == _NIL:
            zid = self._new_zspage(c)
        inuse = self._zs_inuse[zid] + 1
        self._zs_inuse[zid] = inuse
        opz = self._opz[c]
        # fix_fullness_group, with the common case (the group stays) inline
        old = self._zs_group[zid]
        if inuse == opz or old == 0 or self._group(inuse, opz) != old:
            self._refile(c, zid, inuse, opz)
        self._objs[c] += 1
        self._stored += 1
        self._remember(key, zid)
        return c

    def obj_free(self, class_index: int, key: int = 0) -> None:
        """``zs_free()``: the object leaves its zspage; an empty zspage is freed at once."""
        if not 0 <= class_index < self.nr_classes or self._objs[class_index] <= 0:
            raise ValueError(f"zsmalloc class {class_index} has no object to free")
        zid = self._forget(key)
        if zid < 0 or self._zs_class[zid] != class_index or not self._zs_inuse[zid]:
            zid = self._emptiest(class_index)
        inuse = self._zs_inuse[zid] - 1
        self._zs_inuse[zid] = inuse
        self._objs[class_index] -= 1
        self._stored -= 1
        if inuse == 0:
            if self._zs_group[zid]:
                self._unlink(class_index, zid)
            self._free_zspage(class_index, zid)
        else:
            self._refile(class_index, zid, inuse, self._opz[class_index])

    def _emptiest(self, c: int) -> int:
        base = c * self._ngroups
        for g in (*self._src_order, self.full_group):
            if self._heads[base + g] != _NIL:
                return self._heads[base + g]
        raise ValueError("zsmalloc class has no zspage")  # pragma: no cover - objs > 0

    # -- compaction ----------------------------------------------------------------------------
    def can_compact(self, c: int) -> int:
        """``zs_can_compact``: pages compaction of class ``c`` could free."""
        opz = self._opz[c]
        if not opz:
            return 0
        allocated = self._listed[c] * opz
        return (allocated - self._objs[c]) // opz * self._ppz[c]

    def compact(self) -> int:
        """``zs_compact()``: every class, largest first; returns the pages freed. Keys move
        with their objects. Which objects of a zspage move is not modelled (the kernel takes
        them in slot order): only which zspage each ends in matters to later frees."""
        keys: dict[int, list[int]] = {}
        for key, pid in enumerate(self._where):
            if pid:
                keys.setdefault(pid - 1, []).append(key)
        freed = 0
        for c in range(self.nr_classes - 1, -1, -1):
            if not self._listed[c]:
                continue
            freed += (self._compact_class_6_1 if self.legacy else self._compact_class)(c, keys)
        self.pages_compacted += freed
        return freed

    def _isolate(self, c: int, order: tuple[int, ...]) -> int:
        """``isolate_src_zspage``/``isolate_dst_zspage``: the head of the first non-empty list
        of ``order``, taken off its list (-1: none)."""
        base = c * self._ngroups
        for g in order:
            zid = self._heads[base + g]
            if zid != _NIL:
                self._unlink(c, zid)
                return zid
        return -1

    def _migrate(self, c: int, src: int, dst: int, keys: dict[int, list[int]]) -> None:
        """``migrate_zspage``: objects of ``src`` into ``dst`` until one is full or empty."""
        n = min(self._opz[c] - self._zs_inuse[dst], self._zs_inuse[src])
        moving = keys.get(src, [])[:n]
        if moving:
            del keys[src][:len(moving)]
            keys.setdefault(dst, []).extend(moving)
            for key in moving:
                self._where[key] = dst + 1
        self._zs_inuse[src] -= n
        self._zs_inuse[dst] += n

    def _putback(self, c: int, zid: int) -> int:
        """``putback_zspage``: onto the list of its group; an empty zspage is freed (its pages
        returned). Returns the pages freed."""
        if self._zs_inuse[zid] == 0:
            self._free_zspage(c, zid)
            return self._ppz[c]
        self._insert(c, self._group(self._zs_inuse[zid], self._opz[c]), zid)
        return 0

    def _compact_class(self, c: int, keys: dict[int, list[int]]) -> int:
        """6.4 onwards (``__zs_compact`` of "zsmalloc: new compaction algorithm", the same in
        6.12 and 6.18): a destination first, the fullest zspage (``ZS_INUSE_RATIO_99`` down),
        then sources from the emptiest (``_10`` up) move into it until it is full; each source
        goes back on its list, or is freed when empty. Stops when ``zs_can_compact`` says no
        zspage's worth of slots is free, or no source or destination is left."""
        freed = 0
        dst = -1
        while self.can_compact(c):
            if dst < 0:
                dst = self._isolate(c, self._alloc_order)
                if dst < 0:
                    break
            src = self._isolate(c, self._src_order)
            if src < 0:
                break
            self._migrate(c, src, dst, keys)
            freed += self._putback(c, src)
            if self._zs_inuse[dst] == self._opz[c]:
                self._putback(c, dst)
                dst = -1
        if dst >= 0:
            self._putback(c, dst)
        return freed

    def _compact_class_6_1(self, c: int, keys: dict[int, list[int]]) -> int:
        """6.1 (``__zs_compact`` before 6.4): a source first, the head of ``ZS_ALMOST_EMPTY``
        (then ``ZS_ALMOST_FULL``), emptied into destinations from ``ZS_ALMOST_FULL`` (then
        ``ZS_ALMOST_EMPTY``) one after another, until no zspage's worth of slots is free."""
        freed = 0
        while self.can_compact(c):
            src = self._isolate(c, self._src_order)
            if src < 0:
                break
            while self._zs_inuse[src]:
                dst = self._isolate(c, self._alloc_order)
                if dst < 0:
                    break
                self._migrate(c, src, dst, keys)
                self._putback(c, dst)
            if self._zs_inuse[src]:
                self._putback(c, src)
                break
            freed += self._putback(c, src)
        return freed

    # -- persistence ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        zids, classes, inuse, groups = array("I"), array("H"), array("I"), array("B")
        for c in range(self.nr_classes):
            if not self._listed[c]:
                continue
            for g in range(self._ngroups):
                for zid in self._walk(c, g):  # list order, head first
                    zids.append(zid)
                    classes.append(c)
                    inuse.append(self._zs_inuse[zid])
                    groups.append(g)
        keys = self._body_keys()
        body = (_pack(zids) + _pack(classes) + _pack(inuse) + bytes(groups)
                + (zlib.compress(keys, 1) if keys else _EMPTY_KEYS))
        return self._header(self.pool_pages, len(zids), body, len(keys) // 4) + body

    @classmethod
    def _from_body(cls, page_size: int, release: str, n: int, nkeys: int, body: bytes) -> ZsPool:
        pool = cls(page_size, release)
        if len(body) < 11 * n:
            raise StateError("zsmalloc pool state is truncated")
        zids = _unpack("I", body[: 4 * n])
        classes = _unpack("H", body[4 * n: 6 * n])
        inuse = _unpack("I", body[6 * n: 10 * n])
        groups = body[10 * n: 11 * n]
        try:
            keys = zlib.decompress(body[11 * n:])
        except zlib.error:
            raise StateError("zsmalloc pool state is corrupt (object map)") from None
        if len(keys) != 4 * nkeys or (n and max(zids) >= 1 << 24):
            raise StateError("zsmalloc pool state is corrupt (object map)")
        size = max(zids) + 1 if n else 0
        pool._zs_class = array("H", bytes(2 * size))
        pool._zs_inuse = array("I", bytes(4 * size))
        pool._zs_group = array("B", bytes(size))
        pool._zs_prev = array("I", [_NIL]) * size
        pool._zs_next = array("I", [_NIL]) * size
        tails: dict[int, int] = {}  # list index -> its last zspage so far
        seen = set()
        for zid, c, used, g in zip(zids, classes, inuse, groups, strict=True):
            if (zid in seen or c >= pool.nr_classes or pool._opz[c] == 0
                    or not 0 < used <= pool._opz[c] or pool._group(used, pool._opz[c]) != g):
                raise StateError(f"zsmalloc pool state names a bad zspage {zid}")
            seen.add(zid)
            pool._zs_class[zid] = c
            pool._zs_inuse[zid] = used
            pool._zs_group[zid] = g
            i = c * pool._ngroups + g  # written head first: appending keeps the order
            tail = tails.get(i, _NIL)
            if tail == _NIL:
                pool._heads[i] = zid
            else:
                pool._zs_next[tail] = zid
                pool._zs_prev[zid] = tail
            tails[i] = zid
            pool._listed[c] += 1
            pool._objs[c] += used
            pool._stored += used
            pool.pool_pages += pool._ppz[c]
        pool._free_ids = array("I", (z for z in range(size - 1, -1, -1) if z not in seen))
        pool._where = _unpack("I", keys)
        for pid in pool._where:
            if pid and pid - 1 not in seen:
                raise StateError("zsmalloc pool state maps an object to no zspage")
        return pool

    def __repr__(self) -> str:
        return (f"ZsPool(page_size={self.page_size}, release={self.release!r}, "
                f"objects={self._stored}, pool_pages={self.pool_pages})")


class _BuddyPool(_PagePool):
    """zbud and z3fold: one page per record, ``free`` chunks on lists by free-chunk count."""

    header_chunks = 1
    slots = 2

    def __init__(self, page_size: int = 4096, release: str = "6.1") -> None:
        super().__init__(page_size, release)
        # CHUNK_SHIFT = PAGE_SHIFT - NCHUNKS_ORDER (6): 64-byte chunks with 4 KiB pages
        self.chunk_shift = page_size.bit_length() - 1 - 6
        self.chunk = 1 << self.chunk_shift
        self.nchunks = (page_size >> self.chunk_shift) - self.header_chunks
        # the largest object a page with a header takes (larger: -ENOSPC, or headless z3fold)
        self.max_size = page_size - self.header_chunks * self.chunk - self.chunk
        self._unbuddied: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(self.nchunks + 1)]
        self._used = array("H")  # chunks in use per page (header excluded)
        self._count = array("B")  # objects per page
        self._chunks_of: dict[int, int] = {}  # key -> chunks (to free the right amount)
        self._free_ids: list[int] = []
        self._headless = 0

    def size_class(self, length: int) -> int:
        if not 0 < length <= self.page_size:
            raise ValueError(f"object length {length} outside 1..{self.page_size}")
        return 0

    @property
    def objects(self) -> tuple[int, ...]:
        return (self._stored,)

    def empty_copy(self) -> _BuddyPool:
        return type(self)(self.page_size, self.release)

    def _free_chunks(self, pid: int) -> int:
        return self.nchunks - self._used[pid]

    def _file(self, pid: int) -> None:
        if self._count[pid] < self.slots:
            od = self._unbuddied[self._free_chunks(pid)]
            od[pid] = None
            od.move_to_end(pid, last=False)  # list_add: at the head

    def _unfile(self, pid: int) -> None:
        if self._count[pid] < self.slots:
            del self._unbuddied[self._free_chunks(pid)][pid]

    def obj_store(self, length: int, key: int = 0) -> int:
        if length <= 0:
            return -errno.EINVAL
        if length > self.page_size:
            return -errno.ENOSPC
        if length > self.max_size:
            if not self.headless_ok:
                return -errno.ENOSPC
            self._headless += 1
            self.pool_pages += 1
            self._stored += 1
            if key:
                self._chunks_of[key] = -1
            return 0
        chunks = (length + self.chunk - 1) >> self.chunk_shift
        pid = -1
        for i in range(chunks, self.nchunks + 1):  # for_each_unbuddied_list(i, chunks)
            od = self._unbuddied[i]
            if od:
                pid = next(iter(od))
                break
        if pid < 0:
            if self._free_ids:
                pid = self._free_ids.pop()
                self._used[pid] = 0
                self._count[pid] = 0
            else:
                pid = len(self._used)
                self._used.append(0)
                self._count.append(0)
            self.pool_pages += 1
        else:
            self._unfile(pid)
        self._used[pid] += chunks
        self._count[pid] += 1
        self._file(pid)
        self._stored += 1
        self._remember(key, pid)
        if key:
            self._chunks_of[key] = chunks
        return 0

    def obj_free(self, class_index: int, key: int = 0) -> None:
        if self._stored <= 0:
            raise ValueError(f"{self.kind} pool has no object to free")
        chunks = self._chunks_of.pop(key, None) if key else None
        if chunks == -1:
            self._headless -= 1
            self.pool_pages -= 1
            self._stored -= 1
            return
        pid = self._forget(key)
        if pid < 0 or not self._count[pid]:
            pid = next((p for od in self._unbuddied for p in od), -1)
            if pid < 0:
                pid = next(p for p in range(len(self._count)) if self._count[p])
            chunks = self._used[pid] // self._count[pid]
        self._unfile(pid)
        self._used[pid] -= chunks or 0
        self._count[pid] -= 1
        self._stored -= 1
        if self._count[pid] == 0:
            self.pool_pages -= 1
            self._free_ids.append(pid)
        else:
            self._file(pid)

    headless_ok = False

    def to_bytes(self) -> bytes:
        n = len(self._used)
        order = array("I")
        for od in self._unbuddied:
            order.extend(od)
        keys = self._body_keys()
        chunk_keys = array("I", sorted(self._chunks_of))
        chunk_vals = array("i", (self._chunks_of[k] for k in chunk_keys))
        body = (struct.pack("<IIII", n, len(order), len(chunk_keys), self._headless)
                + _pack(self._used) + _pack(self._count) + _pack(order) + _pack(chunk_keys)
                + _pack(chunk_vals) + (zlib.compress(keys, 1) if keys else _EMPTY_KEYS))
        return self._header(self.pool_pages, n, body, len(keys) // 4) + body

    @classmethod
    def _from_body(cls, page_size: int, release: str, n: int, nkeys: int, body: bytes):
        pool = cls(page_size, release)
        try:
            n2, norder, nck, headless = struct.unpack_from("<IIII", body)
            off = 16
            used = _unpack("H", body[off: off + 2 * n2])
            off += 2 * n2
            count = _unpack("B", body[off: off + n2])
            off += n2
            order = _unpack("I", body[off: off + 4 * norder])
            off += 4 * norder
            ck = _unpack("I", body[off: off + 4 * nck])
            off += 4 * nck
            cv = _unpack("i", body[off: off + 4 * nck])
            off += 4 * nck
            keys = zlib.decompress(body[off:])
        except (struct.error, zlib.error, ValueError):
            raise StateError(f"{cls.kind} pool state is corrupt") from None
        if n2 != n or len(used) != n or len(count) != n or len(keys) != 4 * nkeys:
            raise StateError(f"{cls.kind} pool state is corrupt")
        pool._used, pool._count, pool._headless = used, count, headless
        for pid in range(n):
            if count[pid] > pool.slots or used[pid] > pool.nchunks:
                raise StateError(f"{cls.kind} pool state names a bad page {pid}")
            if count[pid]:
                pool.pool_pages += 1
                pool._stored += count[pid]
            else:
                pool._free_ids.append(pid)
        for pid in order:
            if pid >= n or not 0 < count[pid] < pool.slots:
                raise StateError(f"{cls.kind} pool state lists a bad page {pid}")
            pool._unbuddied[pool._free_chunks(pid)][pid] = None
        pool._free_ids.reverse()
        pool.pool_pages += headless
        pool._stored += headless
        pool._chunks_of = dict(zip(ck, cv, strict=True))
        pool._where = _unpack("I", keys)
        return pool

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(page_size={self.page_size}, objects={self._stored}, "
                f"pool_pages={self.pool_pages})")


class Zbud(_BuddyPool):
    """mm/zbud.c: two buddies a page, NCHUNKS = 63 with 4 KiB pages."""

    kind = "zbud"
    magic = _ZBUD_MAGIC
    header_chunks = 1  # ZHDR_SIZE_ALIGNED = CHUNK_SIZE
    slots = 2


class Z3fold(_BuddyPool):
    """mm/z3fold.c: three buddies a page after a 128-byte header (NCHUNKS 62); headless pages
    for objects above PAGE_SIZE - ZHDR_SIZE_ALIGNED - CHUNK_SIZE."""

    kind = "z3fold"
    magic = _Z3_MAGIC
    header_chunks = 2  # sizeof(struct z3fold_header) is 84 bytes on x86-64: 2 chunks
    slots = 3
    headless_ok = True


_KINDS = {"zsmalloc": ZsPool, "zbud": Zbud, "z3fold": Z3fold}
_BY_MAGIC = {cls.magic: cls for cls in _KINDS.values()}


def new_pool(kind: str, page_size: int, release: str):
    """An empty pool of allocator ``kind`` (``zsmalloc``, ``zbud`` or ``z3fold``)."""
    cls = _KINDS[kind]
    return cls(page_size, release)


def pool_from_bytes(data: bytes):
    """Any pool from its ``to_bytes()`` (ZsPoolModel's own format included)."""
    if data[:4] not in _BY_MAGIC:
        return ZsPoolModel.from_bytes(data)
    if len(data) < _HEADER.size:
        raise StateError("zswap pool state is truncated")
    magic, version, page_size, code, pages, objects, n, nkeys, crc = _HEADER.unpack_from(data)
    body = data[_HEADER.size:]
    if version != _VERSION or code not in _CODE_RELEASES:
        raise StateError("zswap pool state has an unknown format")
    if zlib.crc32(body) != crc:
        raise StateError("zswap pool state is corrupt (checksum)")
    cls = _BY_MAGIC[magic]
    try:
        pool = cls._from_body(page_size, _CODE_RELEASES[code], n, nkeys, body)
    except ValueError as e:
        raise StateError(f"zswap pool state is corrupt: {e}") from None
    if pool.pool_pages != pages or pool.stored_objects != objects:
        raise StateError("zswap pool state is corrupt (totals)")
    return pool


def pool_pages_of(data: bytes) -> int:
    """``pool_pages`` of a persisted pool, from its header alone where it has one."""
    if data[:4] in _BY_MAGIC and len(data) >= _HEADER.size:
        return _HEADER.unpack_from(data)[4]
    return ZsPoolModel.from_bytes(data).pool_pages
