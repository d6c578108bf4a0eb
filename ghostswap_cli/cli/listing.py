"""The listings of the active areas: ``swapon --show`` and ``--summary`` (also ``ghostswap
swapshow``), apart from the swapon command so that ``swapshow`` does not load its option
parser."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ghostswap_cli.cli.columns import Column, cells, format_json, format_table
from ghostswap_cli.cli.terminal import TerminalReport

if TYPE_CHECKING:
    from ghostswap_cli.cli.app import App

__all__ = ("show_listing", "summary_listing")


def show_listing(app: App, columns: Sequence[Column], *, in_bytes: bool, raw: bool,
                 noheadings: bool, as_json: bool) -> str:
    """``show_table()``: the text for the active areas, read without the writers' lock."""
    from ghostswap_cli.userspace.swapon_show import read_swaps, show_rows

    report = TerminalReport(app.terminal)
    with app.guard(), app.kernel(write=False) as k:
        entries = read_swaps(k, report)
    rows = show_rows(entries, report)
    data = cells(columns, rows, in_bytes)
    if as_json:
        return format_json(columns, data, in_bytes=in_bytes)
    return format_table(columns, data, raw=raw, noheadings=noheadings)


def summary_listing(app: App) -> str:
    """``display_summary()`` (``-s``)."""
    from ghostswap_cli.userspace.swapon_show import display_summary, read_swaps

    with app.guard(), app.kernel(write=False) as k:
        entries = read_swaps(k, TerminalReport(app.terminal))
    return display_summary(entries)


# --------------------------------------------------------------------------------------------
