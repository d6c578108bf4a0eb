"""``ghostswap sweep`` through the real CLI: rows, failed points, resume, the lock, torn lines,
designs mode, --list, --json, plot and export. The user's state directory is never touched."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from .conftest import by_key, rows_of, write_spec

FIGURES = ["compression_ratio", "pool_peak_size", "stored_pages", "rejected.pool_limit",
           "written_back_pages", "corrupt_pages"]


@pytest.fixture(scope="module")
def finished_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 8-point grid, run once for the module (as a subprocess, as a user runs it)."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("grid")
    spec = write_spec(folder)
    state = folder / "state"
    r = subprocess.run([sys.executable, "-m", "ghostswap_cli", "--state", str(state), "sweep",
                        str(spec), "-j", "2"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "8 ok, 0 failed, 0 already done" in r.stdout
    assert not state.exists()  # every point had its own throwaway kernel
    return spec.with_suffix(".jsonl")


def test_a_grid_runs_every_point_once(finished_grid: Path):
    rows = by_key(finished_grid)
    assert len(rows) == 8
    for row in rows.values():
        assert list(row) == ["key", "trace", "compressor", "max_pool_percent", "status", *FIGURES]
        assert row["status"] == "ok" and row["corrupt_pages"] == 0
    ratio = {(r["trace"], r["compressor"], r["max_pool_percent"]): r for r in rows.values()}
    # what the axes change, they change: zstd packs tighter, a smaller pool limit rejects more
    for trace in ("hot", "flat"):
        assert ratio[trace, "zstd", 3]["compression_ratio"] > ratio[trace, "lz4", 3]["compression_ratio"]
        assert ratio[trace, "lz4", 1]["rejected.pool_limit"] > ratio[trace, "lz4", 3]["rejected.pool_limit"]


def test_the_same_point_gives_the_same_row_as_a_plain_replay(run_cli, tmp_path: Path):
    """A point is `kernel reset` + swapon of a ghost + `replay`: the CLI's own figures."""
    trace = tmp_path / "t.trace"
    assert run_cli("trace", "synth", "-o", trace, "--events", "2000", "--working-set", "500",
                   "--seed", "5").exit_code == 0
    spec = write_spec(tmp_path, 'figures = ["stored_pages", "pool_peak_size", "zswap_accepted_bytes", '
                      '"rejected.pool_limit", "counters.zswpout"]\n[traces]\nt = "t.trace"\n'
                      '[settings]\nram = "16M"\ncompressor = "zstd"\nmax_pool_percent = 1\n')
    assert run_cli("sweep", spec, "-j", "1").exit_code == 0
    (row,) = rows_of(spec.with_suffix(".jsonl"))
    ghost = tmp_path / "g.swap"
    assert run_cli("kernel", "reset", "--ram", "16M").exit_code == 0
    assert run_cli("write", "/sys/module/zswap/parameters/max_pool_percent", "1").exit_code == 0
    assert run_cli("mkswap", "--ghost", "--size", "1G", ghost).exit_code == 0
    assert run_cli("swapon", "-p", "10", ghost).exit_code == 0
    r = run_cli("replay", "--compressor", "zstd", "--json", "--compress-ahead", "off", trace)
    report = json.loads(r.stdout)
    assert row["stored_pages"] == report["stored_pages"]
    assert row["pool_peak_size"] == report["pool_peak_size"]
    assert row["zswap_accepted_bytes"] == report["zswap_accepted_bytes"]
    assert row["rejected.pool_limit"] == report["rejected"]["pool_limit"] > 0
    assert row["counters.zswpout"] == report["counters"]["zswpout"]


def test_a_failed_point_is_reported_and_the_others_run(run_cli, tmp_path: Path):
    spec = write_spec(tmp_path, '[traces]\nt = { synth = { events = 600, working-set = 200 } }\n'
                      '[settings]\nghost_size = "none"\n[axes]\nreal_size = ["4K", "2M"]\n')
    r = run_cli("sweep", spec, "-j", "2")
    assert r.exit_code == 1
    rows = rows_of(spec.with_suffix(".jsonl"))
    assert sorted(r["status"] for r in rows) == ["failed", "ok"]
    (bad,) = [r for r in rows if r["status"] == "failed"]
    assert bad["real_size"] == [4096]
    assert bad["error"] == "swapon real0.swap (4096 bytes): Invalid argument"
    assert "1 ok, 1 failed" in r.stdout
    assert f"failed {bad['key']} trace=t real_size=[4096]: swapon real0.swap" in r.stdout
    assert f"point {bad['key']} failed" in r.stderr
    # --resume runs the failed point again (and only it); its new row supersedes the old one
    r = run_cli("sweep", spec, "--resume", "--json")
    summary = json.loads(r.stdout)
    assert (summary["already_done"], summary["to_run"], summary["failed"]) == (1, 1, 1)
    assert summary["failures"][0]["error"] == bad["error"]
    assert len(rows_of(spec.with_suffix(".jsonl"))) == 3


def test_an_existing_results_file_needs_resume_or_overwrite(run_cli, tmp_path: Path):
    spec = write_spec(tmp_path, '[traces]\nt = { synth = { events = 300, working-set = 100 } }\n')
    assert run_cli("sweep", spec).exit_code == 0
    results = spec.with_suffix(".jsonl")
    before = results.read_bytes()
    r = run_cli("sweep", spec)
    assert r.exit_code == 1
    assert r.stderr == (f"ghostswap: {results}: results file exists; continue it with --resume "
                        "or start again with --overwrite\n")
    assert results.read_bytes() == before
    r = run_cli("sweep", spec, "--resume")
    assert r.exit_code == 0 and "1 already done: nothing to run" in r.stdout
    assert results.read_bytes() == before
    assert run_cli("sweep", spec, "--overwrite").exit_code == 0
    assert len(rows_of(results)) == 1
    assert run_cli("sweep", spec, "--resume", "--overwrite").exit_code == 2


def test_a_torn_last_line_is_dropped_and_its_point_run_again(run_cli, tmp_path: Path):
    spec = write_spec(tmp_path, '[traces]\nt = { synth = { events = 300, working-set = 100 } }\n'
                      '[axes]\ncompressor = ["lz4", "zstd"]\n')
    assert run_cli("sweep", spec).exit_code == 0
    results = spec.with_suffix(".jsonl")
    whole = results.read_bytes()
    first, second = whole.splitlines(keepends=True)
    results.write_bytes(first + second[: len(second) // 2])  # a kill in the middle of a write
    r = run_cli("sweep", spec, "--resume")
    assert r.exit_code == 0 and "1 ok, 0 failed, 1 already done" in r.stdout
    assert sorted(results.read_bytes().splitlines()) == sorted(whole.splitlines())


def test_garbage_in_the_results_file_is_refused(run_cli, tmp_path: Path):
    spec = write_spec(tmp_path, '[traces]\nt = { synth = { events = 300, working-set = 100 } }\n')
    results = spec.with_suffix(".jsonl")
    results.write_text('{"key": "x", "status": "ok"}\nnot json\n')
    r = run_cli("sweep", spec, "--resume")
    assert r.exit_code == 1 and r.stderr == f"ghostswap: {results}:2: not a sweep result row\n"


def test_one_sweep_at_a_time_per_results_file(run_cli, tmp_path: Path):
    spec = write_spec(tmp_path, '[traces]\nt = { synth = { events = 300, working-set = 100 } }\n')
    results = spec.with_suffix(".jsonl")
    fd = os.open(results, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = run_cli("sweep", spec, "--resume")
        assert r.exit_code == 1
        assert r.stderr == f"ghostswap: {results}: another sweep is writing to it\n"
    finally:
        os.close(fd)


def test_list_and_json(run_cli, grid: Path):
    r = run_cli("sweep", grid, "--list", "--json")
    assert r.exit_code == 0
    listed = json.loads(r.stdout)["points"]
    assert len(listed) == 8 and not any(p["done"] for p in listed)
    assert not grid.with_suffix(".jsonl").exists()  # --list runs nothing
    r = run_cli("sweep", grid, "--set", "trace=hot", "--set", "max_pool_percent=3", "--json")
    summary = json.loads(r.stdout)
    assert (summary["points"], summary["ok"], summary["failed"], summary["remaining"]) == (2, 2, 0, 0)
    assert summary["engine"].startswith("process pool of ") and summary["points_per_second"] > 0
    r = run_cli("sweep", "run", grid, "--list")
    done = [line.split()[1] for line in r.stdout.splitlines()]
    assert done.count("done") == 2 and done.count("todo") == 6


def test_usage_errors(run_cli, grid: Path):
    assert run_cli("sweep", grid, "--ship").exit_code == 2
    assert run_cli("sweep", grid, "--scheduler", "tcp://x:1").exit_code == 2
    r = run_cli("sweep", grid, "--set", "nonsense")
    assert r.exit_code == 2 and "expected NAME=VALUE" in r.stderr


def test_designs_mode_one_row_per_design(run_cli, tmp_path: Path):
    spec = write_spec(tmp_path, '[traces]\nt = { synth = { events = 1500, working-set = 400 } }\n'
                      '[settings]\ncompressor = "lz4"\n[axes]\npool_limit = ["128K", "1M"]\n')
    r = run_cli("sweep", spec, "-j", "2")
    assert r.exit_code == 0, r.output
    rows = by_key(spec.with_suffix(".jsonl")).values()
    assert len(rows) == 18
    assert {r["design"] for r in rows} == {
        "mainline-6.18", "swap-table", "swap-tiers", "ghost-rfc", "ghost-grow", "ghost-redirect",
        "swap-table-dynamic", "vswap-48", "vswap-24"}
    peak = {(r["design"], r["pool_limit"]): r["pool_peak_bytes"] for r in rows}
    # a pool limit of 128 KiB caps the pool near it (a store is checked before it lands)
    assert all(peak[d, 128 << 10] < 160 << 10 < peak[d, 1 << 20] for d in ("ghost-rfc", "vswap-48"))
    assert all(r["corrupt_pages"] == 0 for r in rows)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and zlib.crc32(data[12:16 + length]) == struct.unpack(">I", data[16 + length:20 + length])[0]
    return struct.unpack(">II", data[16:24])


def test_plot_and_export(run_cli, finished_grid: Path, tmp_path: Path):
    pytest.importorskip("matplotlib")
    results = tmp_path / "grid.jsonl"
    results.write_bytes(finished_grid.read_bytes())
    png = tmp_path / "ratio.png"
    r = run_cli("sweep", "plot", results, "-o", png, "-y", "compression_ratio", "--x", "compressor",
                "--where", "max_pool_percent=3")
    assert r.exit_code == 0, r.output
    assert r.stderr == f"ghostswap: wrote {png}: compression_ratio against compressor, 2 lines by trace\n"
    assert png_size(png)[0] > 400
    r = run_cli("sweep", "plot", results, "-y", "nope")
    assert r.exit_code == 2 and "no such figure" in r.stderr
    r = run_cli("sweep", "export", results)
    assert r.exit_code == 0
    lines = results.with_suffix(".csv").read_text().splitlines()
    assert lines[0] == "key,trace,compressor,max_pool_percent,status," + ",".join(FIGURES)
    assert len(lines) == 9


def test_scratch_folder_holds_the_points_kernels_and_is_left_empty(run_cli, tmp_path: Path):
    spec = write_spec(tmp_path, '[traces]\nt = { synth = { events = 300, working-set = 100 } }\n'
                      '[axes]\ncompressor = ["lz4", "zstd"]\n')
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert run_cli("sweep", spec, "-o", tmp_path / "a.jsonl").exit_code == 0
    assert run_cli("sweep", spec, "-o", tmp_path / "b.jsonl", "--scratch", scratch).exit_code == 0
    assert by_key(tmp_path / "a.jsonl") == by_key(tmp_path / "b.jsonl")  # not an input
    assert list(scratch.iterdir()) == []
    r = run_cli("sweep", spec, "--scratch", tmp_path / "missing")
    assert r.exit_code == 2 and "does not exist" in r.stderr


def test_the_readme_plot_is_what_sweep_plot_draws(run_cli, tmp_path: Path):
    pytest.importorskip("matplotlib")
    root = Path(__file__).resolve().parents[2]
    png = tmp_path / "again.png"
    r = run_cli("sweep", "plot", root / "docs" / "sweep-grid.jsonl", "-o", png, "-x",
                "max_pool_percent", "-y", "rejected.pool_limit")
    assert r.exit_code == 0, r.output
    assert "4 lines by trace, compressor" in r.stderr
    assert png_size(png) == png_size(root / "docs" / "sweep-pool-limit.png")
