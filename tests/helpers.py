"""Small builders shared by tests: swap files on disk and a configured simulated kernel."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from ghostswap_cli.cli.demo import make_swapfile
from ghostswap_cli.kernel.machine import open_kernel, reset_state
from ghostswap_cli.kernel.swapfile import sys_swapon
from ghostswap_cli.uapi import SWAP_FLAG_PREFER

# deterministic device flags: tests must not depend on the disk under /tmp
DETERMINISTIC = {"backing_rotational": "0", "backing_discard": "0"}


def real_swapfile(path: Path, size: int = 8 << 20, page_size: int = 4096, label: str = "real") -> Path:
    make_swapfile(path, size, page_size, ghost=False, label=label)
    return path


def ghost_swapfile(path: Path, size: int = 64 << 20, page_size: int = 4096, label: str = "ghost") -> Path:
    make_swapfile(path, size, page_size, ghost=True, label=label)
    return path


def machine(state: Path, **params: str) -> None:
    """A fresh simulated kernel in ``state`` with deterministic device flags."""
    reset_state(state, {**DETERMINISTIC, **{k: str(v) for k, v in params.items()}}, keep_machine=False)


def swapon(state: Path, *paths: Path, prio: int | None = None) -> None:
    with open_kernel(state) as k:
        for p in paths:
            sys_swapon(k, str(p), 0 if prio is None else SWAP_FLAG_PREFER | prio)


def set_param(state: Path, path: str, value: str) -> None:
    from ghostswap_cli.kernel.procfs import write_file

    with open_kernel(state) as k:
        write_file(k, path, value)


@contextlib.contextmanager
def live_process(code: str) -> Iterator[subprocess.Popen[bytes]]:
    """A child Python process running ``code``, which prints ``ready`` once its memory is set
    up; skips the test where /proc/PID/mem of a child cannot be read (ptrace_scope)."""
    import pytest

    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
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


def children() -> set[int]:
    """PIDs of this process's children, zombies included."""
    me = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                found.add(int(entry))
    return found
