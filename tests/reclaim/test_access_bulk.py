"""The bulk step for runs of resident hits changes nothing: every synthetic workload, with and
without memory limits, under both LRU policies, replays to the same report, counters, timeline
and /proc/vmstat with bulk runs on, with them off (one access at a time), and from the text
form of the trace (the checking reader's path)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ghostswap_cli.cli import cli
from ghostswap_cli.codec.trace import open_trace, open_trace_writer
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.procfs import read_file
from ghostswap_cli.replay.access_bulk import record_heads
from ghostswap_cli.replay.access_replay import AccessOptions, replay_access_trace


def g(*args: object) -> None:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, r.output


def machine(tmp: Path, name: str, config: str) -> Path:
    state = tmp / name
    g("--state", state, "kernel", "init", "--ram", "256M", "--config", config)
    g("--state", state, "mkswap", "--file", "--size", "16M", tmp / f"{name}.swap")
    g("--state", state, "swapon", tmp / f"{name}.swap")
    return state


def run(state: Path, trace: Path, **opts: object) -> dict:
    timeline = io.StringIO()
    with open_kernel(state) as k, open_trace(trace) as r:
        rep = replay_access_trace(k, r, AccessOptions(timeline=timeline, timeline_every=97, **opts))
        vmstat = read_file(k, "/proc/vmstat")
    d = rep.to_json()
    for volatile in ("elapsed", "accesses_per_second", "trace"):
        d.pop(volatile)
    d["vmstat"] = vmstat
    d["timeline_csv"] = timeline.getvalue()
    return d


def compare(tmp: Path, trace: Path, config: str, text: Path | None = None, **opts: object) -> dict:
    runs = []
    for name, path, bulk in (("bulk", trace, True), ("one", trace, False), ("text", text, True)):
        if path is None:
            continue
        runs.append(run(machine(tmp, f"{name}-{len(list(tmp.iterdir()))}", config), path,
                        bulk=bulk, **opts))
    for other in runs[1:]:
        for key in runs[0]:
            assert runs[0][key] == other[key], key
    return runs[0]


def synth(tmp: Path, workload: str, events: int, pages: int, *extra: object) -> Path:
    path = tmp / f"{workload}-{events}.gst"
    g("trace", "synth", "--no-progress", "--workload", workload, "--events", events,
      "--working-set", pages, "--seed", 5, "--format", "binary", "-o", path, *extra)
    return path


@pytest.mark.parametrize("workload", ["zipf", "scan", "phases", "leaky"])
@pytest.mark.parametrize("policy", ["lru", "mglru"])
def test_workloads_with_and_without_limits(tmp_path: Path, workload: str, policy: str) -> None:
    trace = synth(tmp_path, workload, 5000, 768)
    free = compare(tmp_path, trace, "distro-6.1", policy=policy)
    assert free["swap_outs"] == 0 and free["accesses"] == 5000
    limited = compare(tmp_path, trace, "distro-6.1", policy=policy, memory_max=str(384 * 4096))
    assert limited["swap_outs"] > 0


def test_many_chunks_timestamps_and_proactive_reclaim(tmp_path: Path) -> None:
    """A trace of several 1 MiB chunks (records cut at chunk ends), memory.high and proactive
    reclaim on a 6.18 machine (exclusive loads), checked against the text form too."""
    trace = synth(tmp_path, "zipf", 120_000, 3000, "--write-ratio", "0.4")
    text = tmp_path / "zipf.trace"
    g("trace", "convert", "--no-progress", trace, text)
    d = compare(tmp_path, trace, "distro-6.18", text=text, memory_max=str(2600 * 4096),
                memory_high=str(2400 * 4096), memory_reclaim=64 << 10, reclaim_every_s=0.05)
    assert d["proactive_reclaimed_pages"] > 0 and d["swap_outs"] > 0


def test_frees_raw_pages_and_rewrites(tmp_path: Path) -> None:
    """Frees, raw pages, contents first seen in the middle of a run, reads of pages never
    written, under a limit: the records the bulk step must leave to the one-at-a-time path."""
    rng = random.Random(7)
    trace = tmp_path / "mixed.gst"
    contents = ["zero", "fill:0x5a", "text:1", "text:2", "random:3", "fill:0x0101010101010101"]
    raw = [rng.randbytes(4096) for _ in range(3)]
    with open_trace_writer(trace, "binary") as w:
        t = 0
        for _ in range(20_000):
            t += rng.randrange(0, 3000)
            vpn = int(rng.paretovariate(1.2) * 40) % 600
            x = rng.random()
            if x < 0.55:
                w.read(vpn, t_ns=t)
            elif x < 0.9:
                w.write(vpn, rng.choice(contents + [f"text:{rng.randrange(400)}"]), t_ns=t)
            elif x < 0.93:
                w.write(vpn, rng.choice(raw), t_ns=t)
            else:
                w.free(vpn, t_ns=t)
    for policy in ("lru", "mglru"):
        compare(tmp_path, trace, "distro-6.1", policy=policy, memory_max=str(160 * 4096))


@pytest.mark.parametrize("seed", range(4))
def test_record_heads_follow_the_lengths(seed: int) -> None:
    rng = np.random.default_rng(seed)
    length = rng.integers(1, 6, size=rng.integers(1, 3000))
    heads, p = [], 0
    while p < len(length):
        heads.append(p)
        p += int(length[p])
    assert record_heads(length).tolist() == heads
