"""The record validators the loader runs on every command: a ``swap_info`` row and the stored
parameters (see :mod:`ghostswap_cli.kernel.check` for the rest of the record layer).

Kept apart from the cross-checks, which need the page table and the slot maps, so that a
command reading only the swap table (``cat /proc/swaps``, ``swapshow``) imports only this.
"""

from __future__ import annotations

import functools
import operator

from ghostswap_cli.errors import GhostswapError
from ghostswap_cli.kernel.swapfile import SwapInfoStruct
from ghostswap_cli.uapi import MAX_SWAP_BADPAGES, SWAP_FLAGS_VALID, SWP

__all__ = ("SWAP_INFO_COLUMNS", "decode_swap_info_row", "check_params")

UINT_MAX = 0xFFFFFFFF
_INT64 = 1 << 63
_SWP_ALL = functools.reduce(operator.or_, (int(f) for f in SWP), 0)

SWAP_INFO_COLUMNS = (
    "type", "flags", "prio", "path", "name", "dev", "ino", "file_size", "file_mtime_ns", "max",
    "pages", "inuse_pages", "label", "uuid", "nr_extents", "span", "swap_flags", "active_seq",
    "avail_seq", "badpages",
)
_TEXT_COLUMNS = frozenset(("path", "name", "label", "uuid"))


def decode_swap_info_row(row: tuple, page_size: int) -> SwapInfoStruct:
    """A ``swap_info`` row (columns :data:`SWAP_INFO_COLUMNS`) as a ``SwapInfoStruct``.

    Raises ``ValueError`` naming the row and the first column that cannot be what swapon
    wrote: wrong type, out of range, or inconsistent with the other columns.
    """
    if len(row) != len(SWAP_INFO_COLUMNS):
        raise ValueError("swap_info row has the wrong number of columns")
    v = dict(zip(SWAP_INFO_COLUMNS, row, strict=True))
    where = f"swap_info row {v['type']!r}"
    from ghostswap_cli.fsnames import from_db_text

    for col in ("path", "name"):
        if isinstance(v[col], str):
            v[col] = from_db_text(v[col])
    for col, value in v.items():
        if col in _TEXT_COLUMNS:
            if not isinstance(value, str) or "\0" in value:
                raise ValueError(f"{where}: {col} is not a text")
        elif col == "badpages":
            if not isinstance(value, bytes) or len(value) % 4:
                raise ValueError(f"{where}: bad-page list is malformed")
        elif not isinstance(value, int) or not -_INT64 <= value < _INT64:
            raise ValueError(f"{where}: {col} {value!r} is not an integer")
    type_, max_, pages = v["type"], v["max"], v["pages"]
    if not 0 <= type_ < 32:
        raise ValueError(f"{where}: impossible type {type_}")
    if v["flags"] & ~_SWP_ALL or not v["flags"] & SWP.SWP_USED:
        raise ValueError(f"{where}: impossible flags {v['flags']:#x}")
    if not 2 <= max_ <= UINT_MAX:
        raise ValueError(f"{where}: impossible size of {max_} slots")
    if not -32768 <= v["prio"] <= 32767:
        raise ValueError(f"{where}: impossible priority {v['prio']}")
    if not v["path"].startswith("/"):
        raise ValueError(f"{where}: path {v['path']!r} is not absolute")
    if v["swap_flags"] < 0 or v["swap_flags"] & ~SWAP_FLAGS_VALID:
        raise ValueError(f"{where}: impossible swap flags {v['swap_flags']:#x}")
    for col in ("dev", "ino", "file_size", "nr_extents", "span", "active_seq", "avail_seq"):
        if v[col] < 0:
            raise ValueError(f"{where}: negative {col}")
    bad = v["badpages"]
    if len(bad) // 4 > MAX_SWAP_BADPAGES(page_size):
        raise ValueError(f"{where}: too many bad pages")
    badpages = tuple(int.from_bytes(bad[i : i + 4], "little") for i in range(0, len(bad), 4))
    if any(not 0 < b < max_ for b in badpages) or list(badpages) != sorted(set(badpages)):
        raise ValueError(f"{where}: bad-page list is malformed")
    if pages != max_ - 1 - len(badpages):
        raise ValueError(f"{where}: {pages} pages do not match {max_} slots")
    if not 0 <= v["inuse_pages"] <= pages:
        raise ValueError(f"{where}: {v['inuse_pages']} pages in use of {pages}")
    return SwapInfoStruct(
        type=type_, flags=SWP(v["flags"]), prio=v["prio"], path=v["path"], name=v["name"],
        dev=v["dev"], ino=v["ino"], file_size=v["file_size"], file_mtime_ns=v["file_mtime_ns"],
        max=max_, pages=pages, label=v["label"], uuid=v["uuid"], nr_extents=v["nr_extents"],
        span=v["span"], swap_flags=v["swap_flags"], active_seq=v["active_seq"],
        avail_seq=v["avail_seq"], badpages=badpages, inuse_pages_saved=v["inuse_pages"],
    )


def check_params(machine: dict[str, str], params: dict[str, str]) -> str | None:
    """The first machine or sysfs parameter whose stored value could not have been written."""
    from ghostswap_cli.kernel.params import (
        MACHINE_PARAMS,
        combination_problem,
        params_for,
        parse_machine_value,
    )

    for name in MACHINE_PARAMS:
        value = machine[name]
        if name == "ram":
            # any amount the loader can work with: tests and tools shrink RAM below the
            # 16 MiB that `kernel init` accepts
            if not value.isdigit() or not 0 < int(value) <= 1 << 60:
                return f"machine parameter ram: {value!r} is not a size in bytes"
            continue
        try:
            if parse_machine_value(name, value) != value:
                raise ValueError(f"{name}: {value!r} is not in canonical form")
        except ValueError as e:
            return f"machine parameter {e}"
    problem = combination_problem(machine)
    if problem:
        return f"machine parameters: {problem}"
    for path, p in params_for(machine["config"]).items():
        try:
            p.parse(params[path])
        except GhostswapError:
            return f"parameter {path} holds {params[path]!r}"
    return None
