"""Batch compression (one zstd call per batch of swap-outs) changes the time and nothing else;
so does stopping a second process that compresses too few pages ahead."""

from __future__ import annotations

import os

import pytest
from helpers import ghost_swapfile, machine, real_swapfile, set_param, swapon
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.codec.trace import open_trace, open_trace_writer
from ghostswap_cli.kernel.compressors import batch_compressor, get_compressor
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay import compress_ahead
from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace

from .conftest import PAGE, mixed_pages

TIMING = ("elapsed", "events_per_second")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=PAGE), max_size=20),
       st.sampled_from([1, 3, -5, 19]))
def test_zstd_batch_makes_the_bytes_of_one_call_per_page(pages, level):
    c = get_compressor("zstd", level)
    compress_all = batch_compressor(c)
    assert compress_all is not None
    assert compress_all(pages) == [c.compress(p) for p in pages]


@pytest.mark.parametrize("name", ["lz4", "lz4hc", "deflate"])
def test_no_batch_call_for_compressors_without_one(name):
    assert batch_compressor(get_compressor(name)) is None


def _trace(path, pages):
    with open_trace_writer(path, format="binary", page_size=PAGE) as w:
        for i, p in enumerate(pages):
            w.out(0x1000 + i, p)
        for i in range(0, len(pages), 2):
            w.in_(0x1000 + i)
        for i in range(0, len(pages), 3):  # out again: implicit swap-ins of the odd ones
            w.out(0x1000 + i, pages[-1 - i])
        for i in range(0, len(pages), 5):
            w.free(0x1000 + i)
        for i in range(1, len(pages), 4):  # and some stay in the pool
            w.in_(0x1000 + i)
    return path


def _replay(tmp_path, mode, trace, *, ram, pool_percent=None):
    state = tmp_path / f"state-{mode}"
    (tmp_path / mode).mkdir()
    machine(state, ram=str(ram))
    if pool_percent is None:  # a ghost first; a full pool needs a real file to write back to
        swapon(state, ghost_swapfile(tmp_path / mode / "ghost.swap", 64 << 20), prio=5)
    swapon(state, real_swapfile(tmp_path / mode / "real.swap", 32 << 20))
    if pool_percent is not None:
        set_param(state, "/sys/module/zswap/parameters/max_pool_percent", str(pool_percent))
    with open_trace(trace) as reader, open_kernel(state) as k:
        rep = replay_trace(k, reader, ReplayOptions(compressor="zstd", level=1,
                                                     compress_ahead="off", batch_compress=mode))
    with open_kernel(state) as k:
        z = k.zswap
        pool = sorted((z.e_swp[e], z.e_len[e], z.decompress(e))
                      for e in z.live_entries())
    d = rep.to_json()
    for key in TIMING:
        d.pop(key)
    for dev in d["devices"]:
        dev["name"] = os.path.basename(dev["name"])
    return d, pool


@pytest.mark.parametrize(("ram", "pool_percent"), [(256 << 20, None), (64 << 20, 5)])
def test_batch_replay_is_the_per_page_replay(tmp_path, real_pages, ram, pool_percent):
    """Same report and same pool, with room in the pool and with a full one (writeback to the
    real swapfile, rejected stores whose batch-compressed bytes go unused)."""
    trace = _trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 2500))
    auto = _replay(tmp_path, "auto", trace, ram=ram, pool_percent=pool_percent)
    off = _replay(tmp_path, "off", trace, ram=ram, pool_percent=pool_percent)
    assert auto == off
    assert auto[0]["corrupt_pages"] == 0 and auto[0]["stored_pages"] > 0 and auto[1]
    if pool_percent is not None:
        assert auto[0]["written_back_pages"] > 0


def test_batch_compress_rejects_an_unknown_mode(tmp_path, real_pages):
    trace = _trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 10))
    with pytest.raises(ValueError, match="batch_compress"):
        _replay(tmp_path, "sometimes", trace, ram=256 << 20)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="compressing ahead needs fork()")
def test_a_second_process_that_compresses_too_few_is_stopped(tmp_path, real_pages, monkeypatch):
    """The share it must reach is set out of reach: the replay stops it at the check and
    compresses the rest itself, with the same result."""
    monkeypatch.setattr(compress_ahead, "CHECK_AFTER", 64)
    monkeypatch.setattr(compress_ahead, "MIN_SHARE", 1.5)
    trace = _trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 1500))
    reports = {}
    for mode in ("on", "off"):
        state = tmp_path / f"state-{mode}"
        (tmp_path / mode).mkdir()
        machine(state, ram=str(256 << 20))
        swapon(state, ghost_swapfile(tmp_path / mode / "ghost.swap", 64 << 20))
        with open_trace(trace) as reader, open_kernel(state) as k:
            rep = replay_trace(k, reader, ReplayOptions(compress_ahead=mode))
        reports[mode] = rep.to_json()
    on, off = reports["on"], reports["off"]
    assert on["compress_ahead"].startswith("on: lz4 in a second process, ")
    assert on["compress_ahead"].endswith(", stopped after 64 swap-outs (too few came from it)")
    for d in (on, off):
        for key in (*TIMING, "compress_ahead"):
            d.pop(key)
        for dev in d["devices"]:
            dev["name"] = os.path.basename(dev["name"])
    assert on == off and on["corrupt_pages"] == 0
