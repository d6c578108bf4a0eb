"""Each design added after the RFC thread, per slot, against the figure its source quotes, at
1M and at 1G slots.

At 1M slots the model is driven for real: a page swapped out into every slot (zero pages, or
incompressible ones where the figure is that of a page written to disk), then its metadata is
read. At 1G slots (4 TiB of swap) the same cost functions the models call are evaluated, since a
billion events would take an hour. Sizes are whole clusters, so the figures come out exact."""

from __future__ import annotations

import pytest

from ghostswap_cli.designs import DESIGNS, resolve_params
from ghostswap_cli.designs.base import LabConfig
from ghostswap_cli.designs.swap_table import swap_table_cost
from ghostswap_cli.designs.swap_table_dynamic import swap_table_dynamic_cost
from ghostswap_cli.designs.vswap24 import vswap24_cost

M, G = 1 << 20, 1 << 30
PS = 4096
P = resolve_params({})
CL = 512

# the figures as their sources quote them (see ghostswap-designs(1), MODELS)
SWAP_TABLE_STATIC = 0.09375  # Kairui Song, phase IV v3, 21 Apr 2026: "roughly 0.09375 bytes per slot"
SWAP_TABLE_PLAIN = 8  # phase IV RFC, 20 Feb 2026: "8 bytes per slot ... when using only plain swap"
GHOST_SLOT = 16  # ibid.: "16 bytes per slot memory usage, when using ghost / virtual zswap"
WITH_RMAP = 24  # ibid.: "24 bytes only if including reverse mapping is in use"
VSWAP_DESCRIPTOR = 24  # Nhat Pham, vswap v3, 8 Feb 2026: "from 48 bytes to 24 bytes"


def model(name: str, *, real: tuple[int, ...]):
    cfg = LabConfig(page_size=PS, ghost_slots=2, real_slots=real, pool_limit_pages=1 << 40,
                    params=P)
    return DESIGNS[name](cfg)


def fill(m, pages: int, *, incompressible: bool = False) -> None:
    out = m.out
    for vpn in range(pages):
        out(vpn, not incompressible, PS if incompressible else 0)


@pytest.mark.parametrize("slots", [M, G])
def test_swap_table(slots: int) -> None:
    static, dynamic = swap_table_cost(slots, slots // CL, P["swap-table.cluster_info_bytes"],
                                      P["swap-table.dynamic_bytes"], P["swap-table.cluster_slots"])
    assert static / slots == SWAP_TABLE_STATIC and dynamic / slots == SWAP_TABLE_PLAIN
    if slots == M:
        m = model("swap-table", real=(slots,))
        fill(m, slots - 1)  # every slot but the header's: every cluster in use
        assert m.metadata() == (static, dynamic)
        assert m.real.inuse == slots - 1 and m.kept_resident_no_slot == 0


@pytest.mark.parametrize("slots", [M, G])
def test_swap_tiers_costs_the_swap_table_on_each_tier(slots: int) -> None:
    one = swap_table_cost(slots, slots // CL, P["swap-tiers.cluster_info_bytes"],
                          P["swap-tiers.dynamic_bytes"], P["swap-tiers.cluster_slots"])
    assert one[0] / slots == SWAP_TABLE_STATIC and one[1] / slots == SWAP_TABLE_PLAIN
    if slots == M:
        half = slots // 2
        m = model("swap-tiers", real=(half, half))
        fill(m, 2 * (half - 1))  # the fast tier fills, then the slow one
        assert (m.fast.inuse, m.slow.inuse) == (half - 1, half - 1)
        static, dynamic = m.metadata()
        assert static / slots == SWAP_TABLE_STATIC and dynamic / slots == SWAP_TABLE_PLAIN


@pytest.mark.parametrize("slots", [M, G])
def test_swap_table_dynamic(slots: int) -> None:
    real_static = swap_table_cost(slots, 0, P["swap-table-dynamic.cluster_info_bytes"], 0, CL)[0]
    kw = {"ghost": P["swap-table-dynamic.dynamic_bytes"],
          "plain": P["swap-table-dynamic.plain_bytes"], "cluster_slots": CL}
    clusters = slots // CL
    # a ghost slot; a plain slot of the real device; a page written back: both, the reverse map
    ghost_only = swap_table_dynamic_cost(clusters, real_static, 0, **kw)
    plain_only = swap_table_dynamic_cost(0, real_static, clusters, **kw)
    written_back = swap_table_dynamic_cost(clusters, real_static, clusters, **kw)
    assert ghost_only[1] / slots == GHOST_SLOT
    assert plain_only[1] / slots == SWAP_TABLE_PLAIN
    assert written_back[1] / slots == WITH_RMAP
    assert real_static / slots == SWAP_TABLE_STATIC  # the ghost itself has no static cost
    if slots == M:
        # every slot but the ghost's header slot (its cluster, partly used, is taken first)
        m = model("swap-table-dynamic", real=(slots + CL,))
        fill(m, slots - 1)  # zero pages: the ghost's table holds them
        assert m.ghost.clusters_in_use == clusters and m.metadata()[1] == ghost_only[1]
        m = model("swap-table-dynamic", real=(slots + CL,))
        fill(m, slots - 1, incompressible=True)  # each written to a real slot behind its ghost slot
        assert m.real.inuse == m.n_redirected == slots - 1
        assert m.metadata()[1] == written_back[1]


@pytest.mark.parametrize("slots", [M, G])
def test_vswap_24(slots: int) -> None:
    kw = {"entry": P["vswap-24.entry_bytes"], "bits": P["vswap-24.static_bits"],
          "table": P["vswap-24.dynamic_bytes"], "cluster_slots": CL}
    static, dynamic = vswap24_cost(slots, slots, 0, **kw)
    assert dynamic / slots == VSWAP_DESCRIPTOR  # a descriptor per page with a virtual slot
    assert static / slots == 2 / 8  # the two bitmaps of the physical device
    if slots == M:
        m = model("vswap-24", real=(slots,))
        fill(m, slots)
        assert m.metadata() == (static, dynamic) and m.phys.inuse == 0
