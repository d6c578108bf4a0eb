"""``ghostswap cat PATH...``: print the simulated kernel's /proc and /sys files."""

from __future__ import annotations

import click

from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.errors import KernelError


@click.command(short_help="Print a simulated /proc or /sys file.")
@click.option("-l", "--list", "list_files", is_flag=True, help="List the files the kernel provides.")
@click.argument("paths", nargs=-1, metavar="PATH...")
@pass_app
def cat(app: App, list_files: bool, paths: tuple[str, ...]) -> None:
    """Print the simulated kernel's files exactly as the kernel renders them.

    PATH is one of /proc/swaps, /proc/meminfo, /proc/vmstat, /sys/module/zswap/parameters/*,
    /sys/kernel/debug/zswap/* or /sys/kernel/ghostswap/*. Reads the last committed state
    without waiting for a running command.
    """
    from ghostswap_cli.kernel.procfs import list_files as all_files
    from ghostswap_cli.kernel.procfs import read_file

    if list_files:
        with app.guard(), app.kernel(write=False) as k:
            app.terminal.out("".join(p + "\n" for p in all_files(k)))
        return
    if not paths:
        app.abort("cat: no file given (try --list)", 1)
    status = 0
    with app.guard(), app.kernel(write=False) as k:
        for path in paths:
            try:
                app.terminal.out(read_file(k, path))
            except KernelError as e:
                app.terminal.error(f"{path}: {e.strerror}")
                status = 1
    if status:
        raise SystemExit(status)
