"""``vswap-24``: virtual swap with the 24-byte descriptor (Nhat Pham, v3 8 Feb 2026 through v6).

The "Virtual Swap Space" series v3 (8 Feb 2026) changelog: "Reducing the size of the swap
descriptor from 48 bytes to 24 bytes"; "Remove swap cache and zswap tree and use the swap
descriptor for this"; "Remove zeromap, and replace the swap_map bytemap with 2 bitmaps (one for
allocated slots, and one for bad slots)"; "Re-use swap table for the reverse mapping". v6 (5 May
2026) keeps the descriptor and works on CPU cost. Johannes Weiner (9 Feb 2026): the 24 bytes are
"not the net overhead": the descriptor replaces the swap_cgroup arrays, the swap tables, the
zeromap, most of the swap_map and the zswap tree. Chris Li (10 Feb 2026) counted them as "24
dynamic" against "3 static +8 dynamic" today.

Assumptions: as ``vswap-48`` (virtual slots cost only their descriptor; physical slots only for
pages written back or rejected by zswap; writeback changes the descriptor, not the page tables;
swapoff needs no page-table walk; every swap-in looks the descriptor up first), with:

* a descriptor of ``entry_bytes`` (24) per page with a virtual slot;
* a physical device whose static metadata is the two bitmaps, ``static_bits`` (2) a slot, and
  whose dynamic metadata is the swap table reused as the reverse map, ``dynamic_bytes`` (8) a slot
  of each physical cluster in use.

Formulas (E = ``vswap-24.entry_bytes``, B = ``.static_bits``, D = ``.dynamic_bytes``, C =
``.cluster_slots``)::

    static  = ceil(B * physical slots / 8)
    dynamic = E * (pages with a virtual slot)
            + D * C * (physical clusters holding an allocated slot)
"""

from __future__ import annotations

from ghostswap_cli.designs.base import Param
from ghostswap_cli.designs.mainline import cluster_slots_param
from ghostswap_cli.designs.vswap import Vswap, indirect_swapin_param

__all__ = ("Vswap24", "vswap24_cost")

V3 = "Nhat Pham, Virtual Swap Space v3 changelog, 8 Feb 2026"
ENTRY = f"{V3}: \"Reducing the size of the swap descriptor from 48 bytes to 24 bytes\""
BITS = f"{V3}: \"replace the swap_map bytemap with 2 bitmaps (one for allocated slots, and one for bad slots)\""
RMAP = f"{V3}: \"Re-use swap table for the reverse mapping\" (one 8-byte entry a slot)"


def vswap24_cost(virtual_pages: int, physical_slots: int, physical_clusters_in_use: int, *,
                 entry: int, bits: int, table: int, cluster_slots: int) -> tuple[int, int]:
    """(static, dynamic) bytes of vswap-24 holding ``virtual_pages`` pages."""
    return (-(-bits * physical_slots // 8),
            entry * virtual_pages + table * cluster_slots * physical_clusters_in_use)


class Vswap24(Vswap):
    name = "vswap-24"
    summary = "virtual swap, 24-byte descriptor; physical slots only on writeback"
    PARAMS = (
        Param("vswap-24.entry_bytes", 24, "bytes per swapped page", ENTRY,
              "descriptor allocated for each page with a virtual slot"),
        Param("vswap-24.static_bits", 2, "bits per slot", BITS,
              "static metadata per physical slot (allocated and bad bitmaps)"),
        Param("vswap-24.dynamic_bytes", 8, "bytes per slot", RMAP,
              "reverse-map entry per slot of each physical cluster in use"),
        cluster_slots_param("vswap-24", "of the physical device"),
        indirect_swapin_param("vswap-24"),
    )

    def metadata(self) -> tuple[int, int]:
        return vswap24_cost(len(self.pages), self.phys.slots, self.phys.clusters_in_use,
                            entry=self.E, bits=self.p["vswap-24.static_bits"], table=self.D,
                            cluster_slots=self.C)
