"""Real page contents from files on this machine, for benchmarks and tests.

Python's own library (text and bytecode), shared libraries, programs and documentation give a
mix that compresses roughly like the anonymous memory of real processes; ``mixed`` adds the zero
pages and incompressible pages that real swap traffic also has.
"""

from __future__ import annotations

import glob
import os
import random

__all__ = ("machine_pages", "mixed")


def machine_pages(n: int, page_size: int = 4096) -> list[bytes]:
    """Up to ``n`` distinct non-zero pages cut from real files, in a deterministic order."""
    stdlib = os.path.dirname(os.__file__)
    patterns = [stdlib + "/*.py", stdlib + "/*/*.py", stdlib + "/**/__pycache__/*.pyc",
                "/usr/lib/x86_64-linux-gnu/*.so*", "/usr/lib/*/*.so*", "/usr/bin/*",
                "/usr/share/doc/*/*", stdlib + "/**/*.py"]
    pages: list[bytes] = []
    seen: set[bytes] = set()
    for pattern in patterns:
        for path in sorted(glob.glob(pattern, recursive=True)):
            if len(pages) >= n:
                return pages
            try:
                if not os.path.isfile(path) or os.path.islink(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read(256 * page_size)
            except OSError:
                continue
            for off in range(0, len(data) - page_size + 1, page_size):
                p = data[off : off + page_size]
                if any(p) and p not in seen:
                    seen.add(p)
                    pages.append(p)
    return pages


def mixed(real: list[bytes], n: int, seed: int = 1, page_size: int = 4096) -> list[bytes]:
    """``n`` pages: 10% zero, 10% random (incompressible), the rest taken from ``real``."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        r = rnd.random()
        if r < 0.1:
            out.append(bytes(page_size))
        elif r < 0.2:
            out.append(rnd.randbytes(page_size))
        else:
            out.append(real[i % len(real)])
    return out
