"""The models against the simulated kernel they abstract: the slot allocator picks the slots the
kernel's allocator picks, and the ghost model keeps resident exactly the pages the simulated RFC
kernel keeps resident, for the same reasons."""

from __future__ import annotations

import random
from pathlib import Path

import helpers
import pytest

from ghostswap_cli.codec.trace import open_trace, open_trace_writer
from ghostswap_cli.designs.base import ClusterAllocator
from ghostswap_cli.kernel.cluster import SwapSlots
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay.synth import synthesize
from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace


@pytest.mark.parametrize(("slots", "seed"), [(1024, 1), (2000, 2), (256, 3), (5 * 512, 4)])
def test_allocator_picks_the_kernels_slots(slots: int, seed: int) -> None:
    kernel = SwapSlots(slots)
    model = ClusterAllocator(slots, 512)
    rng = random.Random(seed)
    used: list[int] = []
    for _ in range(6000):
        if used and (rng.random() < 0.45 or len(used) == slots - 1):
            off = used.pop(int(rng.random() * len(used)))
            kernel.free(off)
            model.free(off)
        else:
            a, b = kernel.alloc(), model.alloc()
            assert a == (b or 0)
            if a:
                used.append(a)
        assert model.inuse == kernel.inuse_pages == len(used)
        # clusters the kernel keeps metadata for: those in use, plus cluster 0 (header) and a
        # partial last cluster, which the model counts as reserved, not in use
        special = {0, (slots - 1) // 512} if slots % 512 else {0}
        in_use = {o // 512 for o in used}
        assert model.clusters_in_use == len(in_use)
        assert set(kernel.clusters) == in_use | special


def test_allocator_grows_by_whole_clusters() -> None:
    a = ClusterAllocator(512, 512)
    got = [a.alloc() for _ in range(511)]
    assert got == list(range(1, 512)) and a.alloc() is None
    a.grow(2)
    assert (a.nr_slots, a.nr_clusters) == (1536, 3)
    assert a.alloc() == 512 and a.clusters_in_use == 2
    with pytest.raises(ValueError):
        ClusterAllocator(300, 512).grow(1)
    with pytest.raises(ValueError):
        a.free(1000)  # never allocated


def test_ghost_model_matches_the_simulated_rfc_kernel(tmp_path: Path, state_dir: Path, designs_json) -> None:
    """A synthetic trace whose peak (600 pages) exceeds a 2 MiB ghost (511 slots), with a
    40-page pool: pages get no slot, are rejected for a full pool and for being incompressible.
    The kernel run: 16 MiB of RAM at max_pool_percent 1 = 40 pages, the same limit."""
    trace = tmp_path / "s.gstrace"
    with open_trace_writer(trace, "binary") as w:
        res = synthesize(w, events=3000, working_set=800, peak=600, pattern="sawtooth", seed=11)
    assert res.peak_swapped == 600
    helpers.machine(state_dir, ram=str(16 << 20))
    ghost = helpers.ghost_swapfile(tmp_path / "ghost.swap", size=2 << 20)
    helpers.swapon(state_dir, ghost)
    helpers.set_param(state_dir, "/sys/module/zswap/parameters/max_pool_percent", "1")
    helpers.set_param(state_dir, "/sys/module/zswap/parameters/compressor", "lz4")
    with open_kernel(state_dir) as k, open_trace(trace) as reader:
        assert k.zswap.max_pages() == 40
        rep = replay_trace(k, reader, ReplayOptions())
    r = designs_json(trace, "--designs", "ghost-rfc", "--ghost-size", "2M", "--pool-limit", "160K",
                     "--compressor", "lz4")
    g = r["designs"]["ghost-rfc"]
    assert rep.no_swap_space > 0 and rep.stayed_resident > 0 and rep.rejected["pool_limit"] > 0
    assert g["kept_resident_no_slot"] == rep.no_swap_space
    assert g["kept_resident_rejected"] == rep.stayed_resident
    assert g["rejected_pool_full"] == rep.rejected["pool_limit"]
    assert g["rejected_incompressible"] == rep.rejected["compress_poor"]
    # the oracle replay has no pool limit: every incompressible page reaches the compressor
    assert r["oracle"]["rejected_incompressible"] == r["incompressible_pages"] > rep.rejected["compress_poor"]
    assert g["pool_peak_bytes"] == rep.pool_peak_size
    assert r["corrupt_pages"] == rep.corrupt_pages == 0
