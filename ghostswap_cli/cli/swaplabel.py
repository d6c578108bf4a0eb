"""``ghostswap swaplabel``: util-linux swaplabel, which also reads ghost swapfiles."""

from __future__ import annotations

import click

from ghostswap_cli import __version__
from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.cli.mkswap import TerminalReport, UtilLinuxCommand


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"swaplabel from ghostswap {__version__} (util-linux 2.41 compatible)")
        ctx.exit(0)


@click.command(
    cls=UtilLinuxCommand,
    prog="swaplabel",
    short_help="Print or change the label or UUID of a swap area.",
)
@click.argument("args", nargs=-1, metavar="DEVICE")
@click.option("-L", "--label", metavar="LABEL", help="Specify a new label (at most 15 bytes are stored).")
@click.option("-U", "--uuid", metavar="UUID", help="Specify a new UUID.")
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and exit.")
@pass_app
def swaplabel(app: App, args: tuple[str, ...], label: str | None, uuid: str | None) -> None:
    """Display or change the label or UUID of the swap area on DEVICE.

    Without options it prints ``LABEL: <label>`` (if set) and ``UUID:  <uuid>`` (if not all
    zero). DEVICE must be a swap area libblkid recognises (at least 40 KiB), or a ghost
    swapfile: one page whose header declares a larger area.
    """
    from ghostswap_cli.userspace.swaplabel import SwaplabelCtl
    from ghostswap_cli.userspace.swaplabel import swaplabel as run_swaplabel

    app.terminal.prog = "swaplabel"
    app.exit(app.run_tool(lambda: run_swaplabel(SwaplabelCtl(args=args, label=label, uuid=uuid),
                                                TerminalReport(app.terminal))))
