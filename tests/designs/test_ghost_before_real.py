"""The RFC as posted with a ghost swapfile in front of a real one at a higher priority: the stall.

The simulated RFC kernel and the ``ghost-rfc`` model (``ghost-rfc.real_behind=1``) run the same
trace with the same pool limit. Slots go to the ghost, which has room for every page; the pool
fills, the pool-full worker runs because a real area is available, and every entry it tries is on
a ghost slot and refuses writeback. Nothing is written back, nothing reaches the real file, the
pages zswap rejects stay resident. swapon said so in the kernel log when the configuration was
entered."""

from __future__ import annotations

from pathlib import Path

import helpers

from ghostswap_cli.codec.trace import open_trace, open_trace_writer
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.swapfile import GHOST_BEFORE_REAL
from ghostswap_cli.replay.synth import synthesize
from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace


def _trace(tmp_path: Path) -> Path:
    trace = tmp_path / "s.gstrace"
    with open_trace_writer(trace, "binary") as w:
        res = synthesize(w, events=3000, working_set=800, peak=600, pattern="sawtooth", seed=11)
    assert res.peak_swapped == 600  # fewer than the ghost's 2047 slots: it never fills
    return trace


def test_the_kernel_stalls_and_swapon_warns(tmp_path: Path, state_dir: Path, run_cli) -> None:
    trace = _trace(tmp_path)
    helpers.machine(state_dir, ram=str(16 << 20))
    ghost = helpers.ghost_swapfile(tmp_path / "ghost.swap", size=8 << 20)
    real = helpers.real_swapfile(tmp_path / "real.swap", size=4 << 20)
    helpers.swapon(state_dir, ghost, prio=10)
    helpers.swapon(state_dir, real)  # default priority, -2: below the ghost
    helpers.set_param(state_dir, "/sys/module/zswap/parameters/max_pool_percent", "1")  # 40 pages
    helpers.set_param(state_dir, "/sys/module/zswap/parameters/compressor", "lz4")

    warning = GHOST_BEFORE_REAL.format(ghost=ghost, gprio=10, real=real, rprio=-2)
    assert warning == (
        f"ghost swap {ghost} (priority 10) is used before {real} (priority -2): zswap cannot "
        f"write back ghost slots, pages stay resident and nothing reaches {real} until the "
        "ghost is full")
    r = run_cli("dmesg", "--level", "warn")
    assert r.exit_code == 0 and r.stdout.count("\n") == 1
    assert r.stdout.rstrip("\n").endswith("] " + warning)

    with open_kernel(state_dir) as k, open_trace(trace) as reader:
        assert k.nr_real_swapfiles() == 1
        rep = replay_trace(k, reader, ReplayOptions())
        c = k.counters
        assert c["zswpwb"] == 0 and c["reject_reclaim_fail"] > 0  # the worker ran, and failed
        real_si = next(si for si in k.active() if not si.is_ghost)
        assert real_si.inuse_pages == 0  # nothing reached the real file
    assert rep.written_back_pages == 0
    assert rep.rejected["pool_limit"] > 0 and rep.stayed_resident > 0
    assert rep.counters["pswpout"] == 0
    assert rep.corrupt_pages == 0


def test_the_model_shows_the_stall_as_the_kernel_does(tmp_path: Path, state_dir: Path,
                                                      designs_json) -> None:
    trace = _trace(tmp_path)
    helpers.machine(state_dir, ram=str(16 << 20))
    helpers.swapon(state_dir, helpers.ghost_swapfile(tmp_path / "ghost.swap", size=8 << 20), prio=10)
    helpers.swapon(state_dir, helpers.real_swapfile(tmp_path / "real.swap", size=4 << 20))
    helpers.set_param(state_dir, "/sys/module/zswap/parameters/max_pool_percent", "1")
    helpers.set_param(state_dir, "/sys/module/zswap/parameters/compressor", "lz4")
    with open_kernel(state_dir) as k, open_trace(trace) as reader:
        rep = replay_trace(k, reader, ReplayOptions())

    args = ("--ghost-size", "8M", "--real-size", "4M", "--pool-limit", "160K", "--compressor", "lz4")
    r = designs_json(trace, "--designs", "ghost-rfc,ghost-redirect", *args,
                     "--param", "ghost-rfc.real_behind=1")
    g = r["designs"]["ghost-rfc"]
    assert g["devices"] == "ghost 8 MiB before real 4 MiB (RFC as posted)"
    assert g["written_back"] == g["written_direct"] == g["disk_held_peak_bytes"] == 0
    assert g["writeback_failed"] > 0 and g["shrinker_stalls"] > 0
    # the same pages kept resident, for the same reason, as in the kernel
    assert g["kept_resident_rejected"] == rep.stayed_resident > 0
    assert g["rejected_pool_full"] == rep.rejected["pool_limit"]
    # the real file still costs its static metadata: 3 bytes a slot of both devices
    assert g["metadata_static_at_peak_bytes"] == 3 * (2048 + 1024)
    # Chris Li's planned writeback (redirection) in the same configuration does write back
    d = r["designs"]["ghost-redirect"]
    assert d["written_back"] > 0 and d["writeback_failed"] == d["shrinker_stalls"] == 0
    assert d["kept_resident"] < g["kept_resident"]
    # without the real file behind it (the default) the worker never runs: no stall to count
    r = designs_json(trace, "--designs", "ghost-rfc", *args)
    alone = r["designs"]["ghost-rfc"]
    assert alone["writeback_failed"] == alone["shrinker_stalls"] == 0
    assert alone["kept_resident_rejected"] == g["kept_resident_rejected"]


def test_which_swapon_warns(tmp_path: Path, state_dir: Path, run_cli) -> None:
    """Only a ghost whose priority is not below a real area's; whichever is enabled second
    warns; equal priorities get the "alongside" text; a stock (mainline) kernel has no ghosts."""
    from ghostswap_cli.kernel.swapfile import GHOST_ALONGSIDE_REAL

    def warnings() -> list[str]:
        r = run_cli("dmesg", "--level", "warn", "--notime")
        return r.stdout.splitlines()

    ghost = helpers.ghost_swapfile(tmp_path / "ghost.swap", size=8 << 20)
    real = helpers.real_swapfile(tmp_path / "real.swap", size=4 << 20)
    helpers.machine(state_dir)
    helpers.swapon(state_dir, real, prio=20)
    helpers.swapon(state_dir, ghost, prio=10)  # below the real file: the intended set-up
    assert warnings() == []
    helpers.machine(state_dir)
    helpers.swapon(state_dir, ghost, prio=5)
    helpers.swapon(state_dir, real, prio=1)  # the real file enabled below an active ghost
    assert warnings() == [GHOST_BEFORE_REAL.format(ghost=ghost, gprio=5, real=real, rprio=1)]
    helpers.machine(state_dir)
    helpers.swapon(state_dir, ghost, real, prio=3)
    assert warnings() == [GHOST_ALONGSIDE_REAL.format(ghost=ghost, gprio=3, real=real, rprio=3)]
    helpers.machine(state_dir, personality="mainline")
    helpers.swapon(state_dir, real, prio=1)
    assert warnings() == []
