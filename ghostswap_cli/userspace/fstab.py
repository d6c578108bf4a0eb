"""fstab and /proc/swaps as libmount reads them, for swapon and swapoff.

Mirrors the parts of util-linux libmount (v2.41) the swap tools use: ``mnt_table_parse_fstab()``
(a file, or a directory of ``*.fstab`` files), ``mnt_parse_table_line()`` with ``unmangle()``
(``\\040``-style octal escapes), ``mnt_table_parse_swaps()`` / ``mnt_parse_swaps_line()``,
``mnt_optstr_get_option()`` (via ``ul_optstr_next()``), ``mnt_get_fstab_path()`` with
``LIBMOUNT_FSTAB``, and swapon-common.c's parser error callback, which warns
``<file>: parse error at line <n> -- ignored`` and carries on.

Nothing here writes: fstab is only read.

A deleted swap file is listed as ``<path>\\040(deleted)``: d_path appends `` (deleted)``
before ``seq_file_path()`` escapes the name, so the suffix arrives escaped; libmount unescapes
the name and strips the suffix (``PATH_DELETED_SUFFIX``), and so do we. Every row the kernel
can print parses.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ghostswap_cli.userspace.common import Report

__all__ = (
    "FSTAB_PATH",
    "PROC_SWAPS",
    "FstabEntry",
    "SwapsEntry",
    "FstabError",
    "fstab_path",
    "parse_fstab",
    "parse_swaps",
    "optstr_get_option",
    "unmangle",
    "MSG_PARSE_ERROR",
)

FSTAB_PATH = "/etc/fstab"  # _PATH_MNTTAB
PROC_SWAPS = "/proc/swaps"  # _PATH_PROC_SWAPS
FSTAB_DIR_EXT = ".fstab"  # MNT_MNTTABDIR_EXT
PATH_DELETED_SUFFIX = " (deleted)"
SWAPS_HEADER = "Filename\t"

# sys-utils/swapon-common.c table_parser_errcb()
MSG_PARSE_ERROR = "{}: parse error at line {} -- ignored"


class FstabError(Exception):
    """The fstab could not be read at all (``mnt_table_parse_fstab()`` failed)."""

    def __init__(self, path: str, err: int):
        super().__init__(f"{path}: {os.strerror(err)}")
        self.path = path
        self.errno = err


def fstab_path() -> str:
    """``mnt_get_fstab_path()``: ``$LIBMOUNT_FSTAB`` or /etc/fstab."""
    return os.environ.get("LIBMOUNT_FSTAB") or FSTAB_PATH


_OCTAL = b"01234567"


def unmangle(field: str) -> str:
    """``unmangle_to_buffer()``: a backslash and three octal digits become that byte."""
    if "\\" not in field:
        return field
    raw = os.fsencode(field)
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        if raw[i] == 0x5C and i + 3 < n and all(b in _OCTAL for b in raw[i + 1 : i + 4]):
            out.append(int(raw[i + 1 : i + 4], 8) & 0xFF)
            i += 4
            continue
        out.append(raw[i])
        i += 1
    return os.fsdecode(bytes(out))


def _fields(line: str) -> Iterator[str]:
    """Split on runs of spaces and tabs (``skip_separator()``/``skip_nonspaces()``)."""
    # str methods, not a regex: /proc/swaps is parsed by every listing, and compiling the
    # patterns cost more than the parse
    for word in line.replace("\t", " ").split(" "):
        if word:
            yield word


def _decimal(word: str, signs: str) -> int | None:
    """``[ \t\n\v\f\r]*[<signs>]?[0-9]+`` and nothing else: the number, else None."""
    body = word.lstrip(" \t\n\v\f\r")
    digits = body[1:] if body[:1] and body[:1] in signs else body
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return int(body)


def _strtol_field(word: str) -> int | None:
    """``next_s32()``: a whole decimal number (strtol syntax), else None."""
    value = _decimal(word, "+-")
    if value is None or not -(1 << 31) <= value < (1 << 31):
        return None
    return value


@dataclasses.dataclass(frozen=True)
class FstabEntry:
    """One parsed fstab line (``struct libmnt_fs`` as far as swap cares)."""

    source: str
    target: str
    fstype: str
    options: str | None = None
    freq: int = 0
    passno: int = 0
    filename: str = ""
    line: int = 0

    @property
    def is_swaparea(self) -> bool:
        """``mnt_fs_is_swaparea()``."""
        return self.fstype == "swap"

    def get_option(self, name: str) -> tuple[bool, str | None]:
        """``mnt_fs_get_option()``: (found, value or None)."""
        return optstr_get_option(self.options, name)


def _parse_fstab_line(text: str) -> tuple[str, str, str, str | None, int, int] | None:
    words = list(_fields(text))
    if len(words) < 3:
        return None
    source, target, fstype = (unmangle(w) for w in words[:3])
    options = unmangle(words[3]) if len(words) > 3 else None
    freq = passno = 0
    if len(words) > 4:
        v = _strtol_field(words[4])
        if v is None:
            return None
        freq = v
    if len(words) > 5:
        v = _strtol_field(words[5])
        if v is None:
            return None
        passno = v
    return source, target, fstype, options, freq, passno


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-blank, non-comment lines with their numbers, ``\\r\\n`` endings accepted."""
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        stripped = line.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        yield number, stripped


def _parse_fstab_file(path: str, display: str, report: Report | None) -> list[FstabEntry]:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "surrogateescape")
    except OSError as e:
        raise FstabError(path, e.errno or errno.EIO) from None
    entries = []
    for number, line in _lines(text):
        parsed = _parse_fstab_line(line)
        if parsed is None:
            if report is not None:
                report.warn(MSG_PARSE_ERROR.format(display, number))
            continue
        source, target, fstype, options, freq, passno = parsed
        entries.append(FstabEntry(source, target, fstype, options, freq, passno, display, number))
    return entries


def _verkey(name: str) -> list[tuple[int, int | str]]:
    """A sort key close to ``strverscmp()``: digit runs compare as numbers."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name) if p]


def parse_fstab(path: str | None = None, report: Report | None = None) -> list[FstabEntry]:
    """``mnt_table_parse_fstab()``: every entry of ``path`` (default :func:`fstab_path`).

    A directory contributes its ``*.fstab`` files (not starting with a dot), sorted as
    ``versionsort``. Lines that do not parse are skipped with util-linux's warning through
    ``report`` (none when ``report`` is None). Raises :class:`FstabError` when ``path`` cannot
    be read at all.
    """
    path = path or fstab_path()
    try:
        st = os.stat(path)
    except OSError as e:
        raise FstabError(path, e.errno or errno.ENOENT) from None
    if stat.S_ISREG(st.st_mode):
        return _parse_fstab_file(path, path, report)
    if not stat.S_ISDIR(st.st_mode):
        raise FstabError(path, errno.EINVAL)
    try:
        names = os.listdir(path)
    except OSError as e:
        raise FstabError(path, e.errno or errno.EIO) from None
    entries: list[FstabEntry] = []
    for name in sorted(names, key=_verkey):
        if name.startswith(".") or len(name) <= len(FSTAB_DIR_EXT) or not name.endswith(FSTAB_DIR_EXT):
            continue
        full = str(Path(path, name))
        try:
            if not stat.S_ISREG(os.stat(full).st_mode):
                continue
            # libmount names the file by its d_name in parse-error messages
            entries.extend(_parse_fstab_file(full, name, report))
        except (OSError, FstabError):
            continue
    return entries


# --------------------------------------------------------------------------------------------
# mount option strings


def _optstr_items(optstr: str) -> Iterator[tuple[str, str | None]]:
    """``ul_optstr_next()`` repeatedly: (name, value or None); stops at a parse error."""
    i = 0
    n = len(optstr)
    while i < n:
        while i < n and optstr[i] == ",":
            i += 1
        if i >= n:
            return
        if optstr[i] == "=":
            return  # an item cannot start with '='
        start = i
        sep = None
        quote = False
        while i < n:
            c = optstr[i]
            if c == '"':
                quote = not quote
            if not quote:
                if sep is None and i > start and c == "=":
                    sep = i
                if c == "," and optstr[i - 1] != "\\":
                    break
            i += 1
        stop = i
        if sep is None:
            yield optstr[start:stop], None
        else:
            yield optstr[start:sep], optstr[sep + 1 : stop]
        i = stop + 1


def optstr_get_option(optstr: str | None, name: str) -> tuple[bool, str | None]:
    """``mnt_optstr_get_option()``: whether ``name`` is in the list, and its value (quotes
    kept, as libmount keeps them)."""
    if not optstr or not name:
        return False, None
    for item, value in _optstr_items(optstr):
        if item == name:
            return True, value
    return False, None


# --------------------------------------------------------------------------------------------
# /proc/swaps


# a NamedTuple, not a frozen dataclass: every listing builds this class at import, and a
# frozen dataclass compiles six methods for it there
class SwapsEntry(NamedTuple):
    """One /proc/swaps row as libmount parses it (sizes in KiB, as the kernel prints them)."""

    source: str
    swaptype: str
    size: int
    usedsize: int
    priority: int


def _strtou64_field(word: str) -> int | None:
    value = _decimal(word, "+")
    return value if value is not None and value < (1 << 64) else None


def _parse_swaps_line(line: str) -> SwapsEntry | None:
    words = list(_fields(line))
    if len(words) < 5:
        return None
    source = unmangle(words[0])
    if source.endswith(PATH_DELETED_SUFFIX):  # only if the suffix survived unescaped
        source = source[: -len(PATH_DELETED_SUFFIX)]
    swaptype = unmangle(words[1])
    size = _strtou64_field(words[2])
    used = _strtou64_field(words[3])
    prio = _strtol_field(words[4])
    if size is None or used is None or prio is None:
        return None
    return SwapsEntry(source, swaptype, size, used, prio)


def parse_swaps(text: str, filename: str = PROC_SWAPS, report: Report | None = None) -> list[SwapsEntry]:
    """``mnt_table_parse_swaps()`` on the text of /proc/swaps; bad rows are warned about
    (through ``report``) and skipped."""
    entries = []
    for number, line in _lines(text):
        if line.startswith(SWAPS_HEADER):
            continue
        entry = _parse_swaps_line(line)
        if entry is None:
            if report is not None:
                report.warn(MSG_PARSE_ERROR.format(filename, number))
            continue
        entries.append(entry)
    return entries
