"""``ghostswap mkswap``: util-linux mkswap's options, plus ``--ghost``.

Also home of the two pieces the util-linux mirrors share on the click side: a command class
that reports usage errors as getopt does (``mkswap: unrecognized option '--foo'`` and a
try-help line, util-linux's exit status) and a :class:`TerminalReport` that sends a tool's
report to stdout/stderr.
"""

from __future__ import annotations

import sys
from typing import IO, Any

import click

from ghostswap_cli import __version__
from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.cli.terminal import TerminalReport, write_text

__all__ = ("mkswap", "UtilLinuxCommand", "TerminalReport", "write_text")


class UtilLinuxUsageError(click.ClickException):
    """A usage error shown as util-linux shows it: ``prog: text`` then the try-help line."""

    def __init__(self, prog: str, text: str, status: int, prefix: str | None = None):
        super().__init__(text)
        self.prog = prog
        self.prefix = prefix or prog
        self.exit_code = status

    def show(self, file: IO[Any] | None = None) -> None:
        stream = file or sys.stderr
        stream.write(f"{self.prefix}: {self.message}\nTry 'ghostswap {self.prog} --help' for more information.\n")


def _getopt_words(e: click.UsageError) -> str:
    """click's usage errors in glibc getopt's words."""
    name = getattr(e, "option_name", None) or ""
    text = e.format_message()
    if isinstance(e, click.NoSuchOption) and name:
        return f"unrecognized option '{name}'" if name.startswith("--") else f"invalid option -- '{name.lstrip('-')}'"
    if isinstance(e, click.BadOptionUsage) and name:
        if "requires" in text:
            if name.startswith("--"):
                return f"option '{name}' requires an argument"
            return f"option requires an argument -- '{name.lstrip('-')}'"
        if "does not take a value" in text:
            return f"option '{name}' doesn't allow an argument"
    return text[:1].lower() + text[1:].rstrip(".")


class UtilLinuxCommand(click.Command):
    """A click command whose usage errors read like util-linux's and exit with its status.

    ``optional_values`` maps options with an optional argument (``--lock[=mode]``) to the
    value a bare option means; as with getopt, only ``--opt=value`` attaches a value.
    """

    def __init__(self, *args: Any, prog: str, usage_status: int = 1, prefix: str | None = None,
                 optional_values: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.prog = prog
        self.prefix = prefix
        self.usage_status = usage_status
        self.optional_values = optional_values or {}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[i:])
                break
            rewritten.append(f"{arg}={self.optional_values[arg]}" if arg in self.optional_values else arg)
        try:
            return super().parse_args(ctx, rewritten)
        except click.UsageError as e:
            if isinstance(e, UtilLinuxUsageError):
                raise
            raise UtilLinuxUsageError(self.prog, _getopt_words(e), self.usage_status, self.prefix) from None


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"mkswap from ghostswap {__version__} (util-linux 2.41 compatible)")
        click.echo("features: extents-check, fallocate, blkid-check, uuid, ghost")
        ctx.exit(0)


@click.command(
    cls=UtilLinuxCommand,
    prog="mkswap",
    optional_values={"--lock": "1"},
    short_help="Set up a swap area or a ghost swapfile.",
)
@click.argument("args", nargs=-1, metavar="DEVICE [SIZE]")
@click.option("-c", "--check", is_flag=True, help="Check bad blocks before creating the swap area (block devices).")
@click.option("-f", "--force", is_flag=True, help="Allow a size larger than the device; erase bootbits and old signatures even if a partition table or file system is found.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress output and warning messages.")
@click.option("-p", "--pagesize", metavar="SIZE", help="Page size of the header in bytes [default: the system's].")
@click.option("-L", "--label", metavar="LABEL", help="Label (at most 15 bytes are stored).")
@click.option("-v", "--swapversion", metavar="NUM", help="Swap-space version; only 1 is supported.")
@click.option("-U", "--uuid", metavar="UUID", help="UUID to use, or clear, random or time.")
@click.option("-e", "--endianness", metavar="VALUE", help="Byte order of the header: native, little or big.")
@click.option("-o", "--offset", metavar="OFFSET", help="Byte offset of the swap area in the device.")
@click.option("-s", "--size", metavar="SIZE", help="Size of the swap file to create with --file or --ghost (suffixes K, M, G, KiB...).")
@click.option("-F", "--file", "file_", is_flag=True, help="Create the swap file (mode 0600, allocated).")
@click.option("--ghost", is_flag=True, help="Write a ghost swapfile: one page whose header declares --size or SIZE.")
@click.option("--lock", metavar="[=MODE]", help="Take an exclusive lock: yes, no or nonblock [env: LOCK_BLOCK_DEVICE].")
@click.option("--verbose", is_flag=True, help="Explain holes and unsupported extents.")
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and exit.")
@pass_app
def mkswap(app: App, args: tuple[str, ...], check: bool, force: bool, quiet: bool,
           pagesize: str | None, label: str | None, swapversion: str | None, uuid: str | None,
           endianness: str | None, offset: str | None, size: str | None, file_: bool, ghost: bool,
           lock: str | None, verbose: bool) -> None:
    """Set up a Linux swap area on DEVICE (a block device or a file), or a ghost swapfile.

    SIZE is the number of 1 KiB blocks to use, as util-linux reads it; by default the whole
    device (after --offset). Only page 0 is written: the header, and zeroed bootbits unless a
    partition table is kept. With --ghost, DEVICE becomes a file of exactly one page whose
    header declares the size given by --size or SIZE; the RFC kernel treats such a file as a
    swap area backed by nothing.
    """
    from ghostswap_cli.userspace.mkswap import MkswapCtl
    from ghostswap_cli.userspace.mkswap import mkswap as run_mkswap

    app.terminal.prog = "mkswap"
    ctl = MkswapCtl(
        args=args, check=check, force=force, quiet=quiet, pagesize=pagesize, label=label,
        uuid=uuid, swapversion=swapversion, endianness=endianness, offset=offset, size=size,
        file=file_, ghost=ghost, lock=lock, verbose=verbose,
    )
    from ghostswap_cli.userspace.common import active_swaps, system_page_size

    app.exit(app.run_tool(lambda: run_mkswap(ctl, TerminalReport(app.terminal),
                                             page_size=system_page_size(app.state),
                                             swaps=active_swaps(app.state))))
