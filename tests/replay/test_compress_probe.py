"""``--compress-ahead auto`` probes: it alternates inline and ahead batches, keeps the faster,
says which and why, and whatever it chooses the replay is the same as inline."""

from __future__ import annotations

import os
import re
import zlib

import pytest
from helpers import children, ghost_swapfile, machine, swapon

from ghostswap_cli.codec.trace import open_trace
from ghostswap_cli.kernel.compressors import new_compressor
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay import compress_ahead
from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace

from .conftest import PAGE, mixed_pages, write_trace

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="compressing ahead needs fork()")

CHOSE = re.compile(r"(on: lz4 in a second process, \d+ pages compressed there; auto chose ahead: "
                   r"|auto chose inline after \d+ swap-outs: )ahead took \d+\.\d\dx the time per "
                   r"event of inline \(median of 4 rounds, \d+ events probed\)")


def test_the_probe_alternates_and_every_item_is_right(tmp_path, real_pages):
    """Batches fed by hand: the first PROBE_BATCHES are inline (the replay's batch call), the
    next ahead, and so on; every item handed out is the page's compressed form and CRC, or
    (None, None) for the caller; the choice and its ratio are reported."""
    per_batch = 20
    batches = 2 * compress_ahead.PROBE_ROUNDS * compress_ahead.PROBE_BATCHES + 4
    pages = mixed_pages(real_pages, per_batch * batches)
    trace = write_trace(tmp_path / "t.gstrace", pages, ins=False)
    compress = new_compressor("lz4", None).compress
    zero = bytes(PAGE)
    used_inline = []
    before = children()

    def inline(events):
        used_inline.append(True)
        return iter([(None, None) if p == zero else (compress(p), None) for _, _, p in events])

    with compress_ahead.CompressAhead(trace, allow_dirs=(), page_size=PAGE, compressor="lz4",
                                      level=None, probe=True) as ahead:
        for b in range(batches):
            events = [(0, 0x1000 + i, pages[i]) for i in range(b * per_batch, (b + 1) * per_batch)]
            used_inline.clear()
            items = list(ahead.batch(events, inline))
            assert len(items) == per_batch
            phase = (b // compress_ahead.PROBE_BATCHES) % 2
            if b < 2 * compress_ahead.PROBE_ROUNDS * compress_ahead.PROBE_BATCHES:
                assert bool(used_inline) == (phase == 0), b
            for (_, _, page), (data, csum) in zip(events, items, strict=True):
                if data is not None:
                    assert data == compress(page)
                    assert csum is None or csum == zlib.crc32(page)
                else:
                    assert csum is None
        assert ahead.choice in ("ahead", "inline")
        assert len(ahead.ratios) == compress_ahead.PROBE_ROUNDS
        assert (ahead.pid == 0) == (ahead.choice == "inline")
        assert CHOSE.match(ahead.summary()), ahead.summary()
    assert children() == before


def test_auto_replay_reports_its_choice_and_matches_inline(tmp_path, real_pages):
    if compress_ahead.usable_cpus() < 2:
        pytest.skip("this process may run on one CPU only: auto stays inline")
    n = 2 * compress_ahead.PROBE_ROUNDS * compress_ahead.PROBE_BATCHES * 1024 // 2 + 2048
    pages = mixed_pages(real_pages, n)
    trace = write_trace(tmp_path / "t.gstrace", pages)
    assert trace.stat().st_size >= compress_ahead.MIN_TRACE_BYTES
    reports = {}
    for mode in ("off", "auto"):
        (tmp_path / mode).mkdir()
        state = tmp_path / mode / "state"
        machine(state, ram=str(256 << 20))
        swapon(state, ghost_swapfile(tmp_path / mode / "ghost.swap", 128 << 20), prio=5)
        with open_trace(trace) as reader, open_kernel(state) as k:
            rep = replay_trace(k, reader, ReplayOptions(compressor="lz4", compress_ahead=mode))
        reports[mode] = rep.to_json()
    assert CHOSE.match(reports["auto"]["compress_ahead"]), reports["auto"]["compress_ahead"]
    for d in reports.values():
        for key in ("elapsed", "events_per_second", "compress_ahead"):
            d.pop(key)
        for dev in d["devices"]:
            dev["name"] = os.path.basename(dev["name"])
    assert reports["auto"] == reports["off"]
    assert reports["auto"]["corrupt_pages"] == 0 and reports["auto"]["swapped_in"] == n
