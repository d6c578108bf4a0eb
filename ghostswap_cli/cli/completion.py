"""``ghostswap completion bash|zsh|fish``: print the shell completion script.

The script is click's own (``click.shell_completion``): the shell runs ``ghostswap`` again with
``_GHOSTSWAP_COMPLETE=<shell>_complete`` and the words typed so far, and the lazy root group
loads only the commands whose names match what is being completed.
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_GHOSTSWAP_COMPLETE"
PROG_NAME = "ghostswap"


def completion_script(shell: str) -> str:
    """The completion script of ``shell`` for the ``ghostswap`` command."""
    from click.shell_completion import get_completion_class

    from ghostswap_cli.cli import cli

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.BadParameter(f"unsupported shell {shell!r}")
    return cls(cli, {}, PROG_NAME, COMPLETE_VAR).source()


@click.command(short_help="Print a shell completion script.")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish) on standard output.

    \b
    Install it with:
      bash:  eval "$(ghostswap completion bash)"    (in ~/.bashrc)
      zsh:   eval "$(ghostswap completion zsh)"     (in ~/.zshrc)
      fish:  ghostswap completion fish > ~/.config/fish/completions/ghostswap.fish

    Command names, subcommand names, options and choices complete; file arguments complete
    as file names.
    """
    script = completion_script(shell)
    click.echo(script if script.endswith("\n") else script + "\n", nl=False)
