"""The ``swapon --show`` columns, and the table printer libsmartcols would be.

One registry (:data:`SWAPON_COLUMNS`, util-linux sys-utils/swapon.c ``infos[]``: name, width
hint, flags, help) feeds ``--show=LIST``, ``--output-all``, the help text, ``--raw``,
``--noheadings``, ``--bytes`` and ``--json`` of ``ghostswap swapon`` and ``ghostswap swapshow``.

The printer mirrors libsmartcols (v2.38.1 through v2.41) for output that is not a terminal:
each column as wide as its widest cell or its header (also with ``--noheadings``), one space
between columns, right-aligned columns padded on the left, the last column not padded on the
right; cells are "safe"-encoded (control characters as ``\\xHH``); ``--raw`` writes cells
with blanks, backslashes and non-printable bytes as ``\\xHH`` (``fputs_nonblank()``); an
empty table prints nothing. ``--json`` follows lib/jsonwrt.c: lower-case keys, three-space
indent, ``null`` for an empty cell.

Differences from util-linux, on purpose: on a terminal narrower than the table libsmartcols
truncates or wraps cells; we never do (the output is the same as through a pipe). util-linux
swapon has no ``--json`` (through 2.42); ours names the array ``swapdevices`` (as lsblk's
``blockdevices``), prints PRIO as a number and SIZE and USED as numbers with ``--bytes``
(strings otherwise), as lsblk does for its sizes.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from ghostswap_cli.units import size_to_human_string

if TYPE_CHECKING:
    from ghostswap_cli.userspace.swapon_show import ShowRow

__all__ = (
    "Column",
    "SWAPON_COLUMNS",
    "DEFAULT_COLUMNS",
    "ColumnError",
    "parse_columns",
    "cells",
    "format_table",
    "format_json",
    "columns_help",
    "JSON_TABLE_NAME",
    "MAX_COLUMNS",
)

JSON_TABLE_NAME = "swapdevices"
MSG_UNKNOWN_COLUMN = "unknown column: {}"


# a NamedTuple, not a frozen dataclass: every listing builds this class at import, and a
# frozen dataclass compiles six methods for it there
class Column(NamedTuple):
    """``struct colinfo`` plus how to fill a cell: ``value(row, bytes)``."""

    name: str
    whint: float
    help: str
    value: Callable[[ShowRow, bool], str | None]
    right: bool = False  # SCOLS_FL_RIGHT
    trunc: bool = False  # SCOLS_FL_TRUNC (only matters on a narrow terminal)
    json_number: Callable[[bool], bool] = lambda _bytes: False


def _size(kib: int, in_bytes: bool) -> str:
    size = kib * 1024
    return str(size) if in_bytes else size_to_human_string(size)


SWAPON_COLUMNS: tuple[Column, ...] = (
    Column("NAME", 0.20, "device file or partition path", lambda r, b: r.entry.source),
    Column("TYPE", 0.20, "type of the device", lambda r, b: r.entry.swaptype, trunc=True),
    Column("SIZE", 0.20, "size of the swap area", lambda r, b: _size(r.entry.size, b),
           right=True, json_number=lambda b: b),
    Column("USED", 0.20, "bytes in use", lambda r, b: _size(r.entry.usedsize, b),
           right=True, json_number=lambda b: b),
    Column("PRIO", 0.20, "swap priority", lambda r, b: str(r.entry.priority),
           right=True, json_number=lambda b: True),
    Column("UUID", 0.20, "swap uuid", lambda r, b: r.uuid),
    Column("LABEL", 0.20, "swap label", lambda r, b: r.label),
)
DEFAULT_COLUMNS: tuple[Column, ...] = SWAPON_COLUMNS[:5]
MAX_COLUMNS = len(SWAPON_COLUMNS) * 2  # ctl.columns[ARRAY_SIZE(infos) * 2]


class ColumnError(Exception):
    """A bad ``--show`` list; ``message`` is util-linux's warning, or None where it is silent."""

    def __init__(self, message: str | None):
        super().__init__(message or "")
        self.message = message


def parse_columns(text: str, registry: Sequence[Column] = SWAPON_COLUMNS) -> list[Column]:
    """``string_to_idarray()`` with ``column_name_to_id()``: names are case-insensitive.

    An unknown name is reported with the rest of the list from that name on, as util-linux
    does; an empty list, an empty name or more than :data:`MAX_COLUMNS` names fail silently.
    """
    if not text:
        raise ColumnError(None)
    out: list[Column] = []
    begin: int | None = None
    for i, ch in enumerate(text):
        if len(out) >= MAX_COLUMNS:
            raise ColumnError(None)
        if begin is None:
            begin = i
        end = None
        if ch == ",":
            end = i
        if i + 1 == len(text):
            end = i + 1
        if end is None:
            continue
        if end <= begin:
            raise ColumnError(None)
        name = text[begin:end]
        for col in registry:
            if col.name.lower() == name.lower() and name.isascii():
                out.append(col)
                break
        else:
            raise ColumnError(MSG_UNKNOWN_COLUMN.format(text[begin:]))
        begin = None
    return out


def cells(columns: Sequence[Column], rows: Sequence[ShowRow], in_bytes: bool) -> list[list[str | None]]:
    return [[col.value(row, in_bytes) for col in columns] for row in rows]


def columns_help(registry: Sequence[Column] = SWAPON_COLUMNS) -> str:
    """The ``Available output columns`` lines of util-linux's usage text."""
    return "".join(f" {col.name:<5}  {col.help}\n" for col in registry)


# --------------------------------------------------------------------------------------------
# libsmartcols


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def safe_encode(text: str) -> tuple[str, int]:
    """``mbs_safe_encode()``: (encoded text, display width) in a UTF-8 locale."""
    raw = os.fsencode(text)
    out: list[str] = []
    width = 0
    i = 0
    while i < len(raw):
        c = raw[i]
        if (c == 0x5C and raw[i + 1 : i + 2] == b"x") or c < 0x20 or c == 0x7F:
            out.append(f"\\x{c:02x}")
            width += 4
            i += 1
            continue
        if c < 0x80:
            out.append(chr(c))
            width += 1
            i += 1
            continue
        n = 2 if c >> 5 == 0b110 else 3 if c >> 4 == 0b1110 else 4 if c >> 3 == 0b11110 else 0
        try:
            ch = raw[i : i + n].decode("utf-8") if n else None
        except UnicodeDecodeError:
            ch = None
        if ch is None or len(ch) != 1:
            out.append(f"\\x{c:02x}")  # not a character: isprint() is false for the byte
            width += 4
            i += 1
            continue
        if not ch.isprintable():
            out.extend(f"\\x{b:02x}" for b in raw[i : i + n])
            width += 4 * n
        else:
            out.append(ch)
            width += _char_width(ch)
        i += n
    return "".join(out), width


def nonblank_encode(text: str) -> str:
    """``fputs_nonblank()`` (``--raw``): blanks, ``\\`` and non-printable bytes as ``\\xHH``."""
    out = []
    for c in os.fsencode(text):
        if c in (0x20, 0x09, 0x5C) or c < 0x20 or c >= 0x7F:
            out.append(f"\\x{c:02x}")
        else:
            out.append(chr(c))
    return "".join(out)


def format_table(columns: Sequence[Column], data: Sequence[Sequence[str | None]], *,
                 raw: bool = False, noheadings: bool = False) -> str:
    """The table as ``scols_print_table()`` prints it to a pipe; "" when there are no rows."""
    if not data:
        return ""
    headers = [col.name for col in columns]
    if raw:
        lines = [] if noheadings else [" ".join(nonblank_encode(h) for h in headers)]
        lines += [" ".join(nonblank_encode(c or "") for c in row) for row in data]
        return "\n".join(lines) + "\n"
    enc_rows = [[safe_encode(c or "") for c in row] for row in data]
    enc_head = [safe_encode(h) for h in headers]
    widths = []
    for i, _col in enumerate(columns):
        w = max([enc_head[i][1], *(r[i][1] for r in enc_rows)])
        widths.append(max(w, 1))
    last = len(columns) - 1

    def line(cells_: list[tuple[str, int]]) -> str:
        parts = []
        for i, (text, w) in enumerate(cells_):
            pad = " " * (widths[i] - w)
            if columns[i].right:
                parts.append(pad + text)
            elif i == last:
                parts.append(text)
            else:
                parts.append(text + pad)
        return " ".join(parts)

    lines = [] if noheadings else [line(enc_head)]
    lines += [line(r) for r in enc_rows]
    return "\n".join(lines) + "\n"


def _json_string(text: str) -> str:
    """``fputs_quoted_json()``: only ``"``, ``\\`` and control characters are escaped."""
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o >= 0x20:
            out.append(ch)
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\r":
            out.append("\\r")
        else:
            out.append(f"\\u00{o:02x}")
    out.append('"')
    return "".join(out)


def format_json(columns: Sequence[Column], data: Sequence[Sequence[str | None]], *,
                in_bytes: bool = False, name: str = JSON_TABLE_NAME) -> str:
    """The table as libsmartcols' JSON format (lib/jsonwrt.c) prints it."""
    ind = "   "
    out = ["{\n", f"{ind}{_json_string(name.lower())}: [\n"]
    for n, row in enumerate(data):
        out.append(("," if n else ind * 2) + "{\n")
        items = []
        for col, cell in zip(columns, row, strict=True):
            key = _json_string(col.name.lower())
            if not cell:
                value = "null"
            elif col.json_number(in_bytes):
                value = cell
            else:
                value = _json_string(cell)
            items.append(f"{ind * 3}{key}: {value}")
        out.append(",\n".join(items))
        out.append(f"\n{ind * 2}}}")
    out.append(f"\n{ind}]")
    out.append("\n}\n")
    return "".join(out)
