"""Property tests for the swap slot allocator (kernel/cluster.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ghostswap_cli.kernel.cluster import Cluster, SwapSlots
from ghostswap_cli.uapi import SWAP_MAP_BAD, SWAPFILE_CLUSTER


def test_first_allocations_follow_the_free_cluster_list():
    # cluster 0 holds the header, so it starts on the nonfull list: fresh clusters come first
    s = SwapSlots(4 * SWAPFILE_CLUSTER)
    offsets = [s.alloc() for _ in range(3 * SWAPFILE_CLUSTER + 2)]
    assert offsets[:2] == [512, 513]
    assert offsets[3 * SWAPFILE_CLUSTER - 1] == 2047
    assert offsets[-2:] == [1, 2]


def test_full_device_returns_zero_and_counts_every_usable_slot():
    s = SwapSlots(1000, badpages=(5, 999))
    got = [s.alloc() for _ in range(1000)]
    usable = [o for o in got if o]
    assert len(usable) == 1000 - 3  # header and two bad pages
    assert 0 not in usable and 5 not in usable and 999 not in usable
    assert s.inuse_pages == 997
    assert got[-3:] == [0, 0, 0]


def test_tail_slots_past_max_are_never_handed_out():
    s = SwapSlots(600)
    got = {s.alloc() for _ in range(700)} - {0}
    assert max(got) == 599
    assert len(got) == 599


def test_huge_device_costs_only_touched_clusters():
    s = SwapSlots((16 << 40) // 4096 - 1)  # a 16 TiB ghost: 2**32 - 1 slots
    for _ in range(1000):
        s.alloc()
    assert len(s.clusters) <= 4
    assert len(s.state_bytes()) < 1024


def test_freed_cluster_metadata_is_dropped_and_requeued_at_the_tail():
    s = SwapSlots(8 * SWAPFILE_CLUSTER)
    first = [s.alloc() for _ in range(SWAPFILE_CLUSTER)]  # all of cluster 1
    assert {o // SWAPFILE_CLUSTER for o in first} == {1}
    for o in first:
        s.free(o)
    assert 1 not in s.clusters
    assert list(s.freed) == [1]


def test_committed_disk_slot_is_held_until_release():
    from ghostswap_cli.kernel.cluster import LOC_COMMITTED, LOC_DISK

    s = SwapSlots(2 * SWAPFILE_CLUSTER)
    o = s.alloc()
    c, i = s.slot(o)
    c.loc[i] = LOC_DISK | LOC_COMMITTED
    s.free(o)
    assert s.inuse_pages == 1 and s.pending_free == [o]
    assert all(s.alloc() != o for _ in range(SWAPFILE_CLUSTER - 2))
    assert s.release_pending() == 1
    assert s.count(o) == 0


class AllocatorMachine(RuleBasedStateMachine):
    """Random alloc/free/save-restore sequences against a model set of live offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.max = 3 * SWAPFILE_CLUSTER + 77
        self.bad = (3, 700, 1500)
        self.s = SwapSlots(self.max, self.bad)
        self.live: set[int] = set()

    @rule()
    def alloc(self) -> None:
        o = self.s.alloc()
        capacity = self.max - 1 - len(self.bad)
        if len(self.live) == capacity:
            assert o == 0
            return
        assert o != 0, "a free slot exists but alloc failed"
        assert o not in self.live and o not in self.bad and 0 < o < self.max
        self.live.add(o)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def free(self, data) -> None:
        o = data.draw(st.sampled_from(sorted(self.live)))
        self.live.remove(o)
        self.s.free(o)

    @rule()
    def save_and_restore(self) -> None:
        s = self.s
        clusters = {i: Cluster.from_bytes(i, c.to_bytes()) for i, c in s.clusters.items()}
        self.s = SwapSlots.restore(self.max, s.state_bytes(), clusters)

    @invariant()
    def counts_agree(self) -> None:
        s = self.s
        assert s.inuse_pages == len(self.live)
        assert set(s.used_offsets()) == self.live
        for c in s.clusters.values():
            assert c.count == SWAPFILE_CLUSTER - c.map.count(0)
        assert len(s.nonfull) == len(set(s.nonfull))
        for o in self.bad:
            assert s.count(o) == SWAP_MAP_BAD


TestAllocatorMachine = AllocatorMachine.TestCase
TestAllocatorMachine.settings = settings(max_examples=60, stateful_step_count=120, deadline=None)


@given(st.lists(st.booleans(), max_size=3000))
@settings(max_examples=40, deadline=None)
def test_never_double_allocates(ops):
    s = SwapSlots(2 * SWAPFILE_CLUSTER + 5)
    live: list[int] = []
    for do_alloc in ops:
        if do_alloc or not live:
            o = s.alloc()
            if o:
                assert o not in live
                live.append(o)
        else:
            s.free(live.pop(len(live) // 2))
    assert s.inuse_pages == len(live)
