"""Helpers for the reliability tests (issue #13): a machine with pages swapped out to a real
file with zswap off (so they are on disk) or on (so they are in the pool)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: helpers

from helpers import set_param  # noqa: E402

from ghostswap_cli.kernel.machine import open_kernel  # noqa: E402

PS = 4096


def page(i: int) -> bytes:
    """A page that compresses (zswap keeps it) and differs from every other."""
    return (i.to_bytes(4, "little") * 16 + bytes(64)) * (PS // 128)


def swap_out(state: Path, vpns, zswap: bool = True) -> dict[int, bytes]:
    set_param(state, "/sys/module/zswap/parameters/enabled", "Y" if zswap else "N")
    pages = {v: page(v) for v in vpns}
    with open_kernel(state) as k:
        mm = k.mm
        for v, data in pages.items():
            mm.swap_out(v, data)
    return pages


