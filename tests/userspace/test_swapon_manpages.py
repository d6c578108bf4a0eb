"""The man pages of swapon and swapoff: every option documented, the sections there, the exit
statuses and quoted messages the same as the code's, and groff renders them without a warning."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from ghostswap_cli.cli import cli
from ghostswap_cli.cli.columns import SWAPON_COLUMNS
from ghostswap_cli.userspace import swapon as us_swapon
from ghostswap_cli.userspace.swapoff import SwapoffStatus

MAN = Path(__file__).resolve().parents[2] / "man"
COMMANDS = ("swapon", "swapoff")


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
    opts = options_of(name)
    assert "--state" in opts
    missing = sorted(o for o in opts if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text))
    assert missing == []


@pytest.mark.parametrize("name", COMMANDS)
def test_sections(name):
    text = man_text(name)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES",
                    "ENVIRONMENT", "EXAMPLES", "SEE ALSO"):
        assert f".SH {section}\n" in text


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
@pytest.mark.parametrize("name", COMMANDS)
def test_groff_renders_clean(name):
    r = subprocess.run(["groff", "-ww", "-man", "-z", str(MAN / f"ghostswap-{name}.8")],
                       capture_output=True, text=True, check=False)
    assert (r.returncode, r.stderr) == (0, "")


def test_swapoff_exit_statuses_are_listed():
    text = man_text("swapoff")
    for status in SwapoffStatus:
        assert f".B {int(status)}\n" in text
    assert ".B 255\n" in text


def test_swapon_page_quotes_the_code():
    text = man_text("swapon").replace("\\(lq", "").replace("\\(rq", "")
    for col in SWAPON_COLUMNS:
        assert f".B {col.name}\n{col.help}" in text
    assert "mutually exclusive arguments: --all --options --summary --show" in text
    assert "swapdevices" in text
    for msg in (us_swapon.MSG_HOLES, us_swapon.MSG_READ_HEADER, us_swapon.MSG_PAGESIZE_HINT):
        assert msg.format("path").split(": ", 1)[1].replace("-", "-") in text.replace("\\ ", " ")
