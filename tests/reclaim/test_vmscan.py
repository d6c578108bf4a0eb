"""The two-list LRU on its own: list mechanics, folio_check_references, deactivation, the scan
count, shadows and refault distance, each against what mm/vmscan.c and mm/workingset.c do."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.kernel.vmscan import (
    LRU_ACTIVE_ANON,
    LRU_INACTIVE_ANON,
    PAGEOUT_ACTIVATE,
    PAGEOUT_FREED,
    PAGEOUT_WRITEBACK,
    Lruvec,
    ScanControl,
    get_scan_count,
    inactive_is_low,
    shrink_active_list,
    shrink_inactive_list,
    try_to_free_mem_cgroup_pages,
)
from ghostswap_cli.kernel.workingset import workingset_eviction, workingset_refault


class Owner:
    """Frees whatever reclaim picks, unless told otherwise per page."""

    def __init__(self, outcome=None, swap=True):
        self.freed: dict[int, int] = {}
        self.outcome = outcome or {}
        self.swap = swap

    def swap_available(self):
        return self.swap

    def pageout(self, page):
        return self.outcome.get(page, PAGEOUT_FREED)

    def free_folio(self, page, shadow):
        self.freed[page] = shadow


def test_lists_grow_and_keep_order() -> None:
    lv = Lruvec(4)
    for p in range(10):
        lv.grow(p + 1)
        lv.add(p, LRU_INACTIVE_ANON)
    assert lv.pages(LRU_INACTIVE_ANON) == list(range(9, -1, -1))
    lv.delete(4)
    lv.add_tail(4, LRU_ACTIVE_ANON)
    assert lv.nr_pages == [9, 1]
    assert lv.isolate(LRU_INACTIVE_ANON, 3) == [0, 1, 2]
    assert lv.pages(LRU_INACTIVE_ANON) == [9, 8, 7, 6, 5, 3]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "tail", "del", "iso"]), st.integers(0, 40), st.booleans())))
def test_lists_match_a_python_model(ops) -> None:
    lv = Lruvec(8)
    model = {LRU_INACTIVE_ANON: [], LRU_ACTIVE_ANON: []}
    where: dict[int, int] = {}
    for op, page, active in ops:
        lru = LRU_ACTIVE_ANON if active else LRU_INACTIVE_ANON
        lv.grow(page + 1)
        if op in ("add", "tail") and page not in where:
            (lv.add if op == "add" else lv.add_tail)(page, lru)
            model[lru].insert(0, page) if op == "add" else model[lru].append(page)
            where[page] = lru
        elif op == "del" and page in where:
            lv.delete(page)
            model[where.pop(page)].remove(page)
        elif op == "iso":
            got = lv.isolate(lru, page % 5)
            want = model[lru][::-1][: page % 5]
            assert got == want
            for p in got:
                model[lru].remove(p)
                where.pop(p)
    assert lv.pages(LRU_INACTIVE_ANON) == model[LRU_INACTIVE_ANON]
    assert lv.pages(LRU_ACTIVE_ANON) == model[LRU_ACTIVE_ANON]
    assert lv.nr_pages == [len(model[0]), len(model[1])]


def test_folio_check_references() -> None:
    lv = Lruvec(8)
    for p in range(4):
        lv.add_new(p)  # young from the fault
    lv.young[0] = 0  # never touched since: reclaimed
    lv.referenced[1] = 1  # young and referenced: activated
    owner = Owner()
    assert shrink_inactive_list(lv, 4, owner) == 1
    assert list(owner.freed) == [0]
    assert lv.pages(LRU_ACTIVE_ANON) == [1]
    # 2 and 3 were young once: kept for another trip, now PG_referenced, not young
    assert sorted(lv.pages(LRU_INACTIVE_ANON)) == [2, 3]
    assert lv.referenced[2] == 1 and lv.young[2] == 0
    assert lv.events["pgscan_direct"] == 4 and lv.events["pgsteal_direct"] == 1
    assert lv.events["pgactivate"] == 1
    # not touched again: reclaimed on the next trip although PG_referenced is set
    assert shrink_inactive_list(lv, 4, owner) == 2


def test_writeback_rotates_to_the_tail_and_activate_outcome() -> None:
    lv = Lruvec(8)
    for p in range(3):
        lv.add(p, LRU_INACTIVE_ANON)
    owner = Owner({0: PAGEOUT_WRITEBACK, 1: PAGEOUT_ACTIVATE})
    assert shrink_inactive_list(lv, 3, owner) == 1
    assert lv.pages(LRU_INACTIVE_ANON) == [0]  # at the tail, reclaimed by the next scan
    assert lv.pages(LRU_ACTIVE_ANON) == [1]


def test_shrink_active_list_deactivates_every_anon_page() -> None:
    lv = Lruvec(8)
    for p in range(5):
        lv.add(p, LRU_ACTIVE_ANON)
        lv.young[p] = 1
    shrink_active_list(lv, 3)
    assert lv.pages(LRU_INACTIVE_ANON) == [2, 1, 0]
    assert all(lv.young[p] == 0 and lv.workingset[p] == 1 for p in (0, 1, 2))
    assert lv.events["pgdeactivate"] == 3 == lv.events["pgrefill"]


def test_inactive_is_low_ratio() -> None:
    lv = Lruvec(8)
    lv.nr_pages = [10, 11]
    assert inactive_is_low(lv)
    lv.nr_pages = [100_000, 300_000]  # 1.5 GiB: ratio int_sqrt(10) = 3
    assert not inactive_is_low(lv)
    lv.nr_pages = [90_000, 300_000]
    assert inactive_is_low(lv)


def test_get_scan_count() -> None:
    lv = Lruvec(8)
    lv.nr_pages = [4096, 4096]
    sc = ScanControl(32)
    sc.priority = 4
    # swappiness 60, no cost yet: ap = 60, fp = 140 -> 30% of size >> priority
    assert get_scan_count(lv, sc, Owner()) == [256 * 60 // 200] * 2
    sc.priority = 0
    assert get_scan_count(lv, sc, Owner()) == [4096, 4096]  # SCAN_EQUAL
    assert get_scan_count(lv, sc, Owner(swap=False)) == [0, 0]
    lv.swappiness = 0
    sc.priority = 4
    assert get_scan_count(lv, sc, Owner()) == [0, 0]


def test_try_to_free_reclaims_at_least_a_cluster() -> None:
    lv = Lruvec(200)
    for p in range(200):
        lv.add(p, LRU_INACTIVE_ANON)  # none young
    owner = Owner()
    got = try_to_free_mem_cgroup_pages(lv, 1, owner)
    assert got >= 32 and len(owner.freed) == got
    assert try_to_free_mem_cgroup_pages(lv, 1, Owner(swap=False)) == 0


def test_refault_distance() -> None:
    lv = Lruvec(16)
    lv.workingset[3] = 1
    shadow = workingset_eviction(lv, 3)
    assert shadow & 1 == 1 and lv.nonresident_age == 1
    lv.nonresident_age += 5  # five more evictions
    lv.nr_pages = [0, 10]  # active list of 10 pages: distance 5 fits
    assert workingset_refault(lv, 3, shadow, True)
    assert lv.events["workingset_activate_anon"] == 1 and lv.events["workingset_restore_anon"] == 1
    shadow = workingset_eviction(lv, 4)
    lv.nonresident_age += 50
    assert not workingset_refault(lv, 4, shadow, True)  # too far: not activated
    assert lv.events["workingset_refault_anon"] == 2
