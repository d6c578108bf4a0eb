"""The page-level zswap pools (ghostswap_cli/kernel/zpool.py): zsmalloc's zspages with holes,
zbud and z3fold. Property tests check the accounting against a recount from first
principles; the known values are the kernel's (6.1 class table, a real fill in
tests/oracle/test_linux61_zswap_fill.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.errors import StateError
from ghostswap_cli.kernel.zpool import Z3fold, Zbud, ZsPool, pool_from_bytes, pool_pages_of
from ghostswap_cli.kernel.zsmalloc import ZsPoolModel, get_pages_per_zspage

ops = st.lists(st.tuples(st.booleans(), st.integers(1, 4096), st.integers(0, 1 << 16)),
               max_size=300)


def _run(pool, sequence):
    """Apply (store?, length, pick) steps; returns {key: class} of the live objects."""
    live: dict[int, int] = {}
    key = 0
    for store, length, pick in sequence:
        if store or not live:
            key += 1
            c = pool.obj_store(length, key)
            if c >= 0:
                live[key] = c
        else:
            victim = sorted(live)[pick % len(live)]
            pool.obj_free(live.pop(victim), victim)
    return live


def _lower_bound(pool: ZsPool) -> int:
    return sum(math.ceil(n / pool.objs_per_zspage(c)) * pool.pages_per_zspage(c)
               for c, n in enumerate(pool.objects) if n)


@settings(max_examples=60, deadline=None)
@given(ops, st.sampled_from(["6.1", "6.18"]))
def test_zspages_account_every_page(sequence, release):
    pool = ZsPool(release=release)
    live = _run(pool, sequence)
    assert pool.stored_objects == len(live) == sum(pool.objects)
    # pages_allocated: every zspage holding an object, whole; never below full packing
    allocated = set(range(len(pool._zs_class))) - set(pool._free_ids)
    assert pool.pool_pages == sum(pool.pages_per_zspage(pool._zs_class[z]) for z in allocated)
    assert all(pool._zs_inuse[z] for z in allocated)  # an empty zspage is freed at once
    assert pool.pool_pages >= _lower_bound(pool)
    blob = pool.to_bytes()
    again = pool_from_bytes(blob)
    assert (again.pool_pages, again.objects, again.to_bytes()) == (pool.pool_pages, pool.objects, blob)
    assert pool_pages_of(blob) == pool.pool_pages
    # compaction ends with no zspage's worth of free slots in any class
    pool.compact()
    assert pool.pool_pages == _lower_bound(pool)
    for key, c in sorted(live.items()):
        pool.obj_free(c, key)  # keys moved with their objects
    assert (pool.pool_pages, pool.stored_objects) == (0, 0)


@settings(max_examples=60, deadline=None)
@given(ops, st.sampled_from([Zbud, Z3fold]))
def test_buddy_pools_hold_two_or_three_a_page(sequence, cls):
    pool = cls()
    live = _run(pool, sequence)
    headless = pool._headless
    assert pool.stored_objects == len(live)
    assert math.ceil((len(live) - headless) / pool.slots) + headless <= pool.pool_pages <= len(live)
    blob = pool.to_bytes()
    again = pool_from_bytes(blob)
    assert (again.pool_pages, again.stored_objects, again.to_bytes()) == (pool.pool_pages, len(live), blob)
    for key in sorted(live):
        pool.obj_free(0, key)
    assert (pool.pool_pages, pool.stored_objects) == (0, 0)


def test_6_1_class_table():
    # get_pages_per_zspage: highest integer percentage used, at most 4 pages
    assert [get_pages_per_zspage(s) for s in (32, 1040, 2208, 3264, 4080, 4096)] == [1, 4, 4, 4, 1, 1]
    pool = ZsPool(release="6.1")
    c = pool.size_class(1024)  # + 8 handle bytes: 1040, merged into 1088 (both 4 pages, 15)
    assert (pool.class_size(c), pool.pages_per_zspage(c), pool.objs_per_zspage(c)) == (1088, 4, 15)
    later = ZsPool(release="6.18")
    c = later.size_class(1024)  # 6.3 onwards: chains up to 8 pages, least waste
    assert (later.class_size(c), later.pages_per_zspage(c), later.objs_per_zspage(c)) == (1056, 8, 31)


def test_frees_leave_holes_until_the_zspage_is_empty():
    pool = ZsPool(release="6.1")
    c = pool.size_class(1024)
    for key in range(1, 31):  # two full zspages
        pool.obj_store(1024, key)
    assert pool.pool_pages == 8
    for key in range(1, 30, 2):  # every other object: both zspages keep half
        pool.obj_free(c, key)
    assert pool.pool_pages == 8 and pool.can_compact(c) == 4
    assert pool.compact() == 4 and pool.pool_pages == 4
    for key in range(2, 31, 2):
        pool.obj_free(c, key)
    assert pool.pool_pages == 0


def test_6_1_fills_the_fullest_zspage_first():
    """find_get_zspage takes ZS_ALMOST_FULL before ZS_ALMOST_EMPTY."""
    pool = ZsPool(release="6.1")
    c = pool.size_class(1024)
    for key in range(1, 46):  # three full zspages of 15
        pool.obj_store(1024, key)
    for key in range(1, 13):  # first zspage: 3 left (almost empty)
        pool.obj_free(c, key)
    pool.obj_free(c, 16)  # second: 14 left (almost full)
    assert pool.pool_pages == 12
    pool.obj_store(1024, 100)  # goes into the almost-full one, which is full again
    assert pool._zs_inuse[pool._where[100] - 1] == 15


def test_zbud_pairs_small_objects_and_refuses_big_ones():
    pool = Zbud()
    for key in range(1, 5):
        pool.obj_store(100, key)
    assert pool.pool_pages == 2
    assert pool.obj_store(4096 - 64 - 64 + 1, 9) == -28  # -ENOSPC: zswap's compress_poor
    z3 = Z3fold()
    for key in range(1, 7):
        z3.obj_store(100, key)
    assert z3.pool_pages == 2
    assert z3.obj_store(4000, 7) == 0 and z3.pool_pages == 3  # a headless page of its own


def test_corrupt_states_are_refused():
    pool = ZsPool(release="6.1")
    for key in range(1, 20):
        pool.obj_store(300 + key, key)
    blob = pool.to_bytes()
    for broken in (blob[:-3], blob[:20], blob[:30] + bytes([blob[30] ^ 1]) + blob[31:]):
        with pytest.raises(StateError):
            pool_from_bytes(broken)
    # the old compacted model's format still loads
    old = ZsPoolModel()
    old.obj_store(100)
    assert pool_from_bytes(old.to_bytes()).pool_pages == old.pool_pages == 7  # 112 B: 7 pages
