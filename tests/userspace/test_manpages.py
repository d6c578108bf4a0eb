"""The man pages of mkswap, swaplabel and probe: every option is documented, and groff
renders them without a warning."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from ghostswap_cli.cli import cli

MAN = Path(__file__).resolve().parents[2] / "man"
COMMANDS = ("mkswap", "swaplabel", "probe")


def options_of(name: str) -> set[str]:
    ctx = click.Context(cli, info_name="ghostswap")
    cmd = cli.get_command(ctx, name)
    assert cmd is not None
    names = set(ctx.help_option_names)
    for p in cmd.params:
        if isinstance(p, click.Option):
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names


def man_text(name: str) -> str:
    return (MAN / f"ghostswap-{name}.8").read_text().replace("\\-", "-")


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_is_documented(name):
    text = man_text(name)
    missing = sorted(o for o in options_of(name) if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text))
    assert missing == []
    assert "--state" in options_of(name)


@pytest.mark.parametrize("name", COMMANDS)
def test_sections(name):
    text = man_text(name)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "ENVIRONMENT",
                    "EXAMPLES", "SEE ALSO"):
        assert f".SH {section}\n" in text


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
@pytest.mark.parametrize("name", COMMANDS)
def test_groff_renders_clean(name):
    r = subprocess.run(["groff", "-ww", "-man", "-z", str(MAN / f"ghostswap-{name}.8")],
                       capture_output=True, text=True, check=False)
    assert (r.returncode, r.stderr) == (0, "")


def test_mkswap_page_names_the_chmod_fix():
    assert "6d87ff515" in man_text("mkswap")
