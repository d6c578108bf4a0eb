"""What the mkswap page says beyond the checks every page gets in tests/docs/test_man_pages.py
(every option documented, the util-linux sections, groff and mandoc clean)."""

from __future__ import annotations

from docs.mantools import MAN, man_text


def test_mkswap_page_names_the_chmod_fix():
    assert "6d87ff515" in man_text(MAN / "ghostswap-mkswap.8")
