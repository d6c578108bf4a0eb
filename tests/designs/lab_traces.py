"""Traces for the design-lab tests, written by hand."""

from __future__ import annotations

from pathlib import Path

from ghostswap_cli.codec.trace import TraceWriter, random_page
from ghostswap_cli.kernel.compressors import get_compressor
from ghostswap_cli.kernel.zsmalloc import ZsPoolModel

PS = 4096


def huge_page(seed: int) -> bytes:
    """A page lz4 compresses to a length zsmalloc stores one per pool page (a "huge" class):
    3800 random bytes, then zeros. Checked, so the hand calculations can rely on it."""
    page = random_page(seed, PS)[:3800] + bytes(PS - 3800)
    clen = len(get_compressor("lz4").compress(page))
    assert ZsPoolModel(PS).huge_class_size <= clen < PS, clen
    return page


def write(path: Path, events: list[tuple[str, int, object]]) -> Path:
    with TraceWriter(path) as w:
        for op, vpn, content in events:
            if op == "out":
                w.out(vpn, content)
            elif op == "in":
                w.in_(vpn)
            else:
                w.free(vpn)
    return path
