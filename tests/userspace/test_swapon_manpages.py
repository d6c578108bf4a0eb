"""The man pages of swapon and swapoff: the exit statuses and quoted messages the same as the
code's. Every option, the sections and groff/mandoc are checked for every page in
tests/docs/test_man_pages.py."""

from __future__ import annotations

from pathlib import Path

from ghostswap_cli.cli.columns import SWAPON_COLUMNS
from ghostswap_cli.userspace import swapon as us_swapon
from ghostswap_cli.userspace.swapoff import SwapoffStatus

MAN = Path(__file__).resolve().parents[2] / "man"
COMMANDS = ("swapon", "swapoff")


def man_text(name: str) -> str:
    """The page's roff source with ``\\-`` as ``-``: the checks below quote roff markup."""
    return (MAN / f"ghostswap-{name}.8").read_text().replace("\\-", "-")


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
