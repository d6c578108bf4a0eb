"""Every page comes back byte-identical, or is reported corrupt; counters mean what they say."""

from __future__ import annotations

import json
import os

import lz4.block
import pytest
import zstandard
from helpers import ghost_swapfile, machine, real_swapfile, set_param, swapon

from ghostswap_cli.codec.trace import open_trace
from ghostswap_cli.kernel.cluster import LOC_DISK, LOC_KIND, LOC_ZSWAP
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace
from ghostswap_cli.uapi import SWAPFILE_CLUSTER, SWP_OFFSET_MASK, SWP_TYPE_SHIFT

from .conftest import PAGE, mixed_pages, write_trace

ENABLED = "/sys/module/zswap/parameters/enabled"
MAX_POOL = "/sys/module/zswap/parameters/max_pool_percent"


def setup(tmp_path, state, *, ghost=True, real=False, ram="256M", ghost_prio=None):
    machine(state, ram=str(int(ram[:-1]) << 20))
    devs = []
    if ghost:
        devs.append(ghost_swapfile(tmp_path / "ghost.swap", 64 << 20))
        swapon(state, devs[-1], prio=ghost_prio)
    if real:
        devs.append(real_swapfile(tmp_path / "real.swap", 32 << 20))
        swapon(state, devs[-1])
    return devs


def roundtrip(state, pages, base=0x1000):
    """Swap every page out, then in, through the kernel API; return what came back."""
    with open_kernel(state) as k:
        for i, p in enumerate(pages):
            k.mm.swap_out(base + i, p)
    back = []
    with open_kernel(state) as k:  # a second process-like open: everything went through disk
        for i in range(len(pages)):
            back.append(k.mm.swap_in(base + i))
        stats = k.mm.stats
    return back, stats


@pytest.mark.parametrize("compressor", ["lz4", "zstd"])
@pytest.mark.parametrize("zswap_on", [True, False])
@pytest.mark.parametrize("layout", ["ghost", "ghost+real"])
def test_every_page_comes_back_byte_identical(tmp_path, state_dir, real_pages, compressor, zswap_on, layout):
    setup(tmp_path, state_dir, ghost=True, real=layout == "ghost+real")
    set_param(state_dir, "/sys/module/zswap/parameters/compressor", compressor)
    set_param(state_dir, ENABLED, "Y" if zswap_on else "N")
    pages = mixed_pages(real_pages, 1500)
    back, stats = roundtrip(state_dir, pages)
    assert stats.corrupt_pages == 0
    assert back == pages  # byte for byte, every one
    with open_kernel(state_dir, write=False) as k:
        assert all(si.inuse_pages == 0 for si in k.active())
        assert k.zswap_stored_pages() == 0
        if not zswap_on:
            assert k.counters["zswpout"] == 0


def test_ghost_plus_real_overflow_reads_back_from_the_file(tmp_path, state_dir, real_pages):
    # the ghost (higher priority) fills up; the rest lands on the real file, on disk when
    # zswap rejects them (random pages are incompressible)
    machine(state_dir, ram=str(256 << 20))
    ghost = ghost_swapfile(tmp_path / "ghost.swap", 2 << 20)  # 511 usable slots
    real = real_swapfile(tmp_path / "real.swap", 16 << 20)
    swapon(state_dir, ghost, prio=5)
    swapon(state_dir, real)
    pages = mixed_pages(real_pages, 1200, seed=7)
    back, stats = roundtrip(state_dir, pages)
    assert back == pages
    with open_kernel(state_dir, write=False) as k:
        assert k.counters["pswpout"] > 0 and k.counters["pswpin"] == k.counters["pswpout"]


def test_replay_cli_reports_no_corruption_with_real_pages(tmp_path, state_dir, real_pages, run_cli):
    setup(tmp_path, state_dir, ghost=True, real=True)
    trace = write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 800))
    r = run_cli("replay", "--no-progress", "--json", trace)
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["corrupt_pages"] == 0
    assert rep["swapped_out"] == rep["swapped_in"] == 800
    for key in ("events", "swapped_out", "swapped_in", "freed", "stored_pages", "zero_pages",
                "rejected", "written_back_pages", "stayed_resident", "corrupt_pages",
                "compression_ratio", "pool_total_size", "pool_peak_size", "compressor"):
        assert key in rep


@pytest.mark.parametrize("compressor", ["lz4", "zstd"])
def test_compression_ratio_equals_the_direct_computation(tmp_path, state_dir, real_pages, compressor, run_cli):
    setup(tmp_path, state_dir, ghost=True)
    pages = mixed_pages(real_pages, 1000, seed=3)
    trace = write_trace(tmp_path / "t.gstrace", pages, ins=False)
    r = run_cli("replay", "--no-progress", "--json", "--compressor", compressor, trace)
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    if compressor == "lz4":
        compress = lambda p: lz4.block.compress(p, store_size=False)  # noqa: E731
    else:
        compress = zstandard.ZstdCompressor(level=3).compress
    zero = bytes(PAGE)
    nonzero = [p for p in pages if p != zero]
    lengths = [len(compress(p)) for p in nonzero]
    accepted = [n for n in lengths if n < PAGE]
    assert rep["zswap_accepted_pages"] == len(accepted)
    assert rep["compression_ratio"] == round(len(accepted) * PAGE / sum(accepted), 4)
    # zero pages never reach the compressor; incompressible ones are rejected and counted
    assert rep["zero_pages"] == pages.count(zero)
    assert rep["counters"]["zswpout"] == len(accepted)
    assert rep["rejected"]["compress_poor"] == len(lengths) - len(accepted) > 0
    assert rep["stayed_resident"] == len(lengths) - len(accepted)  # ghost: write failed


def _first_slot(k, kind):
    k.load_all()
    for si in k.active():
        for idx, c in sorted(si.slots.clusters.items()):
            for i in range(SWAPFILE_CLUSTER):
                if c.map[i] == 1 and c.loc[i] & LOC_KIND == kind:
                    return si, idx * SWAPFILE_CLUSTER + i, c, i
    raise AssertionError("no such slot")


def _vpn_of(k, si, offset):
    swp = (si.type << SWP_TYPE_SHIFT) | offset
    for key, (ptes, _) in k.mm.table.items():
        for i, pte in enumerate(ptes):
            if pte == swp:
                return key * 512 + i
    raise AssertionError("slot not mapped")


def test_corrupt_byte_in_the_pool_is_reported_not_returned(tmp_path, state_dir, real_pages, run_cli):
    setup(tmp_path, state_dir, ghost=True)
    pages = [p for p in real_pages[:300] if len(lz4.block.compress(p, store_size=False)) < PAGE][:200]
    with open_kernel(state_dir) as k:
        for i, p in enumerate(pages):
            k.mm.swap_out(0x1000 + i, p)
    with open_kernel(state_dir, write=False) as k:
        si, offset, c, i = _first_slot(k, LOC_ZSWAP)
        eid = c.ref[i]
        handle, length = k.zswap.e_handle[eid], k.zswap.e_len[eid]
        victim = _vpn_of(k, si, offset)
    with open(state_dir / "zswap.pool", "r+b") as f:
        f.seek((handle << 4) + length // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))
    trace = tmp_path / "in.trace"
    with open(trace, "w") as f:
        f.write("ghostswap-trace 1\n" + "".join(f"in {0x1000 + i:#x}\n" for i in range(len(pages))))
    r = run_cli("replay", "--no-progress", "--json", trace)
    assert r.exit_code == 3, r.stderr  # EXIT_CORRUPT
    rep = json.loads(r.stdout)
    assert rep["corrupt_pages"] == 1
    assert rep["corrupt_vpns"] == [victim]
    assert rep["swapped_in"] == len(pages)


def test_corrupt_byte_in_the_backing_file_is_reported(tmp_path, state_dir, real_pages):
    machine(state_dir, ram=str(256 << 20))
    real = real_swapfile(tmp_path / "real.swap", 8 << 20)
    swapon(state_dir, real)
    set_param(state_dir, ENABLED, "N")  # every page goes to the file
    pages = real_pages[:50]
    with open_kernel(state_dir) as k:
        for i, p in enumerate(pages):
            k.mm.swap_out(0x1000 + i, p)
    with open_kernel(state_dir, write=False) as k:
        si, offset, _c, _i = _first_slot(k, LOC_DISK)
        victim = _vpn_of(k, si, offset)
    with open(real, "r+b") as f:
        f.seek(offset * PAGE + 100)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 1]))
    with open_kernel(state_dir) as k:
        got = [k.mm.swap_in(0x1000 + i) for i in range(len(pages))]
        assert k.mm.stats.corrupt_vpns == [victim]
    assert got[victim - 0x1000] is None
    assert [g for g in got if g is not None] == [p for i, p in enumerate(pages) if i != victim - 0x1000]


def test_full_pool_on_ghost_only_keeps_pages_resident_without_writeback(tmp_path, state_dir, real_pages, run_cli):
    setup(tmp_path, state_dir, ghost=True, ram="64M")
    set_param(state_dir, MAX_POOL, "1")  # 655 KiB of pool
    pages = mixed_pages(real_pages, 1200, seed=5)
    trace = write_trace(tmp_path / "t.gstrace", pages)
    r = run_cli("replay", "--no-progress", "--json", trace)
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["counters"]["pool_limit_hit"] > 0
    assert rep["rejected"]["pool_limit"] > 0
    assert rep["written_back_pages"] == 0 and rep["counters"]["zswpwb"] == 0
    assert rep["counters"]["reject_reclaim_fail"] == 0  # RFC: no worker without a real file
    assert rep["stayed_resident"] >= rep["rejected"]["pool_limit"]
    assert rep["corrupt_pages"] == 0 and rep["swapped_in"] == 1200


def test_full_pool_with_a_real_swapfile_writes_back_and_reads_from_the_file(tmp_path, state_dir, real_pages, run_cli):
    setup(tmp_path, state_dir, ghost=False, real=True, ram="64M")
    set_param(state_dir, MAX_POOL, "1")
    pages = mixed_pages(real_pages, 1200, seed=6)
    trace = write_trace(tmp_path / "t.gstrace", pages, ins=False)
    r = run_cli("replay", "--no-progress", "--json", trace)
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["written_back_pages"] > 0
    assert rep["counters"]["zswpwb"] == rep["written_back_pages"]
    with open_kernel(state_dir, write=False) as k:
        assert k.counters["written_back_pages"] == rep["written_back_pages"]
        # the written-back pages now live in the file
        k.load_all()
        disk = sum(sum(1 for v in c.loc if v & LOC_KIND == LOC_DISK)
                   for si in k.active() for c in si.slots.clusters.values())
        assert disk >= rep["written_back_pages"]
        pool_pages = k.pool_pages
        assert pool_pages * k.page_size <= k.totalram_pages * k.page_size // 100 + 16 * PAGE
    ins = tmp_path / "in.trace"
    with open(ins, "w") as f:
        f.write("ghostswap-trace 1\n" + "".join(f"in {0x1000 + i:#x}\n" for i in range(1200)))
    r = run_cli("replay", "--no-progress", "--json", ins)
    rep2 = json.loads(r.stdout)
    assert rep2["corrupt_pages"] == 0 and rep2["swapped_in"] == 1200
    assert rep2["counters"]["pswpin"] >= rep["written_back_pages"]


def test_writeback_refused_for_ghost_slots_when_a_real_file_is_also_active(tmp_path, state_dir, real_pages, run_cli):
    setup(tmp_path, state_dir, ghost=True, real=True, ram="64M", ghost_prio=10)
    # both active, the ghost preferred: entries sit on ghost slots; the worker runs (a real
    # file is available) but every writeback of a ghost slot fails with -EINVAL
    set_param(state_dir, MAX_POOL, "1")
    trace = write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 1200, seed=8), ins=False)
    rep = json.loads(run_cli("replay", "--no-progress", "--json", trace).stdout)
    assert rep["written_back_pages"] == 0
    assert rep["counters"]["reject_reclaim_fail"] > 0


def test_replay_and_another_shell_agree_on_used(tmp_path, state_dir, real_pages, run_cli, run_ghostswap):
    setup(tmp_path, state_dir, ghost=True, real=True)
    trace = write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 700), ins=False)
    rep = json.loads(run_cli("replay", "--no-progress", "--json", trace).stdout)
    proc = run_ghostswap("cat", "/proc/swaps")
    assert proc.returncode == 0
    used = sum(int(line.split("\t")[-3]) for line in proc.stdout.decode().splitlines()[1:])
    assert used == sum(d["used_pages"] for d in rep["devices"]) * 4 == 700 * 4
    # swapoff brings every stored page back, verified
    with open_kernel(state_dir) as k:
        from ghostswap_cli.kernel.swapfile import sys_swapoff

        for si in list(k.active()):
            sys_swapoff(k, si.path)
        assert k.mm.stats.corrupt_pages == 0
        assert k.mm.present_pages == 700


def test_offsets_in_report_match_slot_bookkeeping(tmp_path, state_dir, real_pages):
    setup(tmp_path, state_dir, ghost=True)
    trace = write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 300), ins=False)
    with open_kernel(state_dir) as k, open_trace(trace) as reader:
        rep = replay_trace(k, reader, ReplayOptions())
        for vpn in range(0x1000, 0x1000 + 300):
            pte, _ = k.mm.lookup(vpn)
            assert pte >> SWP_TYPE_SHIFT == 0 and pte & SWP_OFFSET_MASK > 0
        assert rep.devices[0]["used_pages"] == 300
