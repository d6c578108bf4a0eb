"""Fixtures for the trace tests: a live child process with recognisable memory."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from helpers import live_process

MARK = b"GHOSTSWAP-MARK!\n"  # 16 bytes: 256 to a page
CHILD = f"""
import sys, time
marked = bytearray({MARK!r} * (4 << 20 >> 4))     # 4 MiB of recognisable pages
sparse = bytearray(2 << 20)                            # 2 MiB, one byte set per page
sparse[::4096] = b"x" * len(sparse[::4096])
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    with live_process(CHILD) as proc:
        yield proc
