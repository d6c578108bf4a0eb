"""benchmarks/soak.py, short: concurrent replays, swapon/swapoff cycles and readers against one
state, then fsck --verify; only the expected refusals, no page lost, a clean state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def soak(workers: int, minutes: float, tmp_path: Path) -> dict:
    p = subprocess.run([sys.executable, str(SOAK), "--workers", str(workers), "--minutes",
                        str(minutes), "--json", "--seed", "3"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    result = json.loads(p.stdout)
    assert p.returncode == 0, (result, p.stderr)
    return result


def check(result: dict) -> None:
    assert result["pages_lost"] == 0
    assert result["fsck_exit"] == 0, result["fsck_problems"]
    assert not [k for k in result["errors_by_kind"] if "UNEXPECTED" in k], result["unexpected"]
    ops = result["operations_by_kind"]
    assert ops.get("replay", 0) >= 2 and ops.get("swapon", 0) >= 2 and ops.get("read", 0) >= 2
    assert result["pages_verified"] == result["pages_swapped_out_at_end"] > 0


def test_short_soak(tmp_path):
    check(soak(4, 0.25, tmp_path))


@pytest.mark.slow
def test_soak_eight_workers_two_minutes(tmp_path):
    result = soak(8, 2, tmp_path)
    check(result)
    # three cyclers share one file on purpose: the losers see EBUSY and EINVAL
    assert any("EBUSY" in k or "EINVAL" in k for k in result["errors_by_kind"])
