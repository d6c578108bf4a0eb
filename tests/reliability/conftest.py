"""Fixtures of the reliability tests (issue #13)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # relhelp
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: helpers

import pytest  # noqa: E402
from helpers import machine, real_swapfile, swapon  # noqa: E402


@pytest.fixture
def area(state_dir: Path, short_dir: Path):
    """An active 16 MiB real swap file under a short path; returns its path."""
    machine(state_dir)
    path = real_swapfile(short_dir / "real.swap", 16 << 20)
    swapon(state_dir, path)
    return path
