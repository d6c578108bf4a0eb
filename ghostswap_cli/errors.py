"""The errors ghostswap raises on purpose.

Each carries what the user is shown: a kernel errno and log line, a util-linux style message
and exit status, or a state problem with a way out. Anything else escaping is a bug.
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = ("GhostswapError", "KernelError", "ToolError", "StateError", "StateIOError",
           "TraceError")


class GhostswapError(Exception):
    """Base of every expected failure; ``str()`` is the one line shown to the user."""

    exit_status = 1


class KernelError(GhostswapError):
    """A simulated syscall failed with ``errno``; the kernel logged ``log`` lines (if any)."""

    def __init__(self, errno: int, message: str | None = None) -> None:
        self.errno = errno
        super().__init__(message or os.strerror(errno))

    @property
    def strerror(self) -> str:
        return os.strerror(self.errno)

    @property
    def errname(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))


class ToolError(GhostswapError):
    """A user-space tool stops with ``message`` and ``exit_status`` (util-linux style)."""

    def __init__(self, message: str, exit_status: int = 1) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class StateError(GhostswapError):
    """The state directory or database cannot be used; the message says how to recover."""

    exit_status = 1


class StateIOError(StateError):
    """A state file cannot be read or written for a reason outside it (full disk, I/O error,
    read-only file system, permissions): the message's advice is all there is to do; starting
    a fresh kernel would not help and would lose the state."""


class TraceError(GhostswapError):
    """A trace is malformed; the message names the file and the line or record number."""

    exit_status = 1

    def __init__(self, path: str, where: str, message: str) -> None:
        self.path = path
        self.where = where
        super().__init__(f"{path}:{where}: {message}")
