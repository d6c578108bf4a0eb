"""A state with pages in every place a page can be (zeromap, zswap, swap cache, disk, on a real
file and on a ghost), the bytes of every page, and ways to damage the state directory."""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: helpers
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: fuzz/, benchmarks/

from helpers import ghost_swapfile, machine, real_swapfile, swapon  # noqa: E402

from fuzz.targets import page_for  # noqa: E402
from ghostswap_cli.kernel.cluster import LOC_KIND  # noqa: E402
from ghostswap_cli.kernel.machine import open_kernel  # noqa: E402
from ghostswap_cli.kernel.mm import PTE_PRESENT  # noqa: E402
from ghostswap_cli.uapi import SWAPFILE_CLUSTER, SWP_OFFSET_MASK, SWP_TYPE_SHIFT  # noqa: E402

PS = 4096


@dataclasses.dataclass
class Built:
    state: Path
    real: Path
    ghost: Path
    pages: dict[int, bytes]  # vpn -> bytes swapped out
    where: dict[int, tuple[int, int, int]]  # vpn -> (type, offset, location kind)

    def vpns(self, type_: int | None = None, kind: int | None = None) -> list[int]:
        return sorted(v for v, (t, _o, k) in self.where.items()
                      if (type_ is None or t == type_) and (kind is None or k == kind))

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.state / "state.db", isolation_level=None)


def build(state: Path, folder: Path, n: int = 120) -> Built:
    """Real file (type 0) gets zero, zswap and disk pages; then a ghost (type 1) in front gets
    zero, zswap and swap-cache pages. Every kind of location, on both kinds of area."""
    machine(state)
    real = real_swapfile(folder / "real.swap", 4 << 20, label="real")
    ghost = ghost_swapfile(folder / "ghost.swap", 64 << 20, label="ghost")
    pages: dict[int, bytes] = {}
    swapon(state, real, prio=5)
    with open_kernel(state) as k:
        for vpn in range(0x1000, 0x1000 + n):
            pages[vpn] = page_for(vpn)
            k.mm.swap_out(vpn, pages[vpn])
    swapon(state, ghost, prio=10)
    with open_kernel(state) as k:
        for vpn in range(0x5000, 0x5000 + n):
            pages[vpn] = page_for(vpn)
            k.mm.swap_out(vpn, pages[vpn])
    return Built(state, real, ghost, pages, locations(state))


def locations(state: Path) -> dict[int, tuple[int, int, int]]:
    where = {}
    with open_kernel(state, write=False) as k:
        k.load_all()
        for key, (ptes, _c) in k.mm.table.items():
            for i, pte in enumerate(ptes):
                if pte and pte != PTE_PRESENT:
                    t, off = pte >> SWP_TYPE_SHIFT, pte & SWP_OFFSET_MASK
                    c = k.swap_info[t].slots.clusters[off // SWAPFILE_CLUSTER]
                    where[key * 512 + i] = (t, off, c.loc[off % SWAPFILE_CLUSTER] & LOC_KIND)
    return where


def swap_in_all(state: Path, vpns) -> dict[int, bytes | None]:
    """Fault the pages in (one transaction, committed) and return their bytes."""
    with open_kernel(state) as k:
        return {v: k.mm.swap_in(v) for v in vpns}


def pte_of(state: Path, vpn: int) -> int:
    with open_kernel(state, write=False) as k:
        return k.mm.lookup(vpn)[0]


@pytest.fixture
def built(state_dir: Path, tmp_path: Path) -> Built:
    return build(state_dir, tmp_path)
