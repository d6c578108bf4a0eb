"""Pages and traces for the replay tests: real bytes from files on this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostswap_cli.codec.trace import open_trace_writer
from ghostswap_cli.replay import realpages

PAGE = 4096


def machine_pages(n: int) -> list[bytes]:
    pages = realpages.machine_pages(n)
    if len(pages) < n:
        pytest.skip(f"only {len(pages)} distinct pages of real files found, need {n}")
    return pages


@pytest.fixture(scope="session")
def real_pages() -> list[bytes]:
    return machine_pages(1200)


def mixed_pages(real: list[bytes], n: int, seed: int = 1) -> list[bytes]:
    """Real file pages mixed with zero and random (incompressible) pages."""
    return realpages.mixed(real, n, seed)


def write_trace(path: Path, pages: list[bytes], *, ins: bool = True, fmt: str = "binary",
                base: int = 0x1000) -> Path:
    """out every page, then in every page (if ``ins``)."""
    with open_trace_writer(path, format=fmt, page_size=PAGE) as w:
        for i, p in enumerate(pages):
            w.out(base + i, p)
        if ins:
            for i in range(len(pages)):
                w.in_(base + i)
    return path
