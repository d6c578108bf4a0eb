"""``ghostswap help [COMMAND [SUBCOMMAND]]``: the same text as ``ghostswap COMMAND --help``."""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem


def _complete_words(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Complete COMMAND, then SUBCOMMAND of a group, from the lazy root group's names."""
    root = ctx.find_root()
    cmd: click.Command = root.command
    cur = root
    for word in ctx.params.get("words") or ():
        sub = cmd.get_command(cur, word) if isinstance(cmd, click.Group) else None
        if sub is None:
            return []
        cur = click.Context(sub, info_name=word, parent=cur)
        cmd = sub
    if not isinstance(cmd, click.Group):
        return []
    return [CompletionItem(name) for name in cmd.list_commands(cur)
            if name.startswith(incomplete) and cmd.get_command(cur, name) is not None]


@click.command("help", short_help="Show help for a command.")
@click.argument("words", nargs=-1, metavar="[COMMAND [SUBCOMMAND]]",
                shell_complete=_complete_words)
@click.pass_context
def help_command(ctx: click.Context, words: tuple[str, ...]) -> None:
    """Print the help of COMMAND (or of SUBCOMMAND of a group such as kernel or trace), exactly
    as ``ghostswap COMMAND [SUBCOMMAND] --help`` prints it. With no COMMAND, the help of
    ghostswap itself. The man pages say more: ghostswap(1), ghostswap-COMMAND(1 or 8).
    """
    root = ctx.find_root()
    target_ctx = root
    cmd: click.Command = root.command
    for word in words:
        if not isinstance(cmd, click.Group):
            raise click.UsageError(
                f"{target_ctx.command_path!r} has no subcommands (no help for {word!r})", ctx
            )
        sub = cmd.get_command(target_ctx, word)
        if sub is None:
            raise click.UsageError(f"No such command {word!r}.", ctx)
        # a bare context, as click builds it for `COMMAND --help`: nothing parsed, so the
        # required options of the command do not get in the way
        target_ctx = click.Context(sub, info_name=word, parent=target_ctx)
        cmd = sub
    click.echo(cmd.get_help(target_ctx), color=ctx.color)
