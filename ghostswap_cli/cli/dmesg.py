"""``ghostswap dmesg``: the simulated kernel's log, as dmesg(1) prints it."""

from __future__ import annotations

import json

import click

from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.kernel.printk import LEVEL_NAMES, format_dmesg


@click.command(short_help="Print the simulated kernel log.")
@click.option("-C", "--clear", is_flag=True, help="Clear the ring buffer.")
@click.option("-c", "--read-clear", is_flag=True, help="Print, then clear the ring buffer.")
@click.option("-t", "--notime", is_flag=True, help="Do not print timestamps.")
@click.option("-x", "--decode", is_flag=True, help="Print the log level of each line.")
@click.option("-l", "--level", "levels", metavar="LIST", help="Only these levels (e.g. err,warn).")
@click.option("-J", "--json", "as_json", is_flag=True, help="Print the log as JSON, as dmesg -J does.")
@pass_app
def dmesg(app: App, clear: bool, read_clear: bool, notime: bool, decode: bool, levels: str | None,
          as_json: bool) -> None:
    """Print the kernel log: swapon's "Adding ..." lines and every error it logged."""
    wanted: set[int] | None = None
    if levels:
        wanted = set()
        for name in levels.split(","):
            if name not in LEVEL_NAMES:
                app.abort(f"unknown level '{name}'", 1)
            wanted.add(LEVEL_NAMES.index(name))
    with app.guard(), app.kernel(write=clear or read_clear) as k:
        lines = k.log_lines()
        if wanted is not None:
            lines = [line for line in lines if line.level in wanted]
        if as_json and not clear:
            records = [{"pri": line.level, "time": round(line.ts, 6), "msg": line.text}
                       for line in lines]
            app.terminal.out(json.dumps({"dmesg": records}, indent=3) + "\n")
        elif not clear:
            app.terminal.out(format_dmesg(lines, show_level=decode, raw_time=notime))
        if clear or read_clear:
            k.db.execute("DELETE FROM klog")
