"""advise --memory-max and --curve on access traces: the sizes follow from the simulated run,
the curve falls as memory grows, JSON and PNG outputs, and the user's state is not touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghostswap_cli.designs.memory_advise import parse_limits


@pytest.fixture
def trace(tmp_path: Path, run_cli) -> Path:
    p = tmp_path / "ph.gst"
    r = run_cli("--state", tmp_path / "state", "trace", "synth", "--no-progress", "--workload", "phases",
                "--events", "8000", "--working-set", "1024", "--format", "binary", "-o", str(p))
    assert r.exit_code == 0, r.output
    return p


def test_parse_limits() -> None:
    assert parse_limits("4M", 1 << 30) == [4 << 20]
    assert parse_limits("1M:3M:1M", 0) == [1 << 20, 2 << 20, 3 << 20]
    assert parse_limits("50%,25%", 8 << 20) == [2 << 20, 4 << 20]
    with pytest.raises(ValueError, match="bad range"):
        parse_limits("3M:1M:1M", 0)
    with pytest.raises(ValueError, match="bad size"):
        parse_limits("lots", 0)


def test_advise_memory_max(tmp_path: Path, run_cli, trace: Path) -> None:
    state = tmp_path / "state"
    r = run_cli("--state", state, "advise", "--json", "--memory-max", "2M", str(trace))
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    p = d["point"]
    assert p["memory_max"] == 2 << 20 and p["refaults"] > 0 and not p["oom_killed"]
    assert d["zswap_pool_bytes"] >= p["peak_zswap_bytes"] * 1.25 - 1
    assert d["ghost_slots"] % 512 == 0 and d["ghost_slots"] > p["peak_swap_pages"]
    assert (d["real_swap_size"] > 0) == (p["peak_disk_pages"] > 0)
    text = run_cli("--state", state, "advise", "--memory-max", "2M", str(trace)).output
    assert "recommended (peaks + 25% headroom):" in text and "ghostswap mkswap --ghost --size" in text
    # the user's machine has no swap area and no counters moved
    assert run_cli("--state", state, "cat", "/proc/swaps").output.count("\n") == 1
    vm = dict(line.split() for line in run_cli("--state", state, "cat", "/proc/vmstat").output.splitlines())
    assert vm["pswpout"] == vm["zswpout"] == "0"


def test_curve_table_json_and_plot(tmp_path: Path, run_cli, trace: Path) -> None:
    pytest.importorskip("matplotlib")
    state = tmp_path / "state"
    png = tmp_path / "curve.png"
    r = run_cli("--state", state, "advise", "--curve", "--memory-max", "1M:4M:1M", "--json",
                "--plot", str(png), str(trace))
    assert r.exit_code == 0, r.output
    pts = json.loads(r.output)["points"]
    assert [p["memory_max"] for p in pts] == [1 << 20, 2 << 20, 3 << 20, 4 << 20]
    refaults = [p["refaults_per_1k"] for p in pts]
    assert refaults == sorted(refaults, reverse=True) and refaults[0] > refaults[-1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = run_cli("--state", state, "advise", "--curve", "--memory-max", "1M,4M", str(trace)).output
    assert "memory.max  refaults/1k" in table and "4 MiB" in table


def test_memory_max_needs_an_access_trace(tmp_path: Path, run_cli) -> None:
    p = tmp_path / "old.trace"
    p.write_text("ghostswap-trace 1\nout 1 zero\nin 1\n")
    r = run_cli("--state", tmp_path / "state", "advise", "--memory-max", "1M", str(p))
    assert r.exit_code == 1 and "need an access trace" in r.output


def test_designs_on_an_access_trace(tmp_path: Path, run_cli, trace: Path) -> None:
    state = tmp_path / "state"
    r = run_cli("--state", state, "designs", "--json", "--memory-max", "2M", str(trace))
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    ops = d.get("ops", None)
    text = json.dumps(d)
    assert "ghost-dynamic" in text and "vswap" in text
    if ops is not None:
        assert ops["out"] > 0 and ops["in"] > 0
    assert d.get("corrupt_pages", 0) == 0
    r = run_cli("--state", state, "designs", str(trace))
    assert r.exit_code == 1 and "give --memory-max" in r.output
    old = tmp_path / "old.trace"
    old.write_text("ghostswap-trace 1\nout 1 zero\n")
    r = run_cli("--state", state, "designs", "--memory-max", "1M", str(old))
    assert r.exit_code == 1 and "needs an access trace" in r.output
