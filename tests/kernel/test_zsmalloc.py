"""zsmalloc size classes and pool accounting, checked against hand arithmetic with the kernel's
formulas (mm/zsmalloc.c) and against the table in the kernel's Documentation/mm/zsmalloc.rst."""

from __future__ import annotations

import errno
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.errors import StateError
from ghostswap_cli.kernel.zsmalloc import (
    ZS_HANDLE_SIZE,
    SizeClassInfo,
    ZsPoolModel,
    calculate_zspage_chain_size,
)


@pytest.fixture(scope="module")
def pool4k() -> ZsPoolModel:
    return ZsPoolModel(4096, 8)


def test_class_count_and_delta() -> None:
    # ZS_SIZE_CLASSES = DIV_ROUND_UP(PAGE_SIZE - 32, PAGE_SIZE >> 8) + 1
    assert ZsPoolModel(4096).nr_classes == 4064 // 16 + 1 == 255
    assert ZsPoolModel(65536).nr_classes == math.ceil((65536 - 32) / 256) + 1 == 257
    sizes = [c.size for c in ZsPoolModel(4096).classes()]
    assert sizes[0] == 32 and sizes[-1] == 4096
    assert all((s - 32) % 16 == 0 for s in sizes[:-1])


# Hand-computed rows, 4 KiB pages, chain size 8. waste(i) = (i * 4096) % size; the chain length
# with the least waste wins, the first one on ties; power-of-two sizes use one page.
HAND_ROWS = [
    # index, size, pages_per_zspage, objs_per_zspage
    # 32 is a power of two: 1 page, 4096 / 32 = 128 objects.
    (0, 32, 1, 128),
    # 48: waste 16 (1 page), 32 (2 pages), 0 (3 pages) -> 3 pages, 12288 / 48 = 256.
    (1, 48, 3, 256),
    # 208 (the example in "zsmalloc: rework zspage chain size selection"): waste 144, 80, 16,
    # 160, 96, 32, 176, 112 -> 3 pages, 12288 // 208 = 59.
    (11, 208, 3, 59),
    # 1216: waste 448, 896, 128, 576, 1024, 256, 704, 1152 -> 3 pages, 12288 // 1216 = 10.
    (74, 1216, 3, 10),
    # 1024 is a power of two: 1 page, 4 objects.
    (62, 1024, 1, 4),
    # 3632: waste 464, 928, 1392, 1856, 2320, 2784, 3248, 80 -> 8 pages, 32768 // 3632 = 9: the
    # largest non-huge class for chain size 8.
    (225, 3632, 8, 9),
    # 4096: 1 page, 1 object: the huge class.
    (254, 4096, 1, 1),
]


@pytest.mark.parametrize(("index", "size", "ppz", "opz"), HAND_ROWS)
def test_class_rows_match_hand_computation(pool4k: ZsPoolModel, index: int, size: int,
                                           ppz: int, opz: int) -> None:
    assert pool4k.class_size(index) == size
    assert pool4k.pages_per_zspage(index) == ppz
    assert pool4k.objs_per_zspage(index) == opz
    assert SizeClassInfo(index, size, ppz, opz) in list(pool4k.classes())


def test_calculate_zspage_chain_size_examples() -> None:
    assert calculate_zspage_chain_size(208) == 3
    assert calculate_zspage_chain_size(3632, 4096, 8) == 8
    assert calculate_zspage_chain_size(3632, 4096, 4) == 1  # waste 464, 928, 1392, 1856
    assert calculate_zspage_chain_size(2048) == 1


def test_merged_class_uses_the_larger_slot(pool4k: ZsPoolModel) -> None:
    # Class 61 (1008 bytes): waste 64, 128, ..., 512 for 1..8 pages -> 1 page, 4 objects: the
    # same characteristics as class 62 (1024), so can_merge() makes 61 share class 62.
    # A 1000-byte object needs 1008 bytes with its handle and lands in the 1024-byte slot.
    assert pool4k.size_class(1000) == 62
    assert pool4k.class_size(pool4k.size_class(1000)) == 1024
    with pytest.raises(ValueError):
        pool4k.class_size(61)  # merged away: not a class of its own


def test_handle_bytes_are_added_before_the_lookup(pool4k: ZsPoolModel) -> None:
    assert ZS_HANDLE_SIZE == 8
    assert pool4k.size_class(24) == 0  # 24 + 8 = 32
    assert pool4k.size_class(25) == 1  # 33 -> the 48-byte class
    assert pool4k.size_class(1) == 0


def test_huge_class_boundary(pool4k: ZsPoolModel) -> None:
    # zs_huge_class_size() = 3632 - (ZS_HANDLE_SIZE - 1) = 3625.
    assert pool4k.huge_class_size == 3625
    assert pool4k.size_class(3624) == 225  # 3632 bytes with the handle: still a normal class
    assert not pool4k.is_huge(225)
    assert pool4k.size_class(3625) == 254  # 3633 -> a huge class, merged into the 4096 one
    assert pool4k.is_huge(254)
    assert pool4k.size_class(4096) == 254  # 4104 clamps to the last class


# "Overall the combined zspage chain size effect on zsmalloc pool configuration" table in
# Documentation/mm/zsmalloc.rst (huge size class watermark column). The same table's cluster
# counts do not follow from the current calculate_zspage_chain_size() except for chain size 4
# (69), so only that one is checked.
DOC_WATERMARKS = {4: 3264, 5: 3408, 6: 3504, 7: 3584, 8: 3632, 9: 3680, 10: 3712, 11: 3744,
                  12: 3776, 13: 3792, 14: 3808, 15: 3840, 16: 3840}


@pytest.mark.parametrize("chain", sorted(DOC_WATERMARKS))
def test_huge_watermark_matches_kernel_docs(chain: int) -> None:
    assert ZsPoolModel(4096, chain).huge_class_size == DOC_WATERMARKS[chain] - (ZS_HANDLE_SIZE - 1)


def test_chain_size_4_has_69_clusters() -> None:
    assert len(list(ZsPoolModel(4096, 4).classes())) == 69


def test_refusals_change_nothing() -> None:
    pool = ZsPoolModel()
    assert pool.obj_store(4097) == -errno.ENOSPC  # zswap: reject_compress_poor
    assert pool.obj_store(0) == -errno.EINVAL
    assert pool.obj_store(-5) == -errno.EINVAL
    assert (pool.pool_pages, pool.stored_objects) == (0, 0)
    with pytest.raises(ValueError):
        pool.size_class(4097)


def test_exact_page_is_accepted_in_the_huge_class() -> None:
    pool = ZsPoolModel()
    assert pool.obj_store(4096) == 254
    assert pool.pool_pages == 1


def test_pool_pages_after_a_known_sequence() -> None:
    pool = ZsPoolModel()
    for _ in range(129):  # 24 + 8 = 32 bytes: class 0, 128 per one-page zspage
        assert pool.obj_store(24) == 0
    assert pool.pool_pages == 2  # ceil(129 / 128) * 1
    assert pool.obj_store(40) == 1  # 48-byte class: one 3-page zspage
    assert pool.pool_pages == 5
    pool.obj_store(4096)
    pool.obj_store(3700)
    assert pool.pool_pages == 7  # two huge objects, one page each
    pool.obj_free(0)  # 128 left in class 0: one zspage
    assert pool.pool_pages == 6
    pool.obj_free(1)
    assert pool.pool_pages == 3
    assert pool.pool_total_size == 3 * 4096
    assert pool.stored_objects == 128 + 2
    assert pool.objects[0] == 128 and pool.objects[254] == 2


def test_freeing_an_empty_class_is_an_error() -> None:
    pool = ZsPoolModel()
    with pytest.raises(ValueError):
        pool.obj_free(0)


def test_64k_pages() -> None:
    pool = ZsPoolModel(65536)
    assert pool.class_size(0) == 32
    assert pool.class_size(pool.nr_classes - 1) == 65536
    assert pool.obj_store(65536) == pool.nr_classes - 1
    assert pool.obj_store(65537) == -errno.ENOSPC
    assert pool.pool_total_size == 65536
    # delta is 256: 100 + 8 bytes -> ceil(76 / 256) = 1 -> the 288-byte slot (or a merge of it)
    assert pool.class_size(pool.size_class(100)) >= 288


@pytest.mark.parametrize(("page_size", "chain"), [(4095, 8), (3000, 8), (131072, 8),
                                                  (4096, 3), (4096, 17)])
def test_bad_parameters(page_size: int, chain: int) -> None:
    with pytest.raises(ValueError):
        ZsPoolModel(page_size, chain)


def _recount(pool: ZsPoolModel) -> int:
    return sum(math.ceil(n / pool.objs_per_zspage(i)) * pool.pages_per_zspage(i)
               for i, n in enumerate(pool.objects) if n)


@settings(max_examples=60, deadline=None)
@given(page_size=st.sampled_from([4096, 16384, 65536]), chain=st.integers(4, 16),
       ops=st.lists(st.tuples(st.booleans(), st.integers(-10, 70000)), max_size=200))
def test_incremental_pool_pages_equal_the_formula(page_size: int, chain: int,
                                                  ops: list[tuple[bool, int]]) -> None:
    pool = ZsPoolModel(page_size, chain)
    stored: list[int] = []
    for is_store, value in ops:
        if is_store or not stored:
            cls = pool.obj_store(value)
            if value > page_size:
                assert cls == -errno.ENOSPC
            elif value <= 0:
                assert cls == -errno.EINVAL
            else:
                assert cls == pool.size_class(value)
                assert pool.class_size(cls) >= value + ZS_HANDLE_SIZE or pool.is_huge(cls)
                stored.append(cls)
        else:
            pool.obj_free(stored.pop(value % len(stored)))
        assert pool.pool_pages == _recount(pool)
        assert pool.stored_objects == len(stored)
    again = ZsPoolModel.from_bytes(pool.to_bytes())
    assert again.objects == pool.objects and again.pool_pages == pool.pool_pages
    assert (again.page_size, again.chain_size) == (page_size, chain)


def test_persisted_form_is_compact_and_checked() -> None:
    pool = ZsPoolModel()
    assert len(pool.to_bytes()) == 18
    for length in (100, 100, 2000, 4096):
        pool.obj_store(length)
    blob = pool.to_bytes()
    assert len(blob) == 18 + 3 * (2 + 8)  # three non-empty classes
    assert ZsPoolModel.from_bytes(blob).pool_pages == pool.pool_pages
    bad = bytearray(blob)
    bad[-1] ^= 1
    for broken in (bytes(bad), blob[:-1], blob[:10], b"XXXX" + blob[4:]):
        with pytest.raises(StateError):
            ZsPoolModel.from_bytes(broken)
