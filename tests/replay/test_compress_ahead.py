"""Compressing ahead in a second process changes the wall time and nothing else."""

from __future__ import annotations

import json
import os
import re
import time
import zlib

import pytest
from helpers import children, ghost_swapfile, machine, real_swapfile, set_param, swapon

from ghostswap_cli.codec.trace import open_trace
from ghostswap_cli.errors import TraceError
from ghostswap_cli.kernel.compressors import new_compressor
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay import compress_ahead
from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace

from .conftest import PAGE, mixed_pages, write_trace

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="compressing ahead needs fork()")

# what may differ between two replays of one trace
TIMING = ("elapsed", "events_per_second", "compress_ahead")


def fresh(tmp_path, state, *, ghost=True, real=False, ram=256 << 20):
    machine(state, ram=str(ram))
    if ghost:
        swapon(state, ghost_swapfile(tmp_path / "ghost.swap", 64 << 20), prio=5)
    if real:
        swapon(state, real_swapfile(tmp_path / "real.swap", 32 << 20))


def pool_entries(state) -> list[tuple[int, int]]:
    """(swap entry, compressed length) of every zswap entry."""
    with open_kernel(state) as k:
        z = k.zswap
        return sorted((z.e_swp[e], z.e_len[e]) for e in range(1, len(z.e_len)) if z.e_len[e])


def replay(state, trace, mode, compressor="lz4", level=None):
    with open_trace(trace) as reader, open_kernel(state) as k:
        return replay_trace(k, reader, ReplayOptions(compressor=compressor, level=level,
                                                      compress_ahead=mode))


@pytest.mark.parametrize(("compressor", "level"), [("lz4", None), ("zstd", 1), ("deflate", None)])
def test_same_report_and_pool_as_compressing_inline(tmp_path, real_pages, compressor, level):
    pages = mixed_pages(real_pages, 3000)
    # out everything, in half, out again (implicit swap-ins), then in the rest
    trace = tmp_path / "t.gstrace"
    from ghostswap_cli.codec.trace import open_trace_writer

    with open_trace_writer(trace, format="binary", page_size=PAGE) as w:
        for i, p in enumerate(pages):
            w.out(0x1000 + i, p)
        for i in range(0, len(pages), 2):
            w.in_(0x1000 + i)
        for i in range(0, len(pages), 3):
            w.out(0x1000 + i, pages[-1 - i])
        for i in range(len(pages)):
            w.in_(0x1000 + i)
    results = {}
    for mode in ("off", "on"):
        state = tmp_path / f"state-{mode}"
        (tmp_path / mode).mkdir()
        fresh(tmp_path / mode, state)
        rep = replay(state, trace, mode, compressor, level)
        results[mode] = (rep, pool_entries(state))
    off, on = results["off"][0].to_json(), results["on"][0].to_json()
    assert off["compress_ahead"] == "off"
    assert re.fullmatch(rf"on: {compressor} in a second process, \d+ pages compressed there",
                        on["compress_ahead"])
    assert on["corrupt_pages"] == 0 and on["swapped_in"] > 0
    for key in TIMING:
        off.pop(key), on.pop(key)
    for d in off["devices"] + on["devices"]:
        d["name"] = os.path.basename(d["name"])
    assert on == off
    assert results["on"][1] == results["off"][1]


def test_pages_kept_in_the_pool_load_back_in_a_later_command(tmp_path, state_dir, real_pages):
    fresh(tmp_path, state_dir)
    pages = mixed_pages(real_pages, 2000)
    rep = replay(state_dir, write_trace(tmp_path / "out.gstrace", pages, ins=False), "on")
    assert rep.compress_ahead.startswith("on") and rep.stored_pages > 0
    with open_kernel(state_dir) as k:
        back = [k.mm.swap_in(0x1000 + i) for i in range(len(pages))]
        assert k.mm.stats.corrupt_pages == 0
    assert back == pages


def test_writeback_and_a_full_pool_agree_with_inline(tmp_path, real_pages):
    pages = mixed_pages(real_pages, 3000)
    trace = write_trace(tmp_path / "t.gstrace", pages)
    reports = {}
    for mode in ("off", "on"):
        (tmp_path / mode).mkdir()
        state = tmp_path / f"state-{mode}"
        fresh(tmp_path / mode, state, ghost=False, real=True, ram=64 << 20)
        set_param(state, "/sys/module/zswap/parameters/max_pool_percent", "5")
        reports[mode] = replay(state, trace, mode).to_json()
    assert reports["on"]["written_back_pages"] > 0
    for key in TIMING:
        reports["on"].pop(key), reports["off"].pop(key)
    for d in reports["on"]["devices"] + reports["off"]["devices"]:
        d["name"] = os.path.basename(d["name"])
    assert reports["on"] == reports["off"]


def test_off_when_zswap_is_disabled(tmp_path, state_dir, real_pages):
    fresh(tmp_path, state_dir)
    set_param(state_dir, "/sys/module/zswap/parameters/enabled", "N")
    rep = replay(state_dir, write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 200)), "on")
    assert rep.compress_ahead == "off"
    assert rep.corrupt_pages == 0


def test_auto_leaves_a_short_trace_inline(tmp_path, state_dir, real_pages):
    fresh(tmp_path, state_dir)
    trace = write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 200))
    assert trace.stat().st_size < compress_ahead.MIN_TRACE_BYTES
    assert replay(state_dir, trace, "auto").compress_ahead == "off"


def test_auto_compresses_ahead_a_long_trace_on_two_cpus(tmp_path, state_dir, real_pages):
    if compress_ahead.usable_cpus() < 2:
        pytest.skip("this process may run on one CPU only: auto stays inline")
    fresh(tmp_path, state_dir)
    n = 2 * compress_ahead.MIN_TRACE_BYTES // PAGE
    trace = write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, n))
    assert trace.stat().st_size >= compress_ahead.MIN_TRACE_BYTES
    rep = replay(state_dir, trace, "auto")
    assert rep.compress_ahead.startswith("on: lz4 in a second process, ")
    assert rep.corrupt_pages == 0 and rep.swapped_in == n


def test_a_trace_removed_under_the_replay_falls_back_to_inline(tmp_path, state_dir, real_pages):
    """The second process opens the trace by name; if that fails it stops, and the replay
    compresses every page itself."""
    fresh(tmp_path, state_dir)
    pages = mixed_pages(real_pages, 1500)
    trace = write_trace(tmp_path / "t.gstrace", pages)
    with open_trace(trace) as reader, open_kernel(state_dir) as k:
        trace.unlink()  # the replay's own reader keeps its open file
        rep = replay_trace(k, reader, ReplayOptions(compress_ahead="on"))
    assert rep.compress_ahead.startswith("on")
    assert rep.corrupt_pages == 0 and rep.swapped_in == len(pages)
    assert rep.stored_pages == 0 and rep.zswap_accepted_pages > 0


def test_a_malformed_trace_still_stops_at_its_record_and_the_worker_is_reaped(
        tmp_path, state_dir, real_pages):
    fresh(tmp_path, state_dir)
    trace = write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 600), ins=False)
    with open(trace, "r+b") as f:  # cut the last record in half
        f.truncate(trace.stat().st_size - PAGE // 2)
    before = pool_entries(state_dir)
    children_before = children()
    with pytest.raises(TraceError, match="record 600"):
        replay(state_dir, trace, "on")
    assert pool_entries(state_dir) == before
    assert children() == children_before


def test_the_cli_option_and_report(tmp_path, state_dir, real_pages, run_cli):
    fresh(tmp_path, state_dir)
    trace = write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 500))
    r = run_cli("replay", "--compress-ahead", "on", "--json", str(trace))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["compress_ahead"].startswith("on: lz4 in a second process, ")
    r = run_cli("replay", "--compress-ahead", "off", str(trace))
    assert r.exit_code == 0 and "compress ahead    off\n" in r.stdout
    r = run_cli("replay", "--compress-ahead", "sometimes", str(trace))
    assert r.exit_code == 2 and "'sometimes' is not one of" in r.output


@pytest.mark.parametrize(("compressor", "level"), [("lz4", None), ("zstd", 3)])
def test_the_second_process_sends_each_pages_compressed_form_and_crc(
        tmp_path, real_pages, compressor, level):
    pages = mixed_pages(real_pages, 150)  # all of it fits in the pipe (1 MiB)
    trace = write_trace(tmp_path / "t.gstrace", pages)
    compress = new_compressor(compressor, level).compress
    zero = bytes(PAGE)
    with compress_ahead.CompressAhead(trace, allow_dirs=(), page_size=PAGE,
                                      compressor=compressor, level=level) as ahead:
        deadline = time.monotonic() + 60
        while _state(ahead.pid) != "Z":  # let it finish (close() reaps it)
            assert time.monotonic() < deadline, "the second process did not finish in 60 s"
            time.sleep(0.02)
        items = iter(ahead)
        got = [next(items) for _ in pages]
        assert next(items) == (None, None)  # past the end: the caller's
    assert ahead.pages == sum(p != zero for p in pages) > 0
    for page, (data, csum) in zip(pages, got, strict=True):
        if page == zero:
            assert (data, csum) == (None, None)
        else:
            assert data == compress(page) and csum == zlib.crc32(page)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]
