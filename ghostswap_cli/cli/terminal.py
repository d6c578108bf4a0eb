"""The only place that decides colour and talks to rich.

Byte-exact views (/proc files, ``swapon -s``, ``--raw``) are written as plain strings with
:meth:`Terminal.out`; rich renders only human tables and progress, and only on a terminal.
Colour follows ``--color/--no-color``, then ``NO_COLOR`` and ``FORCE_COLOR``, then isatty.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from ghostswap_cli.fsnames import octal_escape


def colour_wanted(stream: IO[str], flag: bool | None) -> bool:
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


class Terminal:
    """stdout for results, stderr for diagnostics; ``prog`` prefixes every diagnostic."""

    def __init__(self, prog: str = "ghostswap", color: bool | None = None, verbosity: int = 0):
        self.prog = prog
        self.color_flag = color
        self.verbosity = verbosity
        self._consoles: dict[str, Any] = {}

    # plain, byte-exact output -------------------------------------------------------------
    def out(self, text: str, nl: bool = False) -> None:
        sys.stdout.write(octal_escape(text) + ("\n" if nl else ""))

    def err(self, text: str) -> None:
        sys.stderr.write(octal_escape(text) + "\n")

    def flush(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()

    # diagnostics in util-linux's voice ------------------------------------------------------
    def error(self, message: str) -> None:
        self._diag(message, "red")

    def warning(self, message: str) -> None:
        self._diag(message, "yellow")

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self._diag(message, None)

    def debug(self, message: str) -> None:
        if self.verbosity > 0:
            self._diag(message, "dim")

    def _diag(self, message: str, style: str | None) -> None:
        line = octal_escape(f"{self.prog}: {message}" if self.prog else message)
        if style and self.is_color(sys.stderr):
            from rich.text import Text

            self.console(sys.stderr).print(Text(line, style=style), soft_wrap=True)
        else:
            sys.stderr.write(line + "\n")

    # rich ---------------------------------------------------------------------------------
    def is_color(self, stream: IO[str] | None = None) -> bool:
        return colour_wanted(stream or sys.stdout, self.color_flag)

    def is_interactive(self, stream: IO[str] | None = None) -> bool:
        return bool(getattr(stream or sys.stderr, "isatty", lambda: False)())

    def console(self, stream: IO[str] | None = None):
        """A rich Console with markup, emoji and highlighting off, so user data stays as-is."""
        from rich.console import Console

        stream = stream or sys.stdout
        key = "err" if stream is sys.stderr else "out"
        if key not in self._consoles:
            color = self.is_color(stream)
            self._consoles[key] = Console(
                file=stream,
                markup=False,
                emoji=False,
                highlight=False,
                color_system="auto" if color else None,
                no_color=not color,
                force_terminal=color or None,
                soft_wrap=True,
            )
        return self._consoles[key]


# the tools' output, here rather than in cli/mkswap.py so that the listings need not import
# click for them
def write_text(stream: IO[str], text: str) -> None:
    """Write ``text``; bytes that came in undecodable (labels, paths) go out as they came."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            stream.write(text.encode("utf-8", "backslashreplace").decode("ascii", "replace"))
            return
        stream.flush()
        buffer.write(os.fsencode(text))
        buffer.flush()


class TerminalReport:
    """:class:`~ghostswap_cli.userspace.common.Report` on the app's terminal."""

    def __init__(self, terminal: Terminal):
        self.terminal = terminal

    def out(self, line: str) -> None:
        write_text(sys.stdout, line + "\n")

    def warn(self, message: str) -> None:
        sys.stdout.flush()
        self.terminal.warning(message)

    def raw(self, text: str) -> None:
        sys.stdout.flush()
        write_text(sys.stderr, text)
