"""Fixtures for the design-lab tests: hand-built traces, the designs command as JSON, and a live
child process with recognisable memory to capture."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import live_process


@pytest.fixture
def designs_json(run_cli) -> Callable[..., dict[str, Any]]:
    """``ghostswap designs ARGS --json`` in-process; the parsed report (exit status 0 checked)."""

    def run(*args: object) -> dict[str, Any]:
        r = run_cli("designs", *map(str, args), "--json")
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    return run


MARK = b"GHOSTSWAP-LAB-MARK\n"
CHILD = f"""
import sys, time
data = bytearray({MARK!r} * ((3 << 20) // {len(MARK)}))   # 3 MiB of recognisable pages
zeros = bytearray(1 << 20)
zeros[::4096] = b"z" * len(zeros[::4096])                  # 1 MiB, one byte set per page
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    with live_process(CHILD) as proc:
        yield proc
