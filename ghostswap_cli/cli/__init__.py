"""The ``ghostswap`` command: a root group that loads each subcommand on first use.

Global options (``--state``, ``--color/--no-color``, ``-v``/``-q``) are resolved once into an
:class:`~ghostswap_cli.cli.app.App`; ``--state`` is also accepted after any subcommand.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import click

from ghostswap_cli import __version__
from ghostswap_cli.cli.app import App
from ghostswap_cli.cli.terminal import Terminal
from ghostswap_cli.errors import GhostswapError

# name -> (module, attribute, one-line help); the module is imported only when the command runs
COMMANDS: dict[str, tuple[str, str, str]] = {
    "mkswap": ("ghostswap_cli.cli.mkswap", "mkswap", "Set up a swap area or a ghost swapfile."),
    "swaplabel": ("ghostswap_cli.cli.swaplabel", "swaplabel", "Print or change the label or UUID of a swap area."),
    "probe": ("ghostswap_cli.cli.probe", "probe", "Identify swap areas like blkid -p, ghost headers included."),
    "swapon": ("ghostswap_cli.cli.swapon", "swapon", "Enable swap areas on the simulated kernel."),
    "swapoff": ("ghostswap_cli.cli.swapoff", "swapoff", "Disable swap areas on the simulated kernel."),
    "swapshow": ("ghostswap_cli.cli.swapshow", "swapshow", "List active swap areas (swapon --show, or --proc)."),
    "kernel": ("ghostswap_cli.cli.kernel", "kernel", "Initialise, show, reset or check the simulated kernel."),
    "cat": ("ghostswap_cli.cli.cat", "cat", "Print a simulated /proc or /sys file."),
    "write": ("ghostswap_cli.cli.write", "write", "Write a value to a simulated /sys parameter."),
    "dmesg": ("ghostswap_cli.cli.dmesg", "dmesg", "Print the simulated kernel log."),
    "trace": ("ghostswap_cli.cli.trace", "trace", "Make, convert, inspect and capture page traces."),
    "replay": ("ghostswap_cli.cli.replay", "replay", "Replay a page trace through the kernel and zswap."),
    "demo": ("ghostswap_cli.cli.demo", "demo", "Set up a ghost and a real swapfile and replay the example trace."),
    "designs": ("ghostswap_cli.cli.designs", "designs", "Compare swap designs from the RFC debate on one trace."),
    "advise": ("ghostswap_cli.cli.designs", "advise", "Recommend a ghost swapfile size for a trace."),
    "plot": ("ghostswap_cli.cli.plot", "plot", "Plot a replay timeline CSV to a PNG."),
    "sweep": ("ghostswap_cli.cli.sweep", "sweep", "Run a grid of replays or design-lab runs, locally or on Dask."),
    "completion": ("ghostswap_cli.cli.completion", "completion", "Print a shell completion script."),
    "help": ("ghostswap_cli.cli.helpcmd", "help_command", "Show help for a command."),
}


def _refuse_empty_state(value: str | None) -> None:
    if value is not None and not value.strip():
        raise click.BadParameter("the state directory is empty; leave --state out for the "
                                 "default, or name a directory", param_hint="'--state'")


def _set_state(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    _refuse_empty_state(value)
    if value:
        app = ctx.find_object(App)
        if app is not None:
            app.state_dir = Path(value)


STATE_HELP = "State directory of the simulated kernel [env: GHOSTSWAP_STATE; default: $XDG_STATE_HOME/ghostswap]."


def state_option() -> click.Option:
    return click.Option(
        ["--state"],
        metavar="DIR",
        expose_value=False,
        is_eager=True,
        callback=_set_state,
        help=STATE_HELP,
    )


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it is used, so every command starts fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attr, _ = spec
        try:
            cmd = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as e:
            if e.name == module:
                return None  # listed but not built yet
            raise
        add_state_option(cmd)
        self.commands[cmd_name] = cmd
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the table's help lines, for modules that exist, without importing them: --help
        # would otherwise import every command (most of a second on a busy machine)
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)
                if name in self.commands or _module_exists(COMMANDS[name][0])]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def add_state_option(cmd: click.Command) -> None:
    if not any(p.name == "state" for p in cmd.params):
        cmd.params.append(state_option())
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            add_state_option(sub)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--state", "state_dir", metavar="DIR", envvar="GHOSTSWAP_STATE", type=click.Path(file_okay=False), help=STATE_HELP)
@click.option("--color/--no-color", "color", default=None, help="Colour on or off [default: on a terminal, unless NO_COLOR is set].")
@click.option("-v", "--verbose", "verbose", count=True, help="More diagnostics (repeatable).")
@click.option("-q", "--quiet", "quiet", count=True, help="Fewer diagnostics.")
@click.version_option(__version__, "-V", "--version", prog_name="ghostswap")
@click.pass_context
def cli(ctx: click.Context, state_dir: str | None, color: bool | None, verbose: int, quiet: int) -> None:
    """Linux swap areas, the RFC ghost swapfile and a real zswap store, on a simulated kernel.

    Nothing here calls the real swapon(2) or swapoff(2): the kernel, its swap table and its zswap
    pool live in a state directory.
    """
    if state_dir is not None and not state_dir.strip() and ctx.get_parameter_source(
            "state_dir") == click.core.ParameterSource.COMMANDLINE:
        _refuse_empty_state(state_dir)
    ctx.obj = App(
        terminal=Terminal(color=color, verbosity=verbose - quiet),
        state_dir=Path(state_dir) if state_dir and state_dir.strip() else None,
    )


def _terminate(signum: int, _frame) -> None:
    """SIGTERM unwinds like an interrupt: transactions roll back, partial files are removed."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected failures end as one line and a status; bugs show a traceback."""
    import signal

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    from ghostswap_cli.fsnames import register_output_errors

    errors = register_output_errors()
    for stream in (sys.stdout, sys.stderr):
        # a name that is not UTF-8 is shown octal-escaped wherever it is printed from
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors=errors)
    try:
        cli.main(args=argv, prog_name="ghostswap", standalone_mode=True)
    except GhostswapError as e:  # a command forgot to turn it into app.abort
        sys.stderr.write(f"ghostswap: {e}\n")
        sys.exit(e.exit_status)
    except BrokenPipeError:
        # output piped into `head`: not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
