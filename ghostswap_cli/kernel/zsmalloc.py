"""zsmalloc's size classes, as an accounting model of how many pages a zswap pool uses.

Mirrors mm/zsmalloc.c (6.12 through 6.18; the class computation has not changed since the
configurable chain size of 6.3, commit "zsmalloc: make zspage chain size configurable"):

* ``ZS_SIZE_CLASS_DELTA = PAGE_SIZE >> CLASS_BITS`` (CLASS_BITS 8): 16 bytes for 4 KiB pages.
* ``ZS_MIN_ALLOC_SIZE = MAX(32, ZS_MAX_PAGES_PER_ZSPAGE << PAGE_SHIFT >> OBJ_INDEX_BITS)``: 32 on
  every 64-bit configuration (OBJ_INDEX_BITS is 24 or more there), so 32 here.
* ``ZS_SIZE_CLASSES = DIV_ROUND_UP(PAGE_SIZE - ZS_MIN_ALLOC_SIZE, ZS_SIZE_CLASS_DELTA) + 1``:
  255 for 4 KiB pages, 257 for 64 KiB pages; the last class is clamped to PAGE_SIZE.
* ``calculate_zspage_chain_size()``: a power-of-two class uses one page; otherwise the chain
  length 1..CONFIG_ZSMALLOC_CHAIN_SIZE (default 8, Kconfig range 4..16) with the least tail waste
  ``(i * PAGE_SIZE) % size``, the first one on ties. ``objs_per_zspage = pages * PAGE_SIZE /
  size``.
* ``zs_create_pool()`` walks the classes from the largest down and lets a class share the
  ``struct size_class`` of the previously created (larger) one when ``can_merge()``: same
  ``pages_per_zspage`` and ``objs_per_zspage``. An object then occupies the larger class's
  slot; :meth:`ZsPoolModel.size_class` returns that shared class's index (what
  ``zs_lookup_class_index()`` returns).
* A class with one page and one object per zspage is "huge"; all of them merge into the last
  class (size PAGE_SIZE). ``zs_huge_class_size()`` is the first huge class size minus
  ``ZS_HANDLE_SIZE - 1``: objects of that length or more are stored one per page.
* ``zs_malloc(size)``: 0 -> ``-EINVAL``; more than PAGE_SIZE -> ``-ENOSPC`` (zswap counts that
  as ``reject_compress_poor``); otherwise the class is looked up for ``size + ZS_HANDLE_SIZE``
  (8 bytes, the handle kept in the object's head; huge objects keep it in the page instead, the
  lookup clamps to the last class). So a compressed length of exactly PAGE_SIZE is accepted.

What this does not model: which zspage holds which object. Pool size is counted as if each
class were fully compacted, ``ceil(objects / objs_per_zspage) * pages_per_zspage`` summed over
the classes, which is what ``zs_compact()`` converges to and a lower bound of the kernel's
``pages_allocated`` between compactions (fragmentation after frees can keep more zspages
alive). Machines no longer use it for zswap: every release has the page-level ``ZsPool`` of
zpool.py (6.12 and 6.18 since #19), whose ``pool_total_size`` counts the holes. It stays for its
class tables (which ``ZsPool`` shares), for reading states written before #19 (the machine
stores their entries again in a ``ZsPool``: ``Zswap.adopt_page_pool``) and as the compacted
lower bound.

>>> pool = ZsPoolModel()
>>> cls = pool.obj_store(1200)       # 1200 + 8 handle bytes -> the 1216-byte class
>>> pool.class_size(cls), pool.pages_per_zspage(cls), pool.objs_per_zspage(cls)
(1216, 3, 10)
>>> pool.pool_pages, pool.pool_total_size
(3, 12288)
"""

from __future__ import annotations

import errno
import functools
import struct
import zlib
from array import array
from collections.abc import Iterator
from typing import NamedTuple

from ghostswap_cli.errors import StateError

__all__ = (
    "ZsPoolModel",
    "SizeClassInfo",
    "calculate_zspage_chain_size",
    "get_pages_per_zspage",
    "ZS_MAX_PAGES_PER_ZSPAGE_6_1",
    "ZS_ALIGN",
    "ZS_HANDLE_SIZE",
    "ZS_MIN_ALLOC_SIZE",
    "CLASS_BITS",
    "CONFIG_ZSMALLOC_CHAIN_SIZE",
    "ZSMALLOC_CHAIN_SIZE_RANGE",
)

#: Object alignment inside a zspage (every class size is a multiple of it).
ZS_ALIGN = 8
#: sizeof(unsigned long) on 64-bit: the handle stored in each non-huge object's head.
ZS_HANDLE_SIZE = 8
#: 64-bit value of MAX(32, ZS_MAX_PAGES_PER_ZSPAGE << PAGE_SHIFT >> OBJ_INDEX_BITS).
ZS_MIN_ALLOC_SIZE = 32
#: ZS_SIZE_CLASS_DELTA = PAGE_SIZE >> CLASS_BITS.
CLASS_BITS = 8
#: mm/Kconfig default for ZSMALLOC_CHAIN_SIZE and its allowed range.
CONFIG_ZSMALLOC_CHAIN_SIZE = 8
ZSMALLOC_CHAIN_SIZE_RANGE = (4, 16)

_PAGE_SIZES = (4096, 8192, 16384, 32768, 65536)
_STATE_MAGIC = b"GSZS"
_STATE_VERSION = 1
# magic, version, page_size, chain_size, number of non-empty classes, crc32 of the arrays
_STATE_HEADER = struct.Struct("<4sHIHHI")


class SizeClassInfo(NamedTuple):
    """One ``struct size_class`` (a distinct class, after merging)."""

    index: int
    size: int
    pages_per_zspage: int
    objs_per_zspage: int

    @property
    def huge(self) -> bool:
        """One object per one-page zspage (``ZsHugePage``)."""
        return self.pages_per_zspage == 1 and self.objs_per_zspage == 1


def calculate_zspage_chain_size(class_size: int, page_size: int = 4096,
                                chain_size: int = CONFIG_ZSMALLOC_CHAIN_SIZE) -> int:
    """Pages per zspage for ``class_size``, as ``calculate_zspage_chain_size()``.

    >>> calculate_zspage_chain_size(208)   # waste 144, 80, 16, ... bytes for 1, 2, 3 pages
    3
    """
    if class_size & (class_size - 1) == 0:
        return 1
    best, min_waste = 1, None
    for i in range(1, chain_size + 1):
        waste = (i * page_size) % class_size
        if min_waste is None or waste < min_waste:
            min_waste, best = waste, i
    return best


#: 6.1 (before the configurable chain of 6.3): ZS_MAX_ZSPAGE_ORDER 2, at most 4 pages a zspage
ZS_MAX_PAGES_PER_ZSPAGE_6_1 = 4


def get_pages_per_zspage(class_size: int, page_size: int = 4096) -> int:
    """Pages per zspage in 6.1 (``get_pages_per_zspage()``): of 1..4 pages, the first with the
    highest integer percentage of the zspage used by whole objects.

    >>> get_pages_per_zspage(1040)   # 76, 88, 93, 95 percent used
    4
    """
    best, max_usedpc = 1, 0
    for i in range(1, ZS_MAX_PAGES_PER_ZSPAGE_6_1 + 1):
        zspage_size = i * page_size
        waste = zspage_size % class_size
        usedpc = (zspage_size - waste) * 100 // zspage_size
        if usedpc > max_usedpc:
            max_usedpc, best = usedpc, i
    return best


@functools.cache
def _class_tables(page_size: int, chain_size: int, legacy: bool = False) -> tuple[
        int, int, tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...],
        tuple[int, ...]]:
    """The immutable class tables of a pool, as zs_create_pool() builds them (cached).

    ``legacy``: the 6.1 table (``get_pages_per_zspage``, up to 4 pages); else 6.3 onwards.
    """
    delta = page_size >> CLASS_BITS
    nr = -(-(page_size - ZS_MIN_ALLOC_SIZE) // delta) + 1
    size = [0] * nr
    ppz = [0] * nr
    opz = [0] * nr
    canonical = [0] * nr
    distinct: list[int] = []
    huge_class_size = 0
    prev = -1
    for i in range(nr - 1, -1, -1):  # zs_create_pool(): largest first
        s = min(ZS_MIN_ALLOC_SIZE + i * delta, page_size)
        if legacy:
            p = get_pages_per_zspage(s, page_size)
        else:
            p = calculate_zspage_chain_size(s, page_size, chain_size)
        o = p * page_size // s
        if p != 1 and o != 1 and not huge_class_size:
            huge_class_size = s - (ZS_HANDLE_SIZE - 1)
        if prev >= 0 and ppz[prev] == p and opz[prev] == o:  # can_merge()
            canonical[i] = prev
            continue
        size[i], ppz[i], opz[i] = s, p, o
        canonical[i] = i
        distinct.append(i)
        prev = i
    # Length (0..PAGE_SIZE) -> class index, ZS_HANDLE_SIZE included: one tuple index per store
    # instead of the division and clamp of get_size_class_index().
    lookup = [0] * (page_size + 1)
    for length in range(1, page_size + 1):
        sz = length + ZS_HANDLE_SIZE
        idx = 0 if sz <= ZS_MIN_ALLOC_SIZE else -(-(sz - ZS_MIN_ALLOC_SIZE) // delta)
        lookup[length] = canonical[min(nr - 1, idx)]
    return (nr, huge_class_size, tuple(size), tuple(ppz), tuple(opz), tuple(sorted(distinct)),
            tuple(lookup))


class PoolTotals:
    """The two totals every pool model reports (this one and those of zpool.py)."""

    __slots__ = ()
    pool_pages: int
    page_size: int
    _stored: int

    @property
    def pool_total_size(self) -> int:
        """Bytes: ``pool_pages * PAGE_SIZE`` (debugfs ``zswap/pool_total_size``)."""
        return self.pool_pages * self.page_size

    @property
    def stored_objects(self) -> int:
        """Objects currently accounted, over all classes."""
        return self._stored


class ZsPoolModel(PoolTotals):
    """Object counts per zsmalloc size class, with the pool's page count kept up to date.

    ``obj_store(length)`` and ``obj_free(class_index)`` are O(1): one table lookup, one counter,
    and a pool-page adjustment when a class needs one more (or one fewer) zspage.
    """

    __slots__ = (
        "page_size", "chain_size", "nr_classes", "huge_class_size", "_lookup", "_size",
        "_ppz", "_opz", "_objs", "pool_pages", "_stored", "_distinct",
    )

    def __init__(self, page_size: int = 4096,
                 chain_size: int = CONFIG_ZSMALLOC_CHAIN_SIZE) -> None:
        if page_size not in _PAGE_SIZES:
            raise ValueError(f"page size {page_size} is not one of {_PAGE_SIZES}")
        lo, hi = ZSMALLOC_CHAIN_SIZE_RANGE
        if not lo <= chain_size <= hi:
            raise ValueError(f"zspage chain size {chain_size} outside {lo}..{hi}")
        self.page_size = page_size
        self.chain_size = chain_size
        (self.nr_classes, self.huge_class_size, self._size, self._ppz, self._opz,
         self._distinct, self._lookup) = _class_tables(page_size, chain_size)
        nr = self.nr_classes
        self._objs = [0] * nr
        #: Pages the pool would hold after compaction: the sum over classes of
        #: ``ceil(objects / objs_per_zspage) * pages_per_zspage`` (``zs_get_total_pages()`` once
        #: ``zs_compact()`` has run; the kernel can hold more between compactions). A plain
        #: attribute, kept current by obj_store/obj_free, because zswap reads it on every store.
        self.pool_pages = 0
        self._stored = 0

    # -- hot path ------------------------------------------------------------------------------

    def size_class(self, length: int) -> int:
        """Class index ``zs_malloc(length)`` would use (``zs_lookup_class_index(length + 8)``).

        Raises ValueError outside 1..PAGE_SIZE (``obj_store`` returns an errno instead).
        """
        if not 0 < length <= self.page_size:
            raise ValueError(f"object length {length} outside 1..{self.page_size}")
        return self._lookup[length]

    def obj_store(self, length: int, key: int = 0) -> int:
        """Account one object of ``length`` compressed bytes, as ``zs_malloc()``.

        Returns the class index (>= 0) to pass back to :meth:`obj_free`, or a negative errno
        without changing anything: ``-ENOSPC`` for ``length > PAGE_SIZE`` (zswap:
        ``reject_compress_poor``), ``-EINVAL`` for ``length <= 0``. ``key`` (the caller's name
        for the object) is for the zspage-level pools of ``zpool.py``; this model ignores it.
        """
        if length > self.page_size:
            return -errno.ENOSPC
        if length <= 0:
            return -errno.EINVAL
        c = self._lookup[length]
        n = self._objs[c]
        if n % self._opz[c] == 0:  # every zspage of the class is full: one more zspage
            self.pool_pages += self._ppz[c]
        self._objs[c] = n + 1
        self._stored += 1
        return c

    def obj_free(self, class_index: int, key: int = 0) -> None:
        """Forget one object of class ``class_index``, as ``zs_free()``.

        Raises ValueError if the class holds no object (a double free in the caller).
        """
        n = self._objs[class_index] - 1
        if n < 0:
            raise ValueError(f"zsmalloc class {class_index} has no object to free")
        self._objs[class_index] = n
        self._stored -= 1
        if n % self._opz[class_index] == 0:  # the last zspage emptied: compaction frees it
            self.pool_pages -= self._ppz[class_index]

    # -- totals (pool_total_size, stored_objects: PoolTotals) ----------------------------------

    @property
    def objects(self) -> tuple[int, ...]:
        """Objects per class, indexed by class index (0 for merged-away indices)."""
        return tuple(self._objs)

    # -- class information ---------------------------------------------------------------------

    def class_size(self, class_index: int) -> int:
        """Slot size in bytes of a class (``size_class->size``)."""
        return self._size[self._check_index(class_index)]

    def pages_per_zspage(self, class_index: int) -> int:
        return self._ppz[self._check_index(class_index)]

    def objs_per_zspage(self, class_index: int) -> int:
        return self._opz[self._check_index(class_index)]

    def is_huge(self, class_index: int) -> bool:
        i = self._check_index(class_index)
        return self._ppz[i] == 1 and self._opz[i] == 1

    def classes(self) -> Iterator[SizeClassInfo]:
        """The distinct classes, smallest first (rows of debugfs ``zsmalloc/<pool>/classes``)."""
        for i in self._distinct:
            yield SizeClassInfo(i, self._size[i], self._ppz[i], self._opz[i])

    def _check_index(self, class_index: int) -> int:
        if not 0 <= class_index < self.nr_classes or self._opz[class_index] == 0:
            raise ValueError(f"{class_index} is not a zsmalloc class index")
        return class_index

    # -- persistence ---------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The per-class counts, compactly: header + indices (u16) + counts (u64) of the
        non-empty classes, little-endian, with a CRC32."""
        idx = array("H", (i for i, n in enumerate(self._objs) if n))
        cnt = array("Q", (self._objs[i] for i in idx))
        if struct.pack("=H", 1) != struct.pack("<H", 1):  # pragma: no cover - big-endian host
            idx.byteswap()
            cnt.byteswap()
        body = idx.tobytes() + cnt.tobytes()
        head = _STATE_HEADER.pack(_STATE_MAGIC, _STATE_VERSION, self.page_size, self.chain_size,
                                  len(idx), zlib.crc32(body))
        return head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> ZsPoolModel:
        """Rebuild a model from :meth:`to_bytes`; :class:`StateError` if the bytes are not one."""
        if data[:4] in (b"GSZP", b"GSZB", b"GSZ3"):
            # a page-level pool (ghostswap_cli/kernel/zpool.py) has its own formats
            from ghostswap_cli.kernel.zpool import pool_from_bytes

            return pool_from_bytes(data)  # type: ignore[return-value]
        hs = _STATE_HEADER.size
        if len(data) < hs:
            raise StateError("zsmalloc pool state is truncated")
        magic, version, page_size, chain_size, n, crc = _STATE_HEADER.unpack_from(data)
        if magic != _STATE_MAGIC or version != _STATE_VERSION:
            raise StateError("zsmalloc pool state has an unknown format")
        body = data[hs:]
        if len(body) != n * 10 or zlib.crc32(body) != crc:
            raise StateError("zsmalloc pool state is corrupt (length or checksum)")
        try:
            model = cls(page_size, chain_size)
        except ValueError as exc:
            raise StateError(f"zsmalloc pool state is corrupt: {exc}") from None
        idx = array("H")
        idx.frombytes(body[: 2 * n])
        cnt = array("Q")
        cnt.frombytes(body[2 * n:])
        if struct.pack("=H", 1) != struct.pack("<H", 1):  # pragma: no cover - big-endian host
            idx.byteswap()
            cnt.byteswap()
        for i, c in zip(idx, cnt, strict=True):
            if i >= model.nr_classes or model._opz[i] == 0 or c == 0:
                raise StateError(f"zsmalloc pool state names a bad class {i}")
            model._objs[i] = c
            model._stored += c
            model.pool_pages += -(-c // model._opz[i]) * model._ppz[i]
        return model

    def empty_copy(self) -> ZsPoolModel:
        """A pool of the same kind and configuration, with nothing in it."""
        return ZsPoolModel(self.page_size, self.chain_size)

    def __repr__(self) -> str:
        return (f"ZsPoolModel(page_size={self.page_size}, chain_size={self.chain_size}, "
                f"objects={self._stored}, pool_pages={self.pool_pages})")
