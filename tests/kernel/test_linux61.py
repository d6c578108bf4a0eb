"""The ``distro-6.1`` machine: how it combines with the personality, and 6.1's zswap (frontswap
era: same-filled entries in zswap, the zpool choice, its rejections), kept across commands and
consistent for fsck. The byte-for-byte comparisons with a real 6.1 are in tests/oracle/."""

from __future__ import annotations

import os
import random
from pathlib import Path

import helpers
import pytest

from ghostswap_cli.kernel.machine import open_kernel

Z = "/sys/module/zswap/parameters/"
PAGE = 4096


@pytest.fixture
def m61(state_dir: Path, tmp_path: Path) -> Path:
    helpers.machine(state_dir, config="distro-6.1", personality="mainline")
    helpers.set_param(state_dir, Z + "enabled", "Y")
    swap = helpers.real_swapfile(tmp_path / "swap", 4 << 20)
    helpers.swapon(state_dir, swap)
    return state_dir


def test_ghost_personality_is_refused_with_6_1(run_cli, state_dir):
    r = run_cli("kernel", "init", "--config", "distro-6.1", "--personality", "ghost")
    assert r.exit_code == 2
    assert "configuration distro-6.1 is mainline (use --personality mainline)" in r.stderr
    assert not (state_dir / "state.db").exists()  # nothing was made
    r = run_cli("kernel", "init", "--config", "distro-6.1")
    assert r.exit_code == 0 and "personality: mainline" in r.stdout
    assert "MAX_SWAPFILES 26 (distro-6.1)" in r.stdout
    # a reset that keeps the 6.1 configuration cannot switch the RFC on either
    r = run_cli("kernel", "reset", "--personality", "ghost")
    assert r.exit_code == 2 and "mainline" in r.stderr
    assert "personality: mainline" in run_cli("kernel", "reset").stdout
    # moving a ghost machine to 6.1 without naming a personality makes it mainline
    run_cli("kernel", "init", "--force")
    assert "personality: mainline" in run_cli("kernel", "reset", "--config", "distro-6.1").stdout
    show = run_cli("kernel", "show").stdout
    assert "- SWP_PTE_MARKER_NUM(1) - SWP_SWAPIN_ERROR_NUM(1)" in show


def test_6_1_has_its_own_files(run_cli, state_dir):
    run_cli("kernel", "init", "--config", "distro-6.1")
    files = run_cli("cat", "--list").stdout.split()
    assert Z + "zpool" in files and Z + "shrinker_enabled" not in files
    assert "/sys/kernel/debug/zswap/same_filled_pages" in files
    assert "/sys/kernel/debug/zswap/decompress_fail" not in files
    vmstat = [line.split()[0] for line in run_cli("cat", "/proc/vmstat").stdout.splitlines()]
    # the swap counters of 6.1, then the reclaim ones access replays move (all in 6.1's vmstat)
    assert vmstat[:4] == ["pswpin", "pswpout", "zswpin", "zswpout"]
    assert "workingset_refault_anon" in vmstat and "pgsteal_anon" in vmstat
    assert not {"zswpwb", "swpin_zero", "swpout_zero"} & set(vmstat)  # 6.8 and 6.13
    r = run_cli("write", Z + "zpool", "nosuch")
    assert r.exit_code != 0
    assert run_cli("dmesg").stdout.rstrip().endswith("zswap: zpool nosuch not available")
    assert run_cli("cat", Z + "zpool").stdout == "zbud\n"
    assert run_cli("write", Z + "accept_threshold_percent", "200").exit_code == 0  # a plain uint
    assert run_cli("cat", "/sys/module/zswap/parameters/shrinker_enabled").exit_code == 1
    # 6.18 is as it was
    run_cli("kernel", "init", "--force")
    assert Z + "shrinker_enabled" in run_cli("cat", "--list").stdout.split()
    assert run_cli("write", Z + "accept_threshold_percent", "200").exit_code != 0


def _counters(k) -> tuple[int, int, int]:
    return k.zswap_stored_pages(), k.counters["same_filled_pages"], k.pool_pages


def test_same_filled_pages_live_in_zswap(m61):
    word = b"AAAAAAA\n"
    with open_kernel(m61) as k:
        k.mm.swap_out(1, bytes(PAGE))
        k.mm.swap_out(2, word * (PAGE // 8))
        k.mm.swap_out(3, b"text page " * 409 + b"......")
        assert _counters(k)[:2] == (3, 2)
        assert k.counters["zswpout"] == 3 and k.counters.get("swpout_zero", 0) == 0
    with open_kernel(m61) as k:  # persisted and consistent
        assert _counters(k)[:2] == (3, 2) and k.zswap.model.stored_objects == 1
        assert k.mm.swap_in(2) == word * (PAGE // 8)
        assert k.mm.swap_in(1) == bytes(PAGE)
        assert _counters(k) == (1, 0, k.pool_pages) and k.pool_pages > 0


def test_same_filled_off_and_zswap_off(m61):
    helpers.set_param(m61, Z + "same_filled_pages_enabled", "N")
    with open_kernel(m61) as k:
        k.mm.swap_out(1, bytes(PAGE))  # compressed like any other page
        assert _counters(k)[:2] == (1, 0) and k.zswap.model.stored_objects == 1
    helpers.set_param(m61, Z + "non_same_filled_pages_enabled", "N")
    helpers.set_param(m61, Z + "same_filled_pages_enabled", "Y")
    with open_kernel(m61) as k:
        k.mm.swap_out(2, b"x" * 8 * (PAGE // 8))
        k.mm.swap_out(3, b"not the same word " * 227 + b"..")
        assert _counters(k)[:2] == (2, 1)  # the text page went to the file
        assert k.counters["pswpout"] == 1
    helpers.set_param(m61, Z + "enabled", "N")
    with open_kernel(m61) as k:
        k.mm.swap_out(4, bytes(PAGE))  # no zero map in 6.1: the file
        assert k.counters["pswpout"] == 2 and _counters(k)[:2] == (2, 1)


def test_incompressible_pages_fail_without_a_counter(m61):
    page = random.Random(1).randbytes(PAGE)
    with open_kernel(m61) as k:
        k.mm.swap_out(1, page)  # lz4 output over a page: the compressor fails (-EINVAL)
        assert k.zswap_stored_pages() == 0 and k.counters["pswpout"] == 1
        assert k.counters["reject_compress_poor"] == 0
    helpers.set_param(m61, Z + "compressor", "zstd")
    nearly = random.Random(2).randbytes(3990) + bytes(PAGE - 3990)
    with open_kernel(m61) as k:  # zbud (the default): too big for a page with its header
        k.mm.swap_out(2, nearly)
        assert k.counters["reject_compress_poor"] == 1


@pytest.mark.parametrize("zpool", ["zbud", "z3fold", "zsmalloc"])
def test_every_zpool_keeps_a_checkable_state(m61, zpool, run_cli):
    helpers.set_param(m61, Z + "zpool", zpool)
    rng = random.Random(zpool)
    with open_kernel(m61) as k:
        assert k.zswap.model.kind == zpool
        for vpn in range(300):
            kind = rng.random()
            page = (bytes(PAGE) if kind < 0.2 else
                    (rng.randbytes(rng.randint(100, 3000)) + bytes(PAGE))[:PAGE])
            k.mm.swap_out(vpn, page)
        for vpn in range(0, 300, 3):
            k.mm.swap_in(vpn)
    with open_kernel(m61) as k:
        assert k.zswap.model.kind == zpool
        assert k.zswap_stored_pages() == k.zswap.model.stored_objects + k.counters["same_filled_pages"]
    r = run_cli("kernel", "fsck")
    assert r.exit_code == 0, r.stdout + r.stderr


def test_across_spans_whole_extents_in_every_release(run_cli, state_dir, tmp_path):
    """A header shorter than its file: iomap_swapfile_add_extent ends the span at the extent's
    end (the kernel's answer in tests/fixtures/linux-6.1/recorded/last-page-short.json)."""
    from ghostswap_cli.kernel.backing import swapfile_extents

    f = tmp_path / "short"
    helpers.real_swapfile(f, 8 << 20)
    with open(f, "r+b") as fh:
        fh.seek(1028)
        fh.write((1).to_bytes(4, "little"))
    if swapfile_extents(f, 2048, PAGE).nr_extents != 1:
        pytest.skip("the file system split the test file")
    for config in ("distro-6.18", "distro-6.1"):
        helpers.machine(state_dir, config=config, personality="mainline")
        helpers.swapon(state_dir, f)
        log = run_cli("dmesg").stdout.splitlines()[-1]
        assert log.split("] ", 1)[1].startswith(f"Adding 4k swap on {f}.  Priority:-2 extents:1 "
                                                f"across:8188k"), log


def test_a_hole_past_last_page_is_refused(state_dir, tmp_path):
    from ghostswap_cli.errors import KernelError

    f = tmp_path / "tail"
    helpers.real_swapfile(f, 40960)
    with open(f, "r+b") as fh:
        fh.seek(1028)
        fh.write((9).to_bytes(4, "little"))
        fh.truncate(8 << 20)  # a hole after the 10 pages the header declares
    os.chmod(f, 0o600)
    for config in ("distro-6.18", "distro-6.1"):
        helpers.machine(state_dir, config=config, personality="mainline")
        with pytest.raises(KernelError), open_kernel(state_dir) as k:
            from ghostswap_cli.kernel.swapfile import sys_swapon

            sys_swapon(k, str(f), 0)


@pytest.mark.parametrize("zpool", ["zsmalloc", "zbud"])
def test_a_full_pool_shrinks_as_6_1_does(state_dir, tmp_path, zpool):
    """zswap_is_full() (more pages than max_pool_percent allows) counts pool_limit_hit and
    queues shrink_worker: zsmalloc cannot evict in 6.1 (reject_reclaim_fail), zbud writes its
    least recently used entries back to the file."""
    helpers.machine(state_dir, config="distro-6.1", personality="mainline", ram=str(16 << 20))
    for name, value in (("enabled", "Y"), ("zpool", zpool), ("compressor", "zstd"),
                        ("max_pool_percent", "1")):
        helpers.set_param(state_dir, Z + name, value)
    helpers.swapon(state_dir, helpers.real_swapfile(tmp_path / "swap", 8 << 20))
    rng = random.Random(3)
    with open_kernel(state_dir) as k:
        assert k.zswap.max_pages() == 40
        for vpn in range(400):
            k.mm.swap_out(vpn, (rng.randbytes(1500) + bytes(PAGE))[:PAGE])
        c = k.counters
        assert c["pool_limit_hit"] > 0
        assert k.pool_pages <= 41 + 4  # one store past the limit, a zspage at most
        if zpool == "zsmalloc":
            assert c["reject_reclaim_fail"] == c["pool_limit_hit"] and c["written_back_pages"] == 0
        else:
            assert c["written_back_pages"] > 0 and c["reject_reclaim_fail"] == 0
        assert k.zswap_stored_pages() + c["pswpout"] == 400  # written back: in pswpout too


def test_fsck_repairs_a_ghost_personality_on_6_1(run_cli, state_dir):
    run_cli("kernel", "init", "--config", "distro-6.1")
    from ghostswap_cli.state.db import StateDB, connect

    db = StateDB(state_dir, connect(state_dir, create=False))
    db.begin(write=True)
    db.execute("UPDATE params SET value='ghost' WHERE name='machine.personality'")
    db.commit()
    db.close()
    r = run_cli("cat", "/proc/swaps")
    assert r.exit_code != 0 and "fsck --repair" in r.stderr
    r = run_cli("kernel", "fsck", "--repair")
    assert "personality ghost cannot go with distro-6.1" in r.stdout + r.stderr
    assert run_cli("cat", "/proc/swaps").exit_code == 0
    assert "personality         mainline" in run_cli("kernel", "show").stdout
