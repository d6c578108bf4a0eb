"""The man pages of ``designs`` and ``advise``: every ``--param`` key documented, each model's
assumptions and the source of each constant stated. Every option, the sections and groff/mandoc
are checked for every page in tests/docs/test_man_pages.py."""

from __future__ import annotations

import re
from pathlib import Path

from ghostswap_cli.designs import ALL_PARAMS, DESIGNS

MAN = Path(__file__).resolve().parents[2] / "man"
PAGES = {"designs": MAN / "ghostswap-designs.1", "advise": MAN / "ghostswap-advise.1"}
DATE = re.compile(r"\b\d{1,2} (?:Nov|Dec) 2025\b")


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
        assert f"default {p.default}" in block or f" ({p.default}" in block or (
            key == "lab.ram" and "default 4 GiB" in block) or (
            "(3, 8, 512)" in block and p.default in (3, 8, 512)), key
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
    for quote in ("11 bytes (3 bytes static, 8\nbytes dynamic)", "48 bytes previously 64 bytes",
                  "something like 24 bytes", "4 byte per swap entry", "512 entry swpa [sic] table"):
        assert quote in page, quote
