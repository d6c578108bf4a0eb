"""``ghostswap swapoff``: util-linux swapoff on the simulated kernel (man ghostswap-swapoff(8))."""

from __future__ import annotations

import click

from ghostswap_cli import __version__
from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.cli.mkswap import TerminalReport
from ghostswap_cli.cli.swapon import GetoptCommand, GetoptResult

__all__ = ("swapoff",)

SWAPOFF_EX_USAGE = 16

_EPILOG = (
    "\b\nThe SPECIALFILE parameter:\n"
    " -L <label>             LABEL of device to be used\n"
    " -U <uuid>              UUID of device to be used\n"
    " LABEL=<label>          LABEL of device to be used\n"
    " UUID=<uuid>            UUID of device to be used\n"
    " <device>               name of device to be used\n"
    " <file>                 name of file to be used\n"
    "\n\b\nExit status: 0 success, 2 out of memory, 4 swapoff(2) failed, 8 system error,\n"
    "16 usage error, 32 --all: all failed, 64 --all: some failed; 255 a spec not found.\n"
    "\nFor more details see ghostswap-swapoff(8)."
)


@click.command(
    cls=GetoptCommand,
    prog="swapoff",
    usage_status=SWAPOFF_EX_USAGE,
    short_help="Disable swap areas on the simulated kernel.",
    epilog=_EPILOG,
)
@click.argument("specs", nargs=-1, metavar="[SPECIALFILE...]")
@click.option("-a", "--all", is_flag=True, help="Disable all swaps from /proc/swaps, then fstab's [env: LIBMOUNT_FSTAB].")
@click.option("-v", "--verbose", is_flag=True, help="Verbose mode.")
@click.option("-L", "labels", metavar="LABEL", multiple=True, help="LABEL of the area to disable.")
@click.option("-U", "uuids", metavar="UUID", multiple=True, help="UUID of the area to disable.")
@click.option("-f", "--force", is_flag=True, help="Drop pages that cannot be read back (swapoff fails with EIO otherwise), saying how many.")
@click.option("-V", "--version", is_flag=True, help="Display version.")
@click.pass_context
@pass_app
def swapoff(app: App, ctx: click.Context, parsed: GetoptResult) -> None:
    """Disable devices and files for paging and swapping on the simulated kernel.

    Every page in use on the area is brought back into (simulated) memory first, from zswap,
    the zero map or the file; with --all every active area is disabled, then the swap
    entries of fstab that are not active.
    """
    from ghostswap_cli.userspace.swapoff import SwapoffCtl
    from ghostswap_cli.userspace.swapoff import swapoff as run_swapoff

    app.terminal.prog = "swapoff"
    cmd = ctx.command
    assert isinstance(cmd, GetoptCommand)
    all_ = verbose = force = False
    labels: list[str] = []
    uuids: list[str] = []
    for key, value in parsed.options:
        if key == "?":
            raise cmd.usage_error(value or "")
        if key == "all":
            all_ = True
        elif key == "verbose":
            verbose = True
        elif key == "force":
            force = True
        elif key == "labels":
            labels.append(value or "")
        elif key == "uuids":
            uuids.append(value or "")
        elif key == "help":
            click.echo(ctx.get_help())
            ctx.exit(0)
        elif key == "version":
            click.echo(f"swapoff from ghostswap {__version__} (util-linux 2.41 compatible)")
            ctx.exit(0)

    ctl = SwapoffCtl(specs=parsed.operands, labels=tuple(labels), uuids=tuple(uuids),
                     all=all_, verbose=verbose, force=force)
    if not (ctl.all or ctl.labels or ctl.uuids or ctl.specs):
        raise cmd.usage_error("bad usage")
    report = TerminalReport(app.terminal)
    with app.guard(), app.kernel() as k:
        status = app.run_tool(lambda: run_swapoff(ctl, k, report))
    app.exit(status)
