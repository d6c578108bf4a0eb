"""Fixtures for the trace tests: a live child process with recognisable memory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

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
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        try:
            os.close(os.open(f"/proc/{proc.pid}/mem", os.O_RDONLY))
        except OSError as e:
            pytest.skip(f"/proc/PID/mem of a child is not readable here ({e.strerror}; "
                        "kernel.yama.ptrace_scope?)")
        yield proc
    finally:
        proc.kill()
        proc.wait()


