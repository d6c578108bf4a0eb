"""swapon's listings: ``--show`` and ``-s``, as util-linux sys-utils/swapon.c builds them.

``get_swaps()`` (the simulated /proc/swaps parsed by libmount), ``display_summary()`` for
``-s``, and ``show_table()``'s rows: every readable path probed for LABEL and UUID. Apart from
:mod:`ghostswap_cli.userspace.swapon` (which re-exports them) so that listing the areas, the
commands people run most, does not build swapon's option and device classes at import.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from ghostswap_cli.userspace.fstab import SwapsEntry, parse_swaps
from ghostswap_cli.userspace.swapspec import SwapIds, probe_swap_ids

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel
    from ghostswap_cli.userspace.common import Report

__all__ = ("read_swaps", "display_summary", "ShowRow", "show_rows")


def read_swaps(k: Kernel, report: Report | None) -> list[SwapsEntry]:
    """``get_swaps()``: the simulated /proc/swaps as libmount parses it."""
    from ghostswap_cli.kernel.swapfile import swap_show

    return parse_swaps(swap_show(k), report=report)


def display_summary(entries: list[SwapsEntry]) -> str:
    """``display_summary()`` (``-s``): nothing at all for an empty table."""
    if not entries:
        return ""
    lines = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"]
    for e in entries:
        pad = 40 - len(e.source) if len(e.source) < 40 else 1
        lines.append(
            f"{e.source}{' ' * pad}{e.swaptype}{chr(9) if len(e.swaptype) < 8 else ''}"
            f"\t{e.size}{chr(9) if e.size < 10000000 else ''}"
            f"\t{e.usedsize}{chr(9) if e.usedsize < 10000000 else ''}\t{e.priority}\n"
        )
    return "".join(lines)


# a NamedTuple, not a frozen dataclass: every listing builds this class at import, and a
# frozen dataclass compiles six methods for it there
class ShowRow(NamedTuple):
    """One ``--show`` row: the /proc/swaps entry and what probing its path found."""

    entry: SwapsEntry
    ids: SwapIds | None  # None: the path was not readable, so it was not probed

    @property
    def uuid(self) -> str | None:
        return self.ids.uuid if self.ids is not None and self.ids.ok else None

    @property
    def label(self) -> str | None:
        return self.ids.label if self.ids is not None and self.ids.ok else None


def show_rows(entries: list[SwapsEntry], report: Report) -> list[ShowRow]:
    """``add_scols_line()``'s probing: every readable path, warnings included."""
    rows = []
    for e in entries:
        ids = None
        try:
            readable = os.access(e.source, os.R_OK)
        except ValueError:
            readable = False
        if readable:
            ids = probe_swap_ids(e.source)
            if ids.warning:
                report.warn(ids.warning)
        rows.append(ShowRow(e, ids))
    return rows
