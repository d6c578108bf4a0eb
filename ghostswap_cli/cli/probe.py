"""``ghostswap probe``: ``blkid -p`` for swap areas, ghost headers included."""

from __future__ import annotations

import click

from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.cli.mkswap import TerminalReport, UtilLinuxCommand


@click.command(
    cls=UtilLinuxCommand,
    prog="probe",
    prefix="ghostswap",
    usage_status=4,
    short_help="Identify swap areas like blkid -p, ghost headers included.",
)
@click.argument("files", nargs=-1, metavar="FILE...")
@click.option("-o", "--output", "fmt", metavar="FORMAT", default="full", show_default=True,
              help="Output format: full, value, export (as blkid) or json.")
@click.option("--json", "as_json", is_flag=True, help="Same as --output json.")
@pass_app
def probe(app: App, files: tuple[str, ...], fmt: str, as_json: bool) -> None:
    """Identify the swap signature of each FILE (a regular file or block device), as
    ``blkid -p`` does, and say what the kernel would make of it.

    blkid's keys come first (LABEL, UUID, VERSION, TYPE="swap" or "swsuspend", USAGE), then
    ghostswap's: PAGESIZE, ENDIANNESS, PAGES and BYTES declared by the header (header page
    included), BADPAGES, KIND (file, ghost, short or invalid) and REASON. Unlike blkid it also
    reads files smaller than 40 KiB, so one-page ghost swapfiles are found.

    Exit status: 0 if at least one FILE was identified, 2 if none was, 4 for usage errors.
    """
    from ghostswap_cli.userspace.probe import probe as run_probe

    app.terminal.prog = "ghostswap"
    app.exit(app.run_tool(lambda: run_probe(list(files), "json" if as_json else fmt,
                                            TerminalReport(app.terminal))))
