"""``ghostswap swapon``: util-linux swapon on the simulated kernel (man ghostswap-swapon(8)).

Also home of :class:`GetoptCommand`, a click command whose arguments are read the way glibc's
``getopt_long()`` reads them (options in order, GNU argument permutation, unique prefixes of
long options, ``-d``/``--discard[=policy]``-style optional arguments that must be attached,
getopt's own error words), so that option order, mutual exclusions and exit statuses match
util-linux. The click options declared on the command remain the single list of options: the
getopt table, ``--help`` and the man-page check all read them.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

import click

from ghostswap_cli import __version__
from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.cli.columns import (
    DEFAULT_COLUMNS,
    SWAPON_COLUMNS,
    Column,
    ColumnError,
    columns_help,
    parse_columns,
)
from ghostswap_cli.cli.listing import show_listing, summary_listing
from ghostswap_cli.cli.mkswap import TerminalReport, UtilLinuxUsageError, write_text
from ghostswap_cli.errors import ToolError

__all__ = ("swapon", "GetoptCommand", "GetoptResult", "UtilLinuxError", "Exclusive", "show_listing")

NO_ARG, REQUIRED_ARG, OPTIONAL_ARG = 0, 1, 2


class UtilLinuxError(click.ClickException):
    """``errx()``: one ``prog: message`` line and the status, no try-help line."""

    def __init__(self, prefix: str, message: str, status: int):
        super().__init__(message)
        self.prefix = prefix
        self.exit_code = status

    def show(self, file: IO[Any] | None = None) -> None:
        sys.stdout.flush()
        write_text(file or sys.stderr, f"{self.prefix}: {self.message}\n")


@dataclasses.dataclass(frozen=True)
class GetoptResult:
    """What ``getopt_long()`` returned, in order: (param name, value) pairs, or ("?", error
    text) where getopt complained; then the operands."""

    options: tuple[tuple[str, str | None], ...]
    operands: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _LongOpt:
    name: str
    key: str
    has_arg: int


def getopt_long(args: Sequence[str], shortopts: dict[str, tuple[str, int]],
                longopts: Sequence[_LongOpt], *, posixly_correct: bool = False) -> GetoptResult:
    """glibc ``getopt_long()`` over ``args``, collecting instead of returning one at a time.

    ``shortopts`` maps a letter to (key, has_arg). An optional argument of a short option
    must be attached (``-donce``), of a long one follow ``=``. Errors are recorded in
    glibc's words (without the program name) where they occur, and parsing goes on, as
    getopt does; the caller stops at the first.
    """
    opts: list[tuple[str, str | None]] = []
    operands: list[str] = []
    i = 0
    n = len(args)
    while i < n:
        arg = args[i]
        if arg == "--":
            operands.extend(args[i + 1 :])
            break
        if arg.startswith("--"):
            body = arg[2:]
            name, eq, value = body.partition("=")
            exact = [lo for lo in longopts if lo.name == name]
            cands = exact or [lo for lo in longopts if lo.name.startswith(name)]
            distinct = {(lo.key, lo.has_arg) for lo in cands}
            if not cands:
                opts.append(("?", f"unrecognized option '{arg}'"))
            elif len(distinct) > 1:
                names = " ".join(f"'--{lo.name}'" for lo in cands)
                opts.append(("?", f"option '{arg}' is ambiguous; possibilities: {names}"))
            else:
                lo = cands[0]
                if lo.has_arg == NO_ARG:
                    if eq:
                        opts.append(("?", f"option '--{lo.name}' doesn't allow an argument"))
                    else:
                        opts.append((lo.key, None))
                elif lo.has_arg == REQUIRED_ARG:
                    if eq:
                        opts.append((lo.key, value))
                    elif i + 1 < n:
                        i += 1
                        opts.append((lo.key, args[i]))
                    else:
                        opts.append(("?", f"option '--{lo.name}' requires an argument"))
                else:
                    opts.append((lo.key, value if eq else None))
            i += 1
            continue
        if arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                c = arg[j]
                if c not in shortopts:
                    opts.append(("?", f"invalid option -- '{c}'"))
                    j += 1
                    continue
                key, has_arg = shortopts[c]
                rest = arg[j + 1 :]
                if has_arg == NO_ARG:
                    opts.append((key, None))
                    j += 1
                    continue
                if has_arg == OPTIONAL_ARG:
                    opts.append((key, rest or None))
                elif rest:
                    opts.append((key, rest))
                elif i + 1 < n:
                    i += 1
                    opts.append((key, args[i]))
                else:
                    opts.append(("?", f"option requires an argument -- '{c}'"))
                break
            i += 1
            continue
        if posixly_correct:
            operands.extend(args[i:])
            break
        operands.append(arg)
        i += 1
    return GetoptResult(tuple(opts), tuple(operands))


class GetoptCommand(click.Command):
    """A click command parsed by :func:`getopt_long`; the callback receives ``parsed``.

    ``optional_args`` lists the option strings whose argument is optional (``--show``,
    ``-d``); every other option takes an argument unless it is a flag. ``-h/--help`` prints
    click's help, ``--state`` is applied as soon as it is read, like an eager click option.
    """

    def __init__(self, *args: Any, prog: str, usage_status: int = 1,
                 optional_args: Iterable[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.prog = prog
        self.usage_status = usage_status
        self.optional_args = frozenset(optional_args)

    def _table(self, ctx: click.Context) -> tuple[dict[str, tuple[str, int]], list[_LongOpt]]:
        shorts: dict[str, tuple[str, int]] = {}
        longs: list[_LongOpt] = []
        params = list(self.params)
        help_opt = self.get_help_option(ctx)
        if help_opt is not None:
            params.append(help_opt)
        for p in params:
            if not isinstance(p, click.Option):
                continue
            # click 8.5 stores the help option under a reserved name; we key it as "help"
            key = "help" if p is help_opt else (p.name or "")
            for opt in (*p.opts, *p.secondary_opts):
                has_arg = NO_ARG if p.is_flag else REQUIRED_ARG
                if opt in self.optional_args:
                    has_arg = OPTIONAL_ARG
                if opt.startswith("--"):
                    longs.append(_LongOpt(opt[2:], key, has_arg))
                else:
                    shorts[opt[1:]] = (key, has_arg)
        return shorts, longs

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        shorts, longs = self._table(ctx)
        result = getopt_long(args, shorts, longs,
                             posixly_correct=bool(os.environ.get("POSIXLY_CORRECT")))
        kept = []
        for key, value in result.options:
            if key == "state":
                state = next(p for p in self.params if p.name == "state")
                if state.callback is not None:
                    state.callback(ctx, state, value)
                continue
            kept.append((key, value))
        ctx.params = {"parsed": GetoptResult(tuple(kept), result.operands)}
        return []

    def usage_error(self, text: str) -> UtilLinuxUsageError:
        return UtilLinuxUsageError(self.prog, text, self.usage_status)


class Exclusive:
    """``err_exclusive_options()``: groups of options that may not be combined.

    Each group lists option keys; the first key seen in a group owns it, and another one
    stops the command with ``mutually exclusive arguments: --a --b ...``.
    """

    def __init__(self, groups: Sequence[Sequence[str]], names: dict[str, str]):
        self.groups = [list(g) for g in groups]
        self.names = names
        self.status: list[str | None] = [None] * len(groups)

    def check(self, key: str) -> str | None:
        for e, group in enumerate(self.groups):
            if key not in group:
                continue
            if self.status[e] is None:
                self.status[e] = key
            elif self.status[e] != key:
                return "mutually exclusive arguments: " + " ".join(self.names[k] for k in group)
        return None


_LONG_NAMES = {
    "all": "--all", "options": "--options", "summary": "--summary", "show": "--show",
    "bytes": "--bytes", "noheadings": "--noheadings", "raw": "--raw", "json": "--json",
}
# util-linux's excl[] (rows in its order), then ghostswap's for --json
_EXCLUSIVE = (
    ("all", "options", "summary", "show"),
    ("all", "options", "bytes"),
    ("all", "options", "noheadings"),
    ("all", "options", "raw"),
    ("all", "options", "summary", "json"),
    ("raw", "json"),
)

_EPILOG = (
    "\b\nThe SPECIALFILE parameter:\n"
    " -L <label>             synonym for LABEL=<label>\n"
    " -U <uuid>              synonym for UUID=<uuid>\n"
    " LABEL=<label>          specifies device by swap area label\n"
    " UUID=<uuid>            specifies device by swap area UUID\n"
    " PARTLABEL=<label>      specifies device by partition label\n"
    " PARTUUID=<uuid>        specifies device by partition UUID\n"
    " <device>               name of device to be used\n"
    " <file>                 name of file to be used\n"
    "\n\b\nAvailable discard policy types (for --discard):\n"
    " once    : only single-time area discards are issued\n"
    " pages   : freed pages are discarded before they are reused\n"
    "If no policy is selected, both discard types are enabled (default).\n"
    "\n\b\nAvailable output columns:\n" + columns_help(SWAPON_COLUMNS) +
    "\nFor more details see ghostswap-swapon(8)."
)


def _version() -> str:
    return f"swapon from ghostswap {__version__} (util-linux 2.41 compatible)"


@dataclasses.dataclass
class _Args:
    all: bool = False
    discard: int = 0
    priority: int = -1
    no_fail: bool = False
    fixpgsz: bool = False
    options: str | None = None
    summarize: bool = False
    show: bool = False
    columns: list[Column] = dataclasses.field(default_factory=list)
    output_all: bool = False
    noheadings: bool = False
    raw: bool = False
    bytes: bool = False
    json: bool = False
    verbose: bool = False
    fstab: str | None = None
    labels: list[str] = dataclasses.field(default_factory=list)
    uuids: list[str] = dataclasses.field(default_factory=list)


def _read_options(ctx: click.Context, cmd: GetoptCommand, parsed: GetoptResult) -> _Args:
    """main()'s getopt loop: each option in order, exclusions checked before it is used."""
    from ghostswap_cli.userspace.swapon import parse_discard, parse_priority

    a = _Args()
    excl = Exclusive(_EXCLUSIVE, _LONG_NAMES)
    for key, value in parsed.options:
        if key == "?":
            raise cmd.usage_error(value or "")
        clash = excl.check(key)
        if clash:
            raise UtilLinuxError("swapon", clash, 1)
        try:
            if key == "all":
                a.all = True
            elif key == "options":
                a.options = value
            elif key == "priority":
                a.priority = parse_priority(value or "")
            elif key == "labels":
                a.labels.append(value or "")
            elif key == "uuids":
                a.uuids.append(value or "")
            elif key == "fstab":
                a.fstab = value
            elif key == "discard":
                a.discard |= parse_discard(value)
            elif key == "ifexists":
                a.no_fail = True
            elif key == "fixpgsz":
                a.fixpgsz = True
            elif key == "summary":
                a.summarize = True
            elif key == "verbose":
                a.verbose = True
            elif key == "show":
                if value is not None:
                    a.columns = parse_columns(value)
                a.show = True
            elif key == "output_all":
                a.columns = list(SWAPON_COLUMNS)
            elif key == "noheadings":
                a.noheadings = True
            elif key == "raw":
                a.raw = True
            elif key == "bytes":
                a.bytes = True
            elif key == "json":
                a.json = True
            elif key == "help":
                click.echo(ctx.get_help())
                ctx.exit(0)
            elif key == "version":
                click.echo(_version())
                ctx.exit(0)
        except ToolError as e:
            raise UtilLinuxError("swapon", str(e), e.exit_status) from None
        except ColumnError as e:
            if e.message:
                raise UtilLinuxError("swapon", e.message, 1) from None
            raise SystemExit(1) from None
    return a


@click.command(
    cls=GetoptCommand,
    prog="swapon",
    optional_args=("-d", "--discard", "--show", "--options"),
    short_help="Enable swap areas on the simulated kernel.",
    epilog=_EPILOG,
)
@click.argument("specs", nargs=-1, metavar="[SPECIALFILE...]")
@click.option("-a", "--all", is_flag=True, help="Enable all swaps from fstab (except noauto).")
@click.option("-d", "--discard", metavar="[=POLICY]", help="Enable swap discards, if supported by the device (once or pages).")
@click.option("-e", "--ifexists", is_flag=True, help="Silently skip devices that do not exist (with --all).")
@click.option("-f", "--fixpgsz", is_flag=True, help="Reinitialize the swap space if its page size does not match the kernel's.")
@click.option("-o", "--options", metavar="LIST", help="Comma-separated list of swap options: pri=N, discard[=POLICY], nofail.")
@click.option("-p", "--priority", metavar="PRIO", help="Priority of the swap area, 0 to 32767, higher first (negative: the kernel's default).")
@click.option("-s", "--summary", is_flag=True, help="Display summary about used swap devices (DEPRECATED).")
@click.option("-T", "--fstab", metavar="PATH", help="Alternative file to /etc/fstab (a file or a directory of *.fstab files) [env: LIBMOUNT_FSTAB].")
@click.option("--show", metavar="[=COLUMNS]", help="Display a table of the active swap areas (default columns NAME,TYPE,SIZE,USED,PRIO).")
@click.option("--output-all", is_flag=True, help="Output all available columns.")
@click.option("--noheadings", is_flag=True, help="Don't print table heading (with --show).")
@click.option("--raw", is_flag=True, help="Use the raw output format (with --show).")
@click.option("--bytes", is_flag=True, help="Display swap size in bytes in --show output.")
@click.option("--json", is_flag=True, help="Use JSON output format (with --show).")
@click.option("-v", "--verbose", is_flag=True, help="Verbose mode.")
@click.option("-L", "labels", metavar="LABEL", multiple=True, help="Synonym for LABEL=<label>.")
@click.option("-U", "uuids", metavar="UUID", multiple=True, help="Synonym for UUID=<uuid>.")
@click.option("-V", "--version", is_flag=True, help="Display version.")
@click.pass_context
@pass_app
def swapon(app: App, ctx: click.Context, parsed: GetoptResult) -> None:
    """Enable devices and files for paging and swapping on the simulated kernel.

    With no SPECIALFILE and no --all, or with --show, lists the active areas as util-linux's
    swapon --show does (ghost areas included, with their LABEL and UUID). Before each
    activation the file is checked as util-linux checks it (permissions, holes, signature,
    page size); the activation itself is the simulated swapon(2), which logs to the
    simulated kernel log (ghostswap dmesg).
    """
    from ghostswap_cli.userspace.swapon import SwaponCtl, SwapProp
    from ghostswap_cli.userspace.swapon import swapon as run_swapon

    app.terminal.prog = "swapon"
    cmd = ctx.command
    assert isinstance(cmd, GetoptCommand)
    a = _read_options(ctx, cmd, parsed)
    specs = parsed.operands

    if a.summarize:
        write_text(sys.stdout, summary_listing(app))
        return
    if a.show or (not a.all and not a.labels and not a.uuids and not specs):
        text = show_listing(app, a.columns or list(DEFAULT_COLUMNS), in_bytes=a.bytes,
                            raw=a.raw, noheadings=a.noheadings, as_json=a.json)
        write_text(sys.stdout, text)
        return

    ctl = SwaponCtl(
        specs=tuple(specs), labels=tuple(a.labels), uuids=tuple(a.uuids), all=a.all,
        fstab=a.fstab, props=SwapProp(a.discard, a.priority, a.no_fail), options=a.options,
        fix_page_size=a.fixpgsz, verbose=a.verbose,
    )
    report = TerminalReport(app.terminal)
    with app.guard(), app.kernel() as k:
        status = app.run_tool(lambda: run_swapon(ctl, k, report))
    app.exit(status)
