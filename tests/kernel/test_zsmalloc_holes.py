"""6.12 and 6.18 machines on the page-level zsmalloc (#19): holes after frees, whole zspages,
compaction as 6.4 onwards runs it, ``pool_total_size`` in debugfs, and states written before
(their pool the compacted ``ZsPoolModel``) that keep loading, checking and repairing."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path

import helpers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.kernel.compressors import SAME_FILLED_ID
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.zpool import ZsPool, pool_from_bytes
from ghostswap_cli.kernel.zsmalloc import ZsPoolModel, calculate_zspage_chain_size

Z = "/sys/module/zswap/parameters/"
D = "/sys/kernel/debug/zswap/"
PAGE = 4096


def _lower_bound(pool: ZsPool) -> int:
    """Pages of the pool packed tight (what ``ZsPoolModel`` reports, and compaction reaches)."""
    return sum(math.ceil(n / pool.objs_per_zspage(c)) * pool.pages_per_zspage(c)
               for c, n in enumerate(pool.objects) if n)


def _zspages(pool: ZsPool) -> dict[int, list[int]]:
    """zspage id -> keys of the objects in it (from the key map)."""
    out: dict[int, list[int]] = {}
    for key, pid in enumerate(pool._where):
        if pid:
            out.setdefault(pid - 1, []).append(key)
    return out


# --- the allocator ---------------------------------------------------------------------------


@pytest.mark.parametrize("release", ["6.12", "6.18"])
def test_the_classes_are_those_of_calculate_zspage_chain_size(release):
    pool = ZsPool(release=release)
    assert pool.chain_size == 8 and pool.nr_classes == 255  # CONFIG_ZSMALLOC_CHAIN_SIZE default
    c = pool.size_class(1200)  # 1200 + 8 handle bytes: the 1216-byte class
    assert (pool.class_size(c), pool.pages_per_zspage(c), pool.objs_per_zspage(c)) == (1216, 3, 10)
    assert pool.pages_per_zspage(c) == calculate_zspage_chain_size(1216)
    assert pool.full_group == 11  # ZS_INUSE_RATIO_0 .. _99, _100


@pytest.mark.parametrize("release", ["6.12", "6.18"])
def test_frees_leave_holes_in_whole_zspages(release):
    pool = ZsPool(release=release)
    for key in range(1, 101):  # 100 objects of the 1216-byte class: 10 zspages of 3 pages
        pool.obj_store(1200, key)
    assert pool.pool_pages == 30 and pool.zspages == 10
    c = pool.size_class(1200)
    for key in range(1, 101):
        if key % 10:  # keep one object in every zspage
            pool.obj_free(c, key)
    assert pool.stored_objects == 10
    assert pool.pool_pages == 30  # the kernel's pages_allocated: nine holes in every zspage
    assert ZsPoolModel.from_bytes(ZsPoolModel().to_bytes()).pool_pages == 0
    assert _lower_bound(pool) == 3  # what the compacted model said
    assert pool.can_compact(c) == 27  # zs_can_compact: (100 - 10) / 10 zspages of 3 pages
    # a new object goes into a zspage with room (the fullest non-full), not a new zspage
    pool.obj_store(1200, 200)
    assert pool.pool_pages == 30
    pool.obj_free(c, 200)
    # the last object of a zspage takes the whole zspage with it (free_zspage)
    pool.obj_free(c, 10)
    assert pool.pool_pages == 27 and pool.zspages == 9


def test_compaction_fills_the_fullest_zspage_first():
    """6.4 onwards: a destination (the fullest), then sources from the emptiest until it is
    full; each source goes back on its list or is freed."""
    pool = ZsPool(release="6.18")
    c = pool.size_class(1200)
    for key in range(1, 31):
        pool.obj_store(1200, key)  # zspages A (keys 1-10), B (11-20), C (21-30)
    for key in [*range(10, 11), *range(16, 21), *range(23, 31)]:
        pool.obj_free(c, key)  # A keeps 9, B 5, C 2
    by_zspage = sorted(len(keys) for keys in _zspages(pool).values())
    assert by_zspage == [2, 5, 9] and pool.pool_pages == 9
    assert pool.can_compact(c) == 3  # 30 slots, 16 used: one zspage's worth free
    # dst A (9) takes one object of C (2): A is full, C keeps 1 and goes back; dst B (5)
    # takes C's last: C is freed, and no zspage's worth of slots is free any more
    assert pool.compact() == 3 and pool.pages_compacted == 3
    assert sorted(len(keys) for keys in _zspages(pool).values()) == [6, 10]
    assert pool.pool_pages == 6 == _lower_bound(pool)
    for keys in _zspages(pool).values():  # every key moved with its object: frees still find it
        for key in keys:
            pool.obj_free(c, key)
    assert pool.pool_pages == 0 and pool.zspages == 0


ops = st.lists(st.tuples(st.integers(0, 9), st.integers(1, 4096), st.integers(0, 1 << 16)),
               max_size=300)


@settings(max_examples=60, deadline=None)
@given(ops, st.sampled_from(["6.12", "6.18"]))
def test_the_allocator_keeps_every_object_in_one_zspage(sequence, release):
    """Stores, frees, store-then-free round trips and compactions in any order: the pool's
    pages are its zspages' pages, every object is in exactly one zspage and no zspage holds
    more objects than it has slots; after compaction the pool is packed tight."""
    pool = ZsPool(release=release)
    live: dict[int, int] = {}
    key = 0
    for op, length, pick in sequence:
        if op == 9:
            pool.compact()
            assert pool.pool_pages == _lower_bound(pool)
        elif op == 8:  # a store and its free: everything is as it was
            before = (pool.pool_pages, pool.objects, pool.zspages)
            key += 1
            c = pool.obj_store(length, key)
            if c >= 0:
                pool.obj_free(c, key)
            assert (pool.pool_pages, pool.objects, pool.zspages) == before
        elif op < 5 or not live:
            key += 1
            c = pool.obj_store(length, key)
            assert c >= 0  # 1..PAGE_SIZE: zs_malloc takes it
            live[key] = c
        else:
            victim = sorted(live)[pick % len(live)]
            pool.obj_free(live.pop(victim), victim)
    allocated = set(range(len(pool._zs_class))) - set(pool._free_ids)
    assert pool.pool_pages == sum(pool.pages_per_zspage(pool._zs_class[z]) for z in allocated)
    assert pool.pool_pages >= _lower_bound(pool)
    members = _zspages(pool)
    assert sorted(k for keys in members.values() for k in keys) == sorted(live)  # no overlap
    assert set(members) == allocated
    for zid, keys in members.items():
        c = pool._zs_class[zid]
        assert len(keys) == pool._zs_inuse[zid] <= pool.objs_per_zspage(c)
        assert all(live[k] == c for k in keys)
    again = pool_from_bytes(pool.to_bytes())
    assert again.to_bytes() == pool.to_bytes() and again.release == release


# --- the machine -----------------------------------------------------------------------------


def _page(i: int) -> bytes:
    """Text pages of varied compressibility (lz4: 300 to 2500 bytes or so)."""
    r = random.Random(i)
    words = [bytes(r.choice(b"abcdefghij") for _ in range(r.randint(2, 9)))
             for _ in range(r.randint(5, 400))]
    return (b" ".join(r.choice(words) for _ in range(1500)) + bytes(PAGE))[:PAGE]


@pytest.fixture(params=["distro-6.12", "distro-6.18"])
def filled(request, state_dir: Path, tmp_path: Path) -> Path:
    """A machine with 300 pages in zswap (lz4)."""
    helpers.machine(state_dir, config=request.param)
    helpers.set_param(state_dir, Z + "enabled", "Y")
    helpers.set_param(state_dir, Z + "compressor", "lz4")
    helpers.swapon(state_dir, helpers.real_swapfile(tmp_path / "swap", 8 << 20))
    with open_kernel(state_dir) as k:
        for vpn in range(300):
            k.mm.swap_out(vpn, _page(vpn))
    return state_dir


def test_pool_total_size_shows_the_holes_of_a_partial_swap_in(filled, run_cli):
    with open_kernel(filled) as k:
        assert type(k.zswap.model) is ZsPool and k.zswap.model.release == k.release
        full = k.pool_pages
        assert full == _lower_bound(k.zswap.model)  # a fill alone packs every class
    assert run_cli("cat", D + "pool_total_size").stdout == f"{full * PAGE}\n"
    with open_kernel(filled) as k:
        for vpn in range(0, 300, 3):  # one page in three comes back (zswap_load frees it)
            assert k.mm.swap_in(vpn) == _page(vpn)
        tight = _lower_bound(k.zswap.model)
        left = k.pool_pages
    assert run_cli("cat", D + "stored_pages").stdout == "200\n"
    shown = int(run_cli("cat", D + "pool_total_size").stdout)
    assert shown == left * PAGE
    # a third of the objects left, but only the zspages they emptied went: of the pages the
    # compacted model would have given back (full - tight), most are still held (300 pages of
    # lz4 text: 289 pages full, 254 after, 203 compacted)
    assert tight < left < full and left - tight > (full - tight) // 2
    meminfo = run_cli("cat", "/proc/meminfo").stdout
    assert f"Zswap:          {left * PAGE // 1024:8d} kB" in meminfo
    assert run_cli("kernel", "fsck").exit_code == 0


# --- states written before #19 ---------------------------------------------------------------


def _as_before(state: Path, drop: int = 0) -> ZsPoolModel:
    """Give the state the pool blob the code before #19 wrote for 6.12/6.18 (``ZsPoolModel``
    of the stored entries; its format has not changed), ``drop`` objects short if asked."""
    old = ZsPoolModel()
    with open_kernel(state) as k:
        z = k.zswap
        for eid in z.live_entries():
            if z.e_comp[eid] != SAME_FILLED_ID:
                c = old.obj_store(z.e_len[eid], eid)
        for _ in range(drop):
            old.obj_free(c)
    db = sqlite3.connect(state / "state.db")
    with db:
        db.execute("UPDATE blobs SET data=? WHERE name='zswap.model'", (old.to_bytes(),))
    db.close()
    return old


def _blob_magic(state: Path) -> bytes:
    db = sqlite3.connect(state / "state.db")
    try:
        return db.execute("SELECT data FROM blobs WHERE name='zswap.model'").fetchone()[0][:4]
    finally:
        db.close()


def test_a_state_of_before_loads_into_the_page_level_pool(filled, run_cli):
    with open_kernel(filled) as k:
        for vpn in range(0, 300, 3):
            k.mm.swap_in(vpn)
        holes = k.pool_pages
    old = _as_before(filled)
    assert _blob_magic(filled) == b"GSZS" and old.pool_pages < holes
    assert run_cli("kernel", "fsck").stdout.endswith("clean (1 active areas, 200 pages swapped out)\n")
    assert run_cli("cat", D + "pool_total_size").stdout == f"{old.pool_pages * PAGE}\n"
    with open_kernel(filled) as k:
        assert k.pool_pages == old.pool_pages  # the figure does not move on the upgrade
        pool = k.zswap.model
        assert type(pool) is ZsPool and pool.objects == old.objects
        assert pool.pool_pages == old.pool_pages  # the entries stored again, packed
        for vpn in range(1, 300, 3):  # from now on, frees leave holes
            assert k.mm.swap_in(vpn) == _page(vpn)
        assert k.pool_pages > _lower_bound(pool)
    assert _blob_magic(filled) == b"GSZP"  # saved as a page-level pool
    assert run_cli("kernel", "fsck").exit_code == 0


def test_fsck_repairs_a_state_of_before_into_the_page_level_pool(filled, run_cli):
    _as_before(filled, drop=1)
    r = run_cli("kernel", "fsck")
    assert r.exit_code == 1 and "zswap pool: 299 objects in" in r.stdout
    assert "entries need 300 in" in r.stdout
    assert _blob_magic(filled) == b"GSZS"  # a check changes nothing
    r = run_cli("kernel", "fsck", "--repair")
    assert "repaired: zswap: rebuilt LRU, counters and pool model from 300 entries" in r.stdout
    assert _blob_magic(filled) == b"GSZP"
    assert run_cli("kernel", "fsck").exit_code == 0
    with open_kernel(filled) as k:
        assert type(k.zswap.model) is ZsPool and k.zswap.model.stored_objects == 300
