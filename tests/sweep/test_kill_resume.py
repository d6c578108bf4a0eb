"""Must-show 2: kill a sweep half way (SIGTERM, SIGKILL), --resume, and every point is done
exactly once: none lost, none duplicated, each row as an uninterrupted sweep writes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import by_key, rows_of, write_spec

# 16 points of a few tenths of a second each: long enough to be killed in the middle
KILL_GRID = """\
[traces]
a = { synth = { events = 2500, working-set = 700, peak = 350, seed = 3 } }
b = { synth = { events = 2500, working-set = 700, peak = 350, seed = 4, pattern = "sawtooth" } }

[settings]
ram = "32M"

[axes]
compressor = ["lz4", "zstd"]
max_pool_percent = [1, 2, 3, 4]
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The rows of the grid run once without interruption."""
    folder = tmp_path_factory.mktemp("reference")
    spec = write_spec(folder, KILL_GRID)
    r = sweep(spec, "-j", "2")
    assert r.returncode == 0, r.stderr
    rows = by_key(spec.with_suffix(".jsonl"))
    assert len(rows) == 16
    return rows


def env_for(spec: Path) -> dict[str, str]:
    """The sweep's temporary files in a folder of the test, to see that none are left."""
    tmp = spec.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp)}


def sweep(spec: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ghostswap_cli", "sweep", str(spec), *args],
                          capture_output=True, text=True, timeout=300, check=False,
                          env=env_for(spec))


def session_processes(sid: int) -> list[int]:
    """Processes still alive in the session the test started (the sweep and its workers)."""
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                alive.append(int(entry))
    return alive


def kill_half_way(spec: Path, signum: int) -> subprocess.Popen[str]:
    results = spec.with_suffix(".jsonl")
    proc = subprocess.Popen([sys.executable, "-m", "ghostswap_cli", "sweep", str(spec), "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env_for(spec))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if results.exists() and results.read_bytes().count(b"\n") >= 3:
            break
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended before it was killed: {proc.stderr.read()}")
        time.sleep(0.02)
    os.kill(proc.pid, signum)
    proc.wait(timeout=60)
    # the workers go too: stopped by the sweep (SIGTERM), or by their parent-death signal
    deadline = time.monotonic() + 20
    while session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = session_processes(proc.pid)
    for pid in left:  # do not leave them running whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert left == [], "worker processes outlived the sweep"
    # and took their points' temporary directories with them
    assert list((spec.parent / "tmp").iterdir()) == []
    return proc


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_half_way_then_resumed(tmp_path: Path, reference: dict[str, dict], signum: int):
    spec = write_spec(tmp_path, KILL_GRID)
    results = spec.with_suffix(".jsonl")
    proc = kill_half_way(spec, signum)
    written = rows_of(results)
    assert 3 <= len(written) < 16, "not killed half way"
    assert len({r["key"] for r in written}) == len(written)
    if signum == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
        assert proc.stderr.read().endswith(
            f"points not run; continue with: ghostswap sweep {spec} --resume\n")
    else:
        assert proc.returncode == -signal.SIGKILL
    r = sweep(spec, "--resume", "-j", "2")
    assert r.returncode == 0, r.stderr
    assert f"{16 - len(written)} ok, 0 failed, {len(written)} already done" in r.stdout
    assert list((spec.parent / "tmp").iterdir()) == []
    rows = rows_of(results)
    keys = [row["key"] for row in rows]
    assert sorted(keys) == sorted(reference)  # every point once: none lost, none twice
    assert {row["key"]: row for row in rows} == reference
    # a second --resume finds nothing to do
    again = sweep(spec, "--resume")
    assert again.returncode == 0 and "nothing to run" in again.stdout
    assert rows_of(results) == rows
