"""``ghostswap designs`` through the CLI: a captured process, the table, errors, timeline, plot."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ghostswap_cli.cli.demo import example_trace
from ghostswap_cli.designs import DESIGN_NAMES
from ghostswap_cli.designs.base import ROWS
from ghostswap_cli.designs.plot import PLOT_MISSING
from ghostswap_cli.replay.capture import capture

from .lab_traces import write


def test_captured_process_all_five_designs(tmp_path: Path, child: subprocess.Popen[bytes],
                                          designs_json, state_dir: Path) -> None:
    out = tmp_path / "child.gstrace"
    res = capture(child.pid, out)
    assert res.pages >= (4 << 20) // 4096  # the child's 4 MiB at least
    r = designs_json(out, "--compressor", "lz4")
    assert list(r["designs"]) == list(DESIGN_NAMES)
    assert r["events"] == res.events == 2 * res.pages
    # every page went out and came back byte-identical
    assert r["corrupt_pages"] == 0 and r["verified_pages"] == res.pages
    assert r["zero_pages"] + r["compressed_pages"] + r["incompressible_pages"] == res.pages
    assert r["profile"]["peak_swapped_pages"] == res.peak_swapped
    for d in r["designs"].values():
        assert set(d) == {row.key for row in ROWS}
        assert d["metadata_peak_bytes"] > 0
    # the marked pages compress: every design stored them, none kept them resident for space
    assert r["designs"]["ghost-rfc"]["kept_resident_no_slot"] == 0
    assert r["designs"]["vswap-48"]["metadata_dynamic_at_peak_bytes"] >= 48 * res.peak_swapped // 2
    assert not state_dir.exists()  # the user's state was never opened


def test_text_table_has_every_row_and_design(run_cli) -> None:
    r = run_cli("designs", example_trace(), "--compressor", "lz4")
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split() == list(DESIGN_NAMES))
    labels = [row.label for row in ROWS if row.kind != "text"]
    assert [line[: len(label)] for line, label in zip(lines[head + 1 :], labels, strict=True)] == labels
    assert "0 corrupt" in r.stdout
    assert lines[head + 1 + len(labels) :] == []
    r = run_cli("designs", example_trace(), "--designs", "vswap-24,ghost,swap-table")
    assert r.exit_code == 0, r.output
    assert ["swap-table", "ghost-rfc", "vswap-24"] in [line.split() for line in r.stdout.splitlines()]


def test_json_matches_the_table_order(designs_json) -> None:
    r = designs_json(example_trace(), "--designs", "ghost-rfc", "--compressor", "lz4")
    assert r["rows"] == [row.key for row in ROWS]
    assert r["config"]["ghost_size_auto"] and r["config"]["ghost_size_bytes"] == 4 << 20
    assert r["oracle"]["rejected_incompressible"] == r["incompressible_pages"]
    assert r["compression_ratio"] > 1


@pytest.mark.parametrize(("args", "message"), [
    (["--param", "vswap-24.nope=1"], "unknown parameter 'vswap-24.nope'"),
    (["--param", "vswap-24.entry_bytes=lots"], "vswap-24.entry_bytes: 'lots' is not an integer"),
    (["--param", "vswap-48.indirect_swapin=2"], "vswap-48.indirect_swapin: 2 is out of range"),
    # an old key is accepted and reported under the name it has now
    (["--param", "ghost.cluster_slots=0"], "ghost-rfc.cluster_slots: 0 is out of range"),
    (["--param", "ghost-rfc.real_behind=2"], "ghost-rfc.real_behind: 2 is out of range"),
    (["--param", "lab.ram=4Q"], "lab.ram: '4Q' is not a size"),
    (["--param", "novalue"], "expected KEY=VALUE"),
    (["--designs", "zram"], "unknown design 'zram'"),
    (["--ghost-size", "lots"], "'lots' is not a size"),
    (["--pool-limit", "1M", "--max-pool-percent", "5"], "mutually exclusive"),
    (["--ghost-size", "4K"], "--ghost-size 4096 bytes is less than 2 pages"),
    (["--compressor", "snappy"], "compressor snappy not available"),
])
def test_usage_errors(run_cli, args: list[str], message: str) -> None:
    r = run_cli("designs", example_trace(), *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.stderr


def test_malformed_trace_is_one_line(run_cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.trace"
    bad.write_text("ghostswap-trace 1\nout 1 zero\nsideways 2\n")
    r = run_cli("designs", bad)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"ghostswap: {bad}:line 3: unknown event") and r.stderr.count("\n") == 1


def test_timeline_and_plot(run_cli, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the 'plot' extra (matplotlib) is not installed")
    png = tmp_path / "meta.png"
    r = run_cli("designs", example_trace(), "--plot", png, "--timeline-every", "500")
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.reader((tmp_path / "meta.csv").open()))
    assert rows[0] == ["event", *(f"{n}_metadata_bytes" for n in DESIGN_NAMES)]
    assert [int(row[0]) for row in rows[1:]] == list(range(500, 4001, 500))
    timeline = tmp_path / "t.csv"
    r = run_cli("designs", example_trace(), "--designs", "ghost-rfc", "--timeline", timeline, "--json",
                "--timeline-every", "1000")
    report = json.loads(r.stdout)
    last = list(csv.reader(timeline.open()))[-1]
    # the last row is the metadata after the last event: all pages still out at the end (768)
    assert last[0] == "4000" and int(last[1]) <= report["designs"]["ghost-rfc"]["metadata_peak_bytes"]


def test_plot_without_matplotlib_names_the_extra(run_cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    r = run_cli("designs", example_trace(), "--plot", tmp_path / "x.png")
    assert r.exit_code == 1
    assert r.stderr == f"ghostswap: {PLOT_MISSING}\n"
    assert "pip install 'ghostswap[plot]'" in PLOT_MISSING
    assert list(tmp_path.iterdir()) == []  # stopped before the replay wrote anything


def test_listed_in_the_root_help(run_cli) -> None:
    r = run_cli("--help")
    assert "designs" in r.stdout and "advise" in r.stdout


def test_empty_trace(tmp_path: Path, designs_json) -> None:
    r = designs_json(write(tmp_path / "e.trace", []))
    assert r["events"] == 0 and r["config"]["ghost_size_bytes"] == 2 << 20
    g = r["designs"]["ghost-rfc"]
    assert g["metadata_peak_bytes"] == 3 * 512 and g["metadata_mean_bytes"] == 0
    assert g["metadata_per_stored_page"] is None and g["lookups_per_swapin"] is None
