"""The application object every command receives: terminal, state location, abort."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from ghostswap_cli.cli.terminal import Terminal

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel


def default_state_dir() -> Path:
    """``$GHOSTSWAP_STATE``, else ``$XDG_STATE_HOME/ghostswap``, else ``~/.local/state/ghostswap``."""
    env = os.environ.get("GHOSTSWAP_STATE")
    if env is not None:
        if not env.strip():
            from ghostswap_cli.errors import StateError

            # an empty value is a mistake (a variable that was meant to be set), not a choice
            raise StateError("GHOSTSWAP_STATE is set but empty; unset it for the default state "
                             "directory, or name a directory")
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "ghostswap"


class App:
    # a plain class, not a dataclass: --help would import dataclasses for it alone
    def __init__(self, terminal: Terminal, state_dir: Path | None = None) -> None:
        self.terminal = terminal
        self.state_dir = state_dir  # None: resolved lazily from the environment

    @property
    def state(self) -> Path:
        return self.state_dir if self.state_dir is not None else default_state_dir()

    def abort(self, message: str, status: int = 1) -> NoReturn:
        """One line on stderr in the tool's voice, then exit with ``status``; no traceback."""
        if message:
            self.terminal.error(message)
        raise SystemExit(status)

    @contextlib.contextmanager
    def guard(self, prefix: str = "") -> Iterator[None]:
        """Turn an expected failure into one line and its exit status."""
        from ghostswap_cli.errors import GhostswapError, KernelError

        try:
            yield
        except KernelError as e:
            self.abort(f"{prefix}{e}", e.exit_status)
        except GhostswapError as e:
            self.abort(f"{prefix}{e}", e.exit_status)

    def run_tool(self, call: Callable[[], int]) -> int:
        """Run a util-linux mirror and return its exit status. A :class:`ToolError` ends the
        command with its one line and status, after what the tool already printed (stdout
        is flushed first, so the lines come out in the order util-linux prints them)."""
        from ghostswap_cli.errors import ToolError

        try:
            status = call()
        except ToolError as e:
            sys.stdout.flush()
            self.abort(str(e), e.exit_status)
        sys.stdout.flush()
        return status

    @staticmethod
    def exit(status: int) -> None:
        """Exit with a tool's non-zero status (outside the kernel context, which then has
        committed what the tool did before it failed)."""
        if status:
            raise SystemExit(status)

    @contextlib.contextmanager
    def kernel(self, *, write: bool = True, create: bool = True) -> Iterator[Kernel]:
        """Open the simulated kernel on the state directory.

        ``write=True`` takes the state lock and commits on success (rolls back on any error);
        ``write=False`` reads a consistent snapshot without blocking writers.
        """
        from ghostswap_cli.kernel.machine import open_kernel

        def waiting() -> None:
            self.terminal.info(f"waiting for the state lock of {self.state} ...")

        with open_kernel(self.state, write=write, create=create, on_wait=waiting) as k:
            yield k


pass_app = click.make_pass_decorator(App)
