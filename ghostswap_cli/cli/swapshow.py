"""``ghostswap swapshow``: list the active swap areas (man ghostswap-swapshow(1)).

The listing of ``swapon --show`` (same columns, ``--bytes``, ``--noheadings``, ``--raw``,
``--output-all``, ``--json``), the exact /proc/swaps text with ``--proc``, or swapon's
``--summary``. It reads the last committed state without taking the writers' lock.
"""

from __future__ import annotations

import sys

import click

from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.cli.columns import (
    DEFAULT_COLUMNS,
    SWAPON_COLUMNS,
    ColumnError,
    columns_help,
    parse_columns,
)
from ghostswap_cli.cli.listing import show_listing, summary_listing
from ghostswap_cli.cli.terminal import write_text

__all__ = ("swapshow",)

_EPILOG = "\b\nAvailable output columns:\n" + columns_help(SWAPON_COLUMNS)


@click.command(short_help="List active swap areas (swapon --show, or --proc).", epilog=_EPILOG)
@click.option("-o", "--output", "output", metavar="LIST", help="Columns to show, e.g. NAME,SIZE,LABEL (as swapon --show=LIST).")
@click.option("--show", "show", metavar="[=LIST]", is_flag=False, flag_value="", default=None,
              help="Same as --output; a bare --show keeps the default columns.")
@click.option("--output-all", is_flag=True, help="Output all available columns.")
@click.option("--bytes", "in_bytes", is_flag=True, help="Print SIZE and USED in bytes.")
@click.option("-n", "--noheadings", is_flag=True, help="Don't print the heading line.")
@click.option("-r", "--raw", is_flag=True, help="Raw output: single spaces, blanks escaped as \\x20.")
@click.option("-J", "--json", "as_json", is_flag=True, help="JSON output ({\"swapdevices\": [...]}).")
@click.option("--proc", is_flag=True, help="Print the exact text of the simulated /proc/swaps.")
@click.option("-s", "--summary", is_flag=True, help="Print swapon's legacy summary (/proc/swaps re-rendered).")
@pass_app
def swapshow(app: App, output: str | None, show: str | None, output_all: bool, in_bytes: bool,
             noheadings: bool, raw: bool, as_json: bool, proc: bool, summary: bool) -> None:
    """List the active swap areas of the simulated kernel, ghost areas included.

    By default the table of swapon --show: NAME, TYPE, SIZE, USED and PRIO; UUID and LABEL
    are read from each file's header (ghost headers too). Nothing is printed when no area is
    active (except an empty array with --json).
    """
    modes = [name for name, on in (("--proc", proc), ("--summary", summary), ("--json", as_json),
                                    ("--raw", raw)) if on]
    if len(modes) > 1:
        app.abort(f"mutually exclusive arguments: {' '.join(modes)}", 1)
    if proc:
        from ghostswap_cli.kernel.swapfile import swap_show

        with app.guard(), app.kernel(write=False) as k:
            text = swap_show(k)
        write_text(sys.stdout, text)
        return
    if summary:
        write_text(sys.stdout, summary_listing(app))
        return
    columns = list(DEFAULT_COLUMNS)
    if output_all:
        columns = list(SWAPON_COLUMNS)
    for spec in (show, output):
        if spec:
            try:
                columns = parse_columns(spec)
            except ColumnError as e:
                app.abort(e.message or f"invalid column list: '{spec}'", 1)
    text = show_listing(app, columns, in_bytes=in_bytes, raw=raw, noheadings=noheadings,
                        as_json=as_json)
    write_text(sys.stdout, text)
