"""Fault injection at the state's write points, for the reliability suite.

Every place where a command writes its state (a write statement or commit of the state
database, growing the pool file, a page written to a swap file, a link made in the state
directory, a trace file written) calls :func:`fault_point`.
Normally that is one dictionary look-up. With ``GHOSTSWAP_FAULT=N:ACTION`` in the environment,
the N-th point this process reaches (counting from 1) does ACTION instead of going on:

``kill``
    SIGKILL the process itself, as pulling the plug on the command (the file system keeps what
    was written, as it does when a process dies);
``enospc``, ``eio``
    fail there as the write would on a full disk or a failing one: an ``OSError`` that the code
    above must turn into one clear line, leaving the state as it was.

``GHOSTSWAP_FAULT_COUNT=FILE`` appends, at exit, how many points were reached and where, so a
driver knows how many runs to make (tests/reliability/test_fault_injection.py).

This is ghostswap's own code failing where the system would, not a mock: everything above the
point runs as it does in real use.
"""

from __future__ import annotations

import atexit
import errno
import os
import signal

__all__ = ("fault_point", "ACTIONS")

ACTIONS = ("kill", "enospc", "eio")

_ENV = os.environ.get("GHOSTSWAP_FAULT")
_COUNT_FILE = os.environ.get("GHOSTSWAP_FAULT_COUNT")
_target = 0
_action = ""
_reached: list[str] = []

if _ENV:
    n, _, _action = _ENV.partition(":")
    _target = int(n)
    if _action not in ACTIONS:
        raise SystemExit(f"GHOSTSWAP_FAULT: unknown action {_action!r} (one of {', '.join(ACTIONS)})")

if _COUNT_FILE:
    def _write_count() -> None:
        with open(_COUNT_FILE, "a") as f:
            f.write(f"{len(_reached)} {' '.join(_reached)}\n")

    atexit.register(_write_count)

_ACTIVE = bool(_ENV or _COUNT_FILE)


def fault_point(where: str) -> None:
    """A state write is about to happen at ``where``: fail here if asked to."""
    if not _ACTIVE:
        return
    _reached.append(where)
    if len(_reached) != _target:
        return
    if _action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    code = errno.ENOSPC if _action == "enospc" else errno.EIO
    raise OSError(code, os.strerror(code))
