"""The fullness lists of ``ZsPool`` are intrusive lists in flat arrays (#18); before they were
an ``OrderedDict`` per (class, group). The persisted state must not change: random operation
sequences give the same ``to_bytes()``, the same pages and the same compaction as a verbatim
copy of the old class (below, ``OldZsPool``)."""

from __future__ import annotations

import errno
import random
import zlib
from array import array
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.errors import StateError
from ghostswap_cli.kernel.zpool import (
    _EMPTY_KEYS,
    _HEADER,
    _ZS_MAGIC,
    ZsPool,
    _pack,
    _PagePool,
    _unpack,
)
from ghostswap_cli.kernel.zsmalloc import (
    CONFIG_ZSMALLOC_CHAIN_SIZE,
    ZS_MAX_PAGES_PER_ZSPAGE_6_1,
    _class_tables,
)

# few classes, so that each has many zspages on its lists
lengths = st.one_of(st.sampled_from([64, 1030, 2000, 3050, 4096]), st.integers(1, 4096))


def _drive(new, old, steps, keyed):
    """Apply ("store", length, key) / ("free", pick, 0) / ("compact",) / ("reload",) to both
    pools, comparing what they report at every step and their saved state now and then.
    A pool's objects are all keyed (zswap's entries) or all key 0 (fsck's rebuilds): a key-0
    free takes the emptiest zspage's object, which may be a keyed one (as before #18)."""
    live: dict[int, int] = {}  # key -> class
    unnamed: list[int] = []  # classes of the key-0 objects
    for i, (op, x, y) in enumerate(steps):
        if op == "store":
            length = min(x, new.page_size)
            key = y if keyed and y not in live else 0
            if keyed and not key:
                continue
            c = new.obj_store(length, key)
            assert c == old.obj_store(length, key)
            if key:
                live[key] = c
            else:
                unnamed.append(c)
        elif op == "free" and (live or unnamed):
            if keyed:
                key = sorted(live)[x % len(live)]
                c = live.pop(key)
            else:
                key, c = 0, unnamed.pop(x % len(unnamed))
            new.obj_free(c, key)
            old.obj_free(c, key)
        elif op == "compact":
            assert new.compact() == old.compact()
        elif op == "reload":
            new, old = _reload(new), _reload(old)
        assert (new.pool_pages, new.zspages) == (old.pool_pages, old.zspages)
        if i % 97 == 0:
            assert new.to_bytes() == old.to_bytes()
    assert new.to_bytes() == old.to_bytes()
    assert list(new._free_ids) == list(old._free_ids)
    assert [new.can_compact(c) for c in range(new.nr_classes)] == \
        [old.can_compact(c) for c in range(old.nr_classes)]
    assert new.compact() == old.compact()
    assert new.to_bytes() == old.to_bytes()


def _reload(pool):
    """Saved and loaded again, each class with its own loader."""
    blob = pool.to_bytes()
    n, nkeys = _HEADER.unpack_from(blob)[6:8]
    return type(pool)._from_body(pool.page_size, pool.release, n, nkeys, blob[_HEADER.size:])


steps = st.lists(st.one_of(
    st.tuples(st.just("store"), lengths, st.integers(1, 300)),
    st.tuples(st.just("free"), st.integers(0, 1 << 16), st.just(0)),
    st.tuples(st.just("compact"), st.just(0), st.just(0)),
    st.tuples(st.just("reload"), st.just(0), st.just(0)),
), min_size=50, max_size=600)
releases = st.sampled_from(["6.1", "6.12", "6.18"])


@settings(max_examples=100, deadline=None)
@given(steps, releases, st.sampled_from([4096, 16384]), st.booleans())
def test_same_state_as_the_ordereddict_lists(sequence, release, page_size, keyed):
    _drive(ZsPool(page_size, release), OldZsPool(page_size, release), sequence, keyed)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 1 << 32), releases, st.integers(2, 6), st.booleans())
def test_same_state_over_long_walks(seed, release, nclasses, keyed):
    """Thousands of steps over a few classes: many zspages a list, frees that move zspages
    between groups in both directions, compactions with sources and destinations to pick."""
    rnd = random.Random(seed)
    sizes = rnd.sample([64, 200, 700, 1030, 1500, 2000, 2600, 3050, 3600, 4096], nclasses)
    walk = []
    for _ in range(3000):
        r = rnd.random()
        if r < 0.55:
            walk.append(("store", rnd.choice(sizes), rnd.randrange(1, 2000)))
        elif r < 0.995:
            walk.append(("free", rnd.randrange(1 << 16), 0))
        else:
            walk.append((rnd.choice(("compact", "reload")), 0, 0))
    _drive(ZsPool(4096, release), OldZsPool(4096, release), walk, keyed)


@pytest.mark.parametrize("release", ["6.1", "6.12", "6.18"])
def test_putback_behind_a_fuller_head(release):
    """6.1's ``insert_zspage`` puts a zspage behind the head of its list when it is emptier
    than the head; random walks reach that only through rare compactions, so here it is
    made to happen: Z1 (the head of ZS_ALMOST_FULL, 3/4 + 2 used) takes the few objects of Z2
    (ZS_ALMOST_EMPTY) and goes back behind Z0 (one object short of full)."""
    length = 64
    pools = ZsPool(4096, release), OldZsPool(4096, release)
    for pool in pools:
        c = pool.size_class(length)
        opz = pool.objs_per_zspage(c)
        for key in range(1, 3 * opz + 1):
            pool.obj_store(length, key)
        for zid, keep in enumerate((opz - 1, 3 * opz // 4 + 2, 2)):
            for key in range(zid * opz + 1 + keep, (zid + 1) * opz + 1):
                pool.obj_free(c, key)
        assert pool.compact() == pool.pages_per_zspage(c)
        pool.obj_store(length, 3 * opz + 1)
    new, old = pools
    assert new.to_bytes() == old.to_bytes()
    # the store after compaction went to the head of ZS_ALMOST_FULL: Z0 in 6.1 (Z1 went
    # behind it); in 6.4+ Z1 is put back at the head (its ratio group is Z0's or lower)
    head = new._where[3 * opz + 1] - 1
    if release == "6.1":
        assert head == 0


class OldZsPool(_PagePool):
    """ZsPool as it was before #18's flat fullness lists (commit 30e6714), verbatim."""

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
        self._lists: dict[int, list[OrderedDict[int, None]]] = {}
        self._zs_class = array("H")
        self._zs_inuse = array("I")
        self._zs_group = array("B")
        self._free_ids: list[int] = []
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

    def empty_copy(self) -> OldZsPool:
        return OldZsPool(self.page_size, self.release)

    # -- fullness ------------------------------------------------------------------------------
    def _group(self, inuse: int, opz: int) -> int:
        if inuse == 0:
            return 0
        if inuse == opz:
            return self.full_group
        if self.legacy:  # get_fullness_group(), fullness_threshold_frac 4
            return 1 if inuse <= 3 * opz // 4 else 2
        return (100 * inuse // opz) // 10 + 1

    def _class_lists(self, c: int) -> list[OrderedDict[int, None]]:
        lists = self._lists.get(c)
        if lists is None:
            lists = self._lists[c] = [OrderedDict() for _ in range(self.full_group + 1)]
        return lists

    def _insert(self, lists: list[OrderedDict[int, None]], group: int, zid: int) -> None:
        """``insert_zspage``: at the head; in 6.1 behind the head when emptier than it."""
        od = lists[group]
        head = next(iter(od), None) if self.legacy else None
        od[zid] = None
        od.move_to_end(zid, last=False)
        if head is not None and self._zs_inuse[zid] < self._zs_inuse[head]:
            od.move_to_end(head, last=False)
        self._zs_group[zid] = group

    def _new_zspage(self, c: int) -> int:
        if self._free_ids:
            zid = self._free_ids.pop()
            self._zs_class[zid] = c
            self._zs_inuse[zid] = 0
            self._zs_group[zid] = 0
        else:
            zid = len(self._zs_class)
            self._zs_class.append(c)
            self._zs_inuse.append(0)
            self._zs_group.append(0)
        self.pool_pages += self._ppz[c]
        return zid

    def _free_zspage(self, c: int, zid: int) -> None:
        self.pool_pages -= self._ppz[c]
        self._zs_group[zid] = 0
        self._free_ids.append(zid)

    def _refile(self, lists: list[OrderedDict[int, None]], zid: int, inuse: int, opz: int) -> None:
        """``fix_fullness_group``: move the zspage only when its group changed."""
        new = self._group(inuse, opz)
        old = self._zs_group[zid]
        if new != old:
            if old:
                del lists[old][zid]
            if new:
                self._insert(lists, new, zid)
            else:
                self._zs_group[zid] = 0

    # -- hot path ------------------------------------------------------------------------------
    def obj_store(self, length: int, key: int = 0) -> int:
        """``zs_malloc(length)``: the class index, or -ENOSPC / -EINVAL (nothing changed)."""
        if length > self.page_size:
            return -errno.ENOSPC
        if length <= 0:
            return -errno.EINVAL
        c = self._lookup[length]
        lists = self._lists.get(c) or self._class_lists(c)
        zid = -1
        for g in self._alloc_order:  # find_get_zspage
            od = lists[g]
            if od:
                zid = next(iter(od))
                break
        if zid < 0:
            zid = self._new_zspage(c)
        inuse = self._zs_inuse[zid] + 1
        self._zs_inuse[zid] = inuse
        opz = self._opz[c]
        # fix_fullness_group, with the common case (the group stays) inline
        old = self._zs_group[zid]
        if inuse == opz or old == 0 or self._group(inuse, opz) != old:
            self._refile(lists, zid, inuse, opz)
        self._objs[c] += 1
        self._stored += 1
        self._remember(key, zid)
        return c

    def obj_free(self, class_index: int, key: int = 0) -> None:
        """``zs_free()``: the object leaves its zspage; an empty zspage is freed at once."""
        if not 0 <= class_index < self.nr_classes or self._objs[class_index] <= 0:
            raise ValueError(f"zsmalloc class {class_index} has no object to free")
        lists = self._class_lists(class_index)
        zid = self._forget(key)
        if zid < 0 or self._zs_class[zid] != class_index or not self._zs_inuse[zid]:
            zid = self._emptiest(lists)
        inuse = self._zs_inuse[zid] - 1
        self._zs_inuse[zid] = inuse
        self._objs[class_index] -= 1
        self._stored -= 1
        if inuse == 0:
            old = self._zs_group[zid]
            if old:
                del lists[old][zid]
            self._free_zspage(class_index, zid)
        else:
            self._refile(lists, zid, inuse, self._opz[class_index])

    def _emptiest(self, lists: list[OrderedDict[int, None]]) -> int:
        for g in (*self._src_order, self.full_group):
            if lists[g]:
                return next(iter(lists[g]))
        raise ValueError("zsmalloc class has no zspage")  # pragma: no cover - objs > 0

    # -- compaction ----------------------------------------------------------------------------
    def can_compact(self, c: int) -> int:
        """``zs_can_compact``: pages compaction of class ``c`` could free."""
        opz = self._opz[c]
        if not opz:
            return 0
        allocated = sum(len(od) for od in self._lists.get(c, ())) * opz
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
        for c in sorted(self._lists, reverse=True):
            freed += (self._compact_class_6_1 if self.legacy else self._compact_class)(c, keys)
        self.pages_compacted += freed
        return freed

    def _isolate(self, lists: list[OrderedDict[int, None]], order: tuple[int, ...]) -> int:
        """``isolate_src_zspage``/``isolate_dst_zspage``: the head of the first non-empty list
        of ``order``, taken off its list (-1: none)."""
        for g in order:
            od = lists[g]
            if od:
                zid = next(iter(od))
                del od[zid]
                self._zs_group[zid] = 0
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
        lists = self._lists[c]
        if self._zs_inuse[zid] == 0:
            self._free_zspage(c, zid)
            return self._ppz[c]
        self._insert(lists, self._group(self._zs_inuse[zid], self._opz[c]), zid)
        return 0

    def _compact_class(self, c: int, keys: dict[int, list[int]]) -> int:
        """6.4 onwards (``__zs_compact`` of "zsmalloc: new compaction algorithm", the same in
        6.12 and 6.18): a destination first, the fullest zspage (``ZS_INUSE_RATIO_99`` down),
        then sources from the emptiest (``_10`` up) move into it until it is full; each source
        goes back on its list, or is freed when empty. Stops when ``zs_can_compact`` says no
        zspage's worth of slots is free, or no source or destination is left."""
        lists = self._lists[c]
        freed = 0
        dst = -1
        while self.can_compact(c):
            if dst < 0:
                dst = self._isolate(lists, self._alloc_order)
                if dst < 0:
                    break
            src = self._isolate(lists, self._src_order)
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
        lists = self._lists[c]
        freed = 0
        while self.can_compact(c):
            src = self._isolate(lists, self._src_order)
            if src < 0:
                break
            while self._zs_inuse[src]:
                dst = self._isolate(lists, self._alloc_order)
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
        for c in sorted(self._lists):
            for g, od in enumerate(self._lists[c]):
                for zid in od:  # list order, head first
                    zids.append(zid)
                    classes.append(c)
                    inuse.append(self._zs_inuse[zid])
                    groups.append(g)
        keys = self._body_keys()
        body = (_pack(zids) + _pack(classes) + _pack(inuse) + bytes(groups)
                + (zlib.compress(keys, 1) if keys else _EMPTY_KEYS))
        return self._header(self.pool_pages, len(zids), body, len(keys) // 4) + body

    @classmethod
    def _from_body(cls, page_size: int, release: str, n: int, nkeys: int, body: bytes) -> OldZsPool:
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
        seen = set()
        for zid, c, used, g in zip(zids, classes, inuse, groups, strict=True):
            if (zid in seen or c >= pool.nr_classes or pool._opz[c] == 0
                    or not 0 < used <= pool._opz[c] or pool._group(used, pool._opz[c]) != g):
                raise StateError(f"zsmalloc pool state names a bad zspage {zid}")
            seen.add(zid)
            pool._zs_class[zid] = c
            pool._zs_inuse[zid] = used
            pool._zs_group[zid] = g
            od = pool._class_lists(c)[g]
            od[zid] = None  # written head first: appending keeps the order
            pool._objs[c] += used
            pool._stored += used
            pool.pool_pages += pool._ppz[c]
        pool._free_ids = [z for z in range(size - 1, -1, -1) if z not in seen]
        pool._where = _unpack("I", keys)
        for pid in pool._where:
            if pid and pid - 1 not in seen:
                raise StateError("zsmalloc pool state maps an object to no zspage")
        return pool

    def __repr__(self) -> str:
        return (f"ZsPool(page_size={self.page_size}, release={self.release!r}, "
                f"objects={self._stored}, pool_pages={self.pool_pages})")
