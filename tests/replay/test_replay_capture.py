"""A trace captured from a live process replays with every page byte-identical, in every
configuration: zswap on and off, lz4 and zstd, ghost only and ghost plus a real swapfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ghost_swapfile, live_process, machine, real_swapfile, set_param, swapon

from ghostswap_cli.codec.trace import OP_OUT, open_trace
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay.capture import capture

# a process with a real heap: interpreter state, imported modules, text, numbers, objects
WORKLOAD = """
import json, random, collections, decimal, email, html, http.client, sys, time
rnd = random.Random(7)
words = [''.join(rnd.choice('etaoinshrdlu ') for _ in range(rnd.randrange(3, 12))) for _ in range(60000)]
table = {i: (w, i * 1.5, str(i) * 3) for i, w in enumerate(words)}
doc = json.dumps(table)[:3_000_000]
counts = collections.Counter(w[:2] for w in words)
blob = bytes(rnd.getrandbits(8) for _ in range(1 << 19))
print("ready", flush=True)
time.sleep(300)
"""


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> Path:
    with live_process(WORKLOAD) as proc:
        out = tmp_path_factory.mktemp("capture") / "proc.gstrace"
        res = capture(proc.pid, out, max_pages=6000)
        assert res.pages >= 2000
        return out


@pytest.mark.parametrize("layout", ["ghost", "ghost+real"])
@pytest.mark.parametrize("compressor", ["lz4", "zstd"])
@pytest.mark.parametrize("zswap_on", ["Y", "N"])
def test_captured_process_pages_come_back_identical(tmp_path, state_dir, captured, layout,
                                                    compressor, zswap_on, run_cli):
    machine(state_dir, ram=str(1 << 30))
    swapon(state_dir, ghost_swapfile(tmp_path / "ghost.swap", 16 << 20), prio=5)
    if layout == "ghost+real":
        swapon(state_dir, real_swapfile(tmp_path / "real.swap", 32 << 20))
    set_param(state_dir, "/sys/module/zswap/parameters/enabled", zswap_on)
    r = run_cli("replay", "--no-progress", "--json", "--compressor", compressor, captured)
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["corrupt_pages"] == 0
    assert rep["swapped_out"] == rep["swapped_in"] >= 2000
    if zswap_on == "N":
        assert rep["counters"]["zswpout"] == 0
    else:
        assert rep["zswap_accepted_pages"] > 0
    if layout == "ghost+real":
        # a 16 MiB ghost holds 4095 pages; the rest went to the real file
        assert rep["swapped_out"] <= 4095 or rep["counters"]["pswpout"] + rep["counters"]["zswpout"] > 0


def test_captured_pages_are_returned_byte_for_byte(tmp_path, state_dir, captured):
    """Beyond the CRC: compare the bytes swap_in returns with the captured bytes."""
    machine(state_dir, ram=str(1 << 30))
    swapon(state_dir, ghost_swapfile(tmp_path / "ghost.swap", 8 << 20), prio=5)
    swapon(state_dir, real_swapfile(tmp_path / "real.swap", 32 << 20))
    set_param(state_dir, "/sys/module/zswap/parameters/max_pool_percent", "1")
    with open_trace(captured) as r:
        pages = {vpn: page for op, vpn, page in r if op == OP_OUT}
    with open_kernel(state_dir) as k:
        for vpn, page in pages.items():
            k.mm.swap_out(vpn, page)
    with open_kernel(state_dir) as k:
        back = {vpn: k.mm.swap_in(vpn) for vpn in pages}
        assert k.counters["zswpwb"] > 0 or k.counters["pswpout"] > 0
    assert back == pages
