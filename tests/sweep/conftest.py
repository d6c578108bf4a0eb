"""Small grids for the sweep tests: a few thousand events per point, so a point takes a fraction
of a second, and one Dask LocalCluster shared by every Dask test of a module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GRID = """\
figures = ["compression_ratio", "pool_peak_size", "stored_pages", "rejected.pool_limit",
           "written_back_pages", "corrupt_pages"]

[traces]
hot = { synth = { events = 2500, working-set = 700, peak = 350, seed = 1 } }
flat = { synth = { events = 2500, working-set = 700, peak = 350, seed = 2, skew = 0.3 } }

[settings]
ram = "32M"

[axes]
compressor = ["lz4", "zstd"]
max_pool_percent = [1, 3]
"""


def write_spec(folder: Path, text: str = GRID, name: str = "grid.toml") -> Path:
    spec = folder / name
    spec.write_text(text, encoding="utf-8")
    return spec


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_key(path: Path) -> dict[str, dict]:
    rows = rows_of(path)
    out = {r["key"]: r for r in rows}
    assert len(out) == len(rows), "a key appears twice"
    return out


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    return write_spec(tmp_path)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory):
    """One LocalCluster (two single-threaded worker processes) for the module: starting one
    costs seconds. Its workers' temporary files go to a pytest folder (``.tmpdir``)."""
    distributed = pytest.importorskip("distributed")
    import logging
    import os

    tmpdir = tmp_path_factory.mktemp("dask-workers")
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmpdir)  # read by the worker processes as they start
    import dask

    try:
        with dask.config.set({"temporary-directory": str(tmpdir)}):
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True,
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    finally:
        if old is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old
    cluster.tmpdir = tmpdir
    try:
        yield cluster
    finally:
        cluster.close()
