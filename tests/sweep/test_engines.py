"""Must-show 1: the same grid on the process pool and on Dask gives identical rows. Also: Dask
with --ship (traces sent as bytes), and the one line when Dask is not installed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from .conftest import by_key


def test_pool_and_dask_give_identical_rows(run_cli, grid: Path, tmp_path: Path, dask_cluster):
    pool = tmp_path / "pool.jsonl"
    dask = tmp_path / "dask.jsonl"
    assert run_cli("sweep", grid, "-o", pool, "-j", "2").exit_code == 0
    r = run_cli("sweep", grid, "-o", dask, "--engine", "dask", "--scheduler",
                dask_cluster.scheduler_address)
    assert r.exit_code == 0, r.output
    assert f"Dask, scheduler {dask_cluster.scheduler_address}, 2 workers" in r.stdout
    pool_rows, dask_rows = by_key(pool), by_key(dask)
    assert len(pool_rows) == 8
    assert pool_rows == dask_rows  # every column of every row, figures included
    # byte for byte, once put in the same order
    assert sorted(pool.read_text().splitlines()) == sorted(dask.read_text().splitlines())


def test_dask_with_ship_reads_no_trace_path(run_cli, tmp_path: Path, dask_cluster):
    folder = tmp_path / "spec"
    folder.mkdir()
    trace = folder / "t.trace"
    assert run_cli("trace", "synth", "-o", trace, "--events", "1500", "--working-set", "400",
                   "--format", "binary").exit_code == 0
    spec = folder / "g.toml"
    spec.write_text('[traces]\nt = "t.trace"\n[axes]\ncompressor = ["lz4", "zstd", "deflate"]\n')
    local = tmp_path / "local.jsonl"
    shipped = tmp_path / "shipped.jsonl"
    assert run_cli("sweep", spec, "-o", local, "-j", "1").exit_code == 0
    r = run_cli("sweep", spec, "-o", shipped, "--engine", "dask", "--ship", "--scheduler",
                dask_cluster.scheduler_address)
    assert r.exit_code == 0, r.output
    assert by_key(local) == by_key(shipped)
    # the workers replayed their own copy, written from the shipped bytes, named by its hash
    digest = hashlib.sha256(trace.read_bytes()).hexdigest()
    copy = dask_cluster.tmpdir / f"ghostswap-sweep-{os.getuid()}" / "traces" / f"{digest}.trace"
    assert copy.read_bytes() == trace.read_bytes()


def test_without_dask_one_line_says_how_to_install_it(grid: Path):
    code = ("import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None\n"
            "from ghostswap_cli.cli import main; main(sys.argv[1:])")
    r = subprocess.run([sys.executable, "-c", code, "sweep", str(grid), "--engine", "dask"],
                       capture_output=True, text=True, check=False)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "ghostswap: --engine dask needs Dask: pip install 'ghostswap[dask]'\n"
    assert not grid.with_suffix(".jsonl").exists()


def test_an_unreachable_scheduler_is_one_line_and_leaves_nothing(run_cli, grid: Path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):  # dask's own setting
        r = run_cli("sweep", grid, "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{port}")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"ghostswap: tcp://127.0.0.1:{port}: cannot reach the Dask scheduler")
    assert r.stderr.count("\n") == 1
    assert not grid.with_suffix(".jsonl").exists()
