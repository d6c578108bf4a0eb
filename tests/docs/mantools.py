"""Shared by the documentation tests: the whole click tree, and man pages as text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from ghostswap_cli.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "man"

# the util-linux mirrors live in section 8, everything else in section 1
SECTION_8 = frozenset({"mkswap", "swaplabel", "probe", "swapon", "swapoff"})
GROUPS_IN_ONE_PAGE = frozenset({"kernel", "trace"})  # subcommands documented in the group's page
SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "ENVIRONMENT",
            "EXAMPLES", "SEE ALSO")


def root_context() -> click.Context:
    return click.Context(cli, info_name="ghostswap")


def walk() -> Iterator[tuple[tuple[str, ...], click.Command | None]]:
    """Every command path of the tree, lazy commands loaded; None for listed-but-not-built."""
    ctx = root_context()
    yield (), cli
    for name in sorted(COMMANDS):
        cmd = cli.get_command(ctx, name)
        yield (name,), cmd
        if isinstance(cmd, click.Group):
            sub_ctx = click.Context(cmd, info_name=name, parent=ctx)
            for sub in cmd.list_commands(sub_ctx):
                yield (name, sub), cmd.get_command(sub_ctx, sub)


def option_strings(cmd: click.Command) -> set[str]:
    """Every long and short option string of ``cmd``, help included (-h, --help)."""
    names = {"-h", "--help"}
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.hidden:
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names


def man_page_for(path: tuple[str, ...]) -> Path:
    """The page that must document the command at ``path``."""
    if not path:
        return MAN / "ghostswap.1"
    name = path[0]
    section = 8 if name in SECTION_8 else 1
    return MAN / f"ghostswap-{name}.{section}"


_ESCAPES = (
    (re.compile(r"\\f(\[[^]]*\]|\(..|.)"), ""),  # font changes: \fB \fI \fR \fP \f(CW \f[B]
    (re.compile(r"\\\((aq|cq|oq)"), "'"),
    (re.compile(r"\\\((lq|rq|dq)"), '"'),
    (re.compile(r"\\\((em|en|mi|hy)"), "-"),
    (re.compile(r"\\\(.."), " "),  # any other special character
    (re.compile(r"\\\[[^]]*\]"), " "),
    (re.compile(r"\\[&|^:%]"), ""),  # zero-width escapes
    (re.compile(r"\\ "), " "),
    (re.compile(r"\\-"), "-"),
    (re.compile(r"\\e"), "\\\\"),
)


def strip_roff(source: str) -> str:
    """The page's words without roff escapes: ``\\-\\-state`` becomes ``--state``."""
    lines = []
    for line in source.splitlines():
        if line.startswith('.\\"') or line.startswith("'\\\""):
            continue  # comments are not documentation
        text = line
        for rx, repl in _ESCAPES:
            text = rx.sub(repl, text)
        lines.append(text)
    return "\n".join(lines)


def man_text(page: Path) -> str:
    return strip_roff(page.read_text(encoding="utf-8"))


def mentions(text: str, option: str) -> bool:
    """``option`` appears as a word of its own: -L is not found inside -LABEL or --label."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None
