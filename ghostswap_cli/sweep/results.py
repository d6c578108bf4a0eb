"""The results file: JSON lines, one row per finished point, appended atomically.

Why JSON lines: a row is one ``write(2)`` of one line to a file opened ``O_APPEND``, so a kill
leaves whole rows (at worst a torn last line, dropped on ``--resume``); rows of failed points
carry an error string and no figures, which a CSV header cannot hold; values keep their type
(integers, floats, null); and any tool reads it (``pandas.read_json(lines=True)``, ``jq``).
``sweep export`` writes CSV for spreadsheets.

A key may appear more than once only when a failed point was run again: the last row of a key
is the one that counts. One sweep at a time holds the file (``flock``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ghostswap_cli.errors import ToolError

__all__ = ("read_rows", "latest_rows", "ResultsFile", "open_results")


def read_rows(path: Path, *, torn_ok: bool = True) -> tuple[list[dict[str, Any]], int]:
    """Every row of ``path`` and the byte length of its whole lines (a torn last line, left by a
    kill in the middle of a write, is not counted)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ToolError(f"{path}: No such file or directory") from None
    except OSError as e:
        raise ToolError(f"{path}: {e.strerror}") from None
    end = data.rfind(b"\n") + 1
    if end < len(data) and not torn_ok:
        raise ToolError(f"{path}: the last line is incomplete (a sweep was killed while writing)")
    rows = []
    for number, line in enumerate(data[:end].splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("key"), str) \
                or row.get("status") not in ("ok", "failed"):
            raise ToolError(f"{path}:{number}: not a sweep result row")
        rows.append(row)
    return rows, end


def latest_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """key -> its last row (a point run again after failing)."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out.pop(row["key"], None)
        out[row["key"]] = row
    return out


class ResultsFile:
    """An open, locked results file that rows are appended to."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def append(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row, separators=(", ", ": ")) + "\n").encode()
        # one write(2) of the whole line: O_APPEND puts it at the end in one piece
        written = os.write(self.fd, line)
        if written != len(line):  # pragma: no cover - a full disk mid-line
            raise ToolError(f"{self.path}: short write ({written} of {len(line)} bytes)")
        os.fsync(self.fd)


@contextlib.contextmanager
def open_results(path: Path, *, resume: bool, overwrite: bool) -> Iterator[tuple[ResultsFile, list[dict[str, Any]]]]:
    """Lock ``path`` and yield it with the rows already there (``resume``), or emptied
    (``overwrite``); refuse to mix a new sweep into an existing file otherwise."""
    existed = path.exists()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise ToolError(f"{path}: {e.strerror}") from None
    ok = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ToolError(f"{path}: another sweep is writing to it") from None
            raise
        rows: list[dict[str, Any]] = []
        size = os.fstat(fd).st_size
        if size and overwrite:
            os.ftruncate(fd, 0)
        elif size and not resume:
            raise ToolError(f"{path}: results file exists; continue it with --resume or start "
                            "again with --overwrite")
        elif size:
            rows, whole = read_rows(path)
            if whole < size:
                os.ftruncate(fd, whole)  # the torn line of a killed sweep: that point runs again
        yield ResultsFile(path, fd), rows
        ok = True
    finally:
        if not ok and not existed and os.fstat(fd).st_size == 0:
            # a sweep that could not start leaves no empty results file behind
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        os.close(fd)
