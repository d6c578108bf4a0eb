"""Pages and traces for the replay tests: real bytes from files on this machine."""

from __future__ import annotations

import glob
import os
import random
import sys
from pathlib import Path

import pytest

from ghostswap_cli.codec.trace import open_trace_writer

PAGE = 4096


def machine_pages(n: int) -> list[bytes]:
    """``n`` distinct non-zero pages cut from real files (Python's own library and binaries)."""
    roots = [os.path.dirname(os.__file__), sys.prefix + "/lib", "/usr/lib", "/usr/share/doc"]
    pages: list[bytes] = []
    seen: set[bytes] = set()
    for root in roots:
        for path in sorted(glob.glob(root + "/**/*", recursive=True)):
            if len(pages) >= n:
                return pages
            try:
                if not os.path.isfile(path) or os.path.getsize(path) < PAGE:
                    continue
                with open(path, "rb") as f:
                    data = f.read(64 * PAGE)
            except OSError:
                continue
            for off in range(0, len(data) - PAGE + 1, PAGE):
                page = data[off : off + PAGE]
                if any(page) and page not in seen:
                    seen.add(page)
                    pages.append(page)
    if len(pages) < n:
        pytest.skip(f"only {len(pages)} distinct pages of real files found, need {n}")
    return pages


@pytest.fixture(scope="session")
def real_pages() -> list[bytes]:
    return machine_pages(1200)


def mixed_pages(real: list[bytes], n: int, seed: int = 1) -> list[bytes]:
    """Real file pages mixed with zero and random (incompressible) pages."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        r = rnd.random()
        if r < 0.1:
            out.append(bytes(PAGE))
        elif r < 0.2:
            out.append(rnd.randbytes(PAGE))
        else:
            out.append(real[i % len(real)])
    return out


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
