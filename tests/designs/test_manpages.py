"""The man pages of ``designs`` and ``advise``: every ``--param`` key documented, each model's
assumptions and the source of each constant stated. Every option, the sections and groff/mandoc
are checked for every page in tests/docs/test_man_pages.py."""

from __future__ import annotations

import re
from pathlib import Path

from ghostswap_cli.designs import ALL_PARAMS, DESIGNS

MAN = Path(__file__).resolve().parents[2] / "man"
PAGES = {"designs": MAN / "ghostswap-designs.1", "advise": MAN / "ghostswap-advise.1"}
DATE = re.compile(r"\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) 202[56]\b")


def text(name: str) -> str:
    return PAGES[name].read_text().replace("\\-", "-")


def test_the_designs_page_has_a_models_section() -> None:
    assert ".SH MODELS\n" in PAGES["designs"].read_text()


def models_section() -> str:
    page = text("designs")
    return page[page.index(".SH MODELS\n") : page.index(".SH EXIT STATUS\n")]


def test_every_param_key_is_documented_with_its_source() -> None:
    models = models_section()
    blocks = models.split(".TP\n")
    for key, p in ALL_PARAMS.items():
        block = next((b for b in blocks if re.search(rf"(?<![\w.-]){re.escape(key)}(?![\w.-])", b.split("\n")[0])), None)
        assert block is not None, f"{key} has no entry in MODELS"
        assert "Source:" in block, key
        head = block.split("\n")[0]
        keys = re.findall(r"[\w-]+\.[\w.-]+", head.split(' " (')[0])
        listed = re.search(r'" \((\d+(?:, \d+)+)\)"', head)  # several keys: defaults in order
        assert f"default {p.default}" in block or f" ({p.default}" in block or (
            key == "lab.ram" and "default 4 GiB" in block) or (
            listed is not None and int(listed.group(1).split(", ")[keys.index(key)]) == p.default), key
        for date in DATE.findall(p.source):  # every dated claim the code cites, in the man page
            assert date in block, (key, date)


def test_every_model_has_its_assumptions_and_formulas() -> None:
    models = models_section()
    for name in DESIGNS:
        start = models.index(f".SS {name}\n")
        end = models.find(".SS ", start + 1)
        body = models[start:end]
        assert "static  =" in body and "dynamic =" in body, name
        assert DATE.search(body), name  # who said it, and when


def test_thread_figures_are_quoted() -> None:
    page = text("designs")
    page = " ".join(page.split())  # quotes may wrap
    for quote in ("11 bytes (3 bytes static, 8 bytes dynamic)", "48 bytes previously 64 bytes",
                  "something like 24 bytes", "4 byte per swap entry", "512 entry swpa [sic] table",
                  # after the RFC: swap table phase IV, its dynamic ghost, vswap v3, swap tiers v8
                  "0.09375 bytes per slot (48 bytes ci info per cluster",
                  "8 bytes per slot memory usage, when using only plain swap",
                  "16 bytes per slot memory usage, when using ghost / virtual zswap",
                  "24 bytes only if including reverse mapping is in use",
                  "from 48 bytes to 24 bytes", "'0' (disable) and 'max' (enable) values"):
        assert quote in page, quote


def test_old_design_names_are_documented_as_aliases() -> None:
    from ghostswap_cli.designs import DESIGN_ALIASES

    page = text("designs")
    for old, new in DESIGN_ALIASES.items():
        assert f".B {old}\nis\n.B" in page and new in page, old


def test_the_stall_is_explained() -> None:
    page = text("designs")
    section = page[page.index(".SH THE GHOST BEFORE A REAL SWAPFILE\n"):page.index(".SH EXIT STATUS\n")]
    for fact in ("zswap_writeback_entry", "-EINVAL", "reject_reclaim_fail", "ghost-rfc.real_behind=1",
                 "is used before", "nothing reaches"):
        assert fact in section, fact
