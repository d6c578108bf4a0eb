"""``swap-table-dynamic``: swap-table phase IV's dynamic ghost swapfile (a proof of concept).

Kairui Song, "[PATCH RFC 00/15] mm, swap: swap table phase IV with dynamic ghost swapfile"
(20 Feb 2026; patches 13-15 were the ghost, "yet a minimal proof of concept", and were dropped
from v2 on): a ghost (virtual) swap device whose size "is now just a number", so "we can already
easily have a huge swap device with no overhead"; its metadata is the per-cluster swap table,
allocated only for clusters in use. The cover letter's figures: "8 bytes per slot memory usage,
when using only plain swap", "16 bytes per slot memory usage, when using ghost / virtual zswap",
"24 bytes only if including reverse mapping is in use". Replying to Johannes Weiner (23 Feb
2026): for a page written to disk through zswap there is "only one entry in the ghost swapfile";
"The one in the physical swap is a reverse mapping entry", so "swapoff / migration of the
physical slot can be done in O(1) time".

Assumptions:

* Every page swaps out to a slot of the ghost, which never runs out (no ``--ghost-size``) and has
  no static cost; each ghost cluster in use costs ``dynamic_bytes`` (16) a slot. Its slots come
  from partly used clusters before free ones, as the allocator does for a device that does not
  discard since "mm, swap: prefer nonfull over free clusters" (Kairui Song, 4 Aug 2025): with
  free clusters first, a device that never fills would spread over ever more clusters.
* Writeback (``swap-table-dynamic.writeback=1``, the design the cover letter describes; the PoC
  itself did not write back: "Writeback ... easily supportable ... We just need a
  folio_realloc_swap"): when the pool is full the oldest entries move to a new slot of the real
  device(s); the ghost slot stays the page's identity (page tables do not change) and points at it;
  the physical slot holds the reverse map. A page zswap rejects is written the same way. With 0,
  as the PoC: no writeback, a rejected page stays resident in the swap cache.
* The real device is a plain swap-table device: ``cluster_info_bytes`` per cluster static,
  ``plain_bytes`` (8) a slot of each cluster in use. A written-back page so costs 16 + 8 = 24, the
  quoted figure with the reverse map.
* Swap-in: 1 lookup, 2 for a written-back page (the ghost's table, then the physical one).
  swapoff of the real device follows the reverse map: no page-table walk.

Formulas (G = ``.dynamic_bytes``, P = ``.plain_bytes``, I = ``.cluster_info_bytes``, C =
``.cluster_slots``)::

    static  = I * (clusters of the real devices)
    dynamic = G * C * (ghost clusters holding an allocated slot)
            + P * C * (real clusters holding an allocated slot)
"""

from __future__ import annotations

from ghostswap_cli.designs.base import (
    DISK,
    ClusterAllocator,
    Design,
    LabConfig,
    Param,
    switch_param,
)
from ghostswap_cli.designs.mainline import RealDevices, cluster_slots_param
from ghostswap_cli.designs.swap_table import CLUSTER_INFO, devices_cost

__all__ = ("SwapTableDynamic", "GHOST_SLOTS", "swap_table_dynamic_cost")

COVER = "Kairui Song, swap table phase IV RFC with dynamic ghost swapfile, 20 Feb 2026"
GHOST = f"{COVER}: \"16 bytes per slot memory usage, when using ghost / virtual zswap\""
PLAIN = (f"{COVER}: \"8 bytes per slot memory usage, when using only plain swap\"; with the "
         "ghost's 16, \"24 bytes only if including reverse mapping is in use\"")
WRITEBACK = (f"{COVER}: \"Writeback, migration and compaction are easily supportable ... We just "
             "need a folio_realloc_swap\" (not in the PoC)")

#: "a huge swap device with no overhead": slots the ghost offers (never the limit in practice)
GHOST_SLOTS = 1 << 40


def swap_table_dynamic_cost(ghost_clusters_in_use: int, real_static: int,
                            real_clusters_in_use: int, *, ghost: int, plain: int,
                            cluster_slots: int) -> tuple[int, int]:
    """(static, dynamic) bytes: the real devices' static part (``real_static``, from
    :func:`~ghostswap_cli.designs.swap_table.swap_table_cost`), a ghost table entry a slot of
    each ghost cluster in use, a plain one a slot of each real cluster in use."""
    return real_static, (ghost * ghost_clusters_in_use + plain * real_clusters_in_use) * cluster_slots


class SwapTableDynamic(Design):
    name = "swap-table-dynamic"
    summary = "swap table phase IV PoC: a dynamic ghost, 16 B/slot, reverse map on writeback"
    PARAMS = (
        Param("swap-table-dynamic.dynamic_bytes", 16, "bytes per slot", GHOST,
              "swap-table entry per slot of each ghost cluster in use"),
        Param("swap-table-dynamic.plain_bytes", 8, "bytes per slot", PLAIN,
              "swap-table entry per slot of each real cluster in use (holds the reverse map)"),
        Param("swap-table-dynamic.cluster_info_bytes", 48, "bytes per cluster", CLUSTER_INFO,
              "static metadata per cluster of a real device (the ghost has none)"),
        cluster_slots_param("swap-table-dynamic", "the unit the tables are allocated in"),
        switch_param("swap-table-dynamic.writeback", 1, WRITEBACK,
                     "1: write back to the real device through the reverse map; 0: as the PoC, none"),
    )
    SWAPOFF_WALK = False

    def __init__(self, cfg: LabConfig) -> None:
        super().__init__(cfg)
        p = self.p
        self.P = p["swap-table-dynamic.plain_bytes"]
        self.I = p["swap-table-dynamic.cluster_info_bytes"]
        self.writeback = p["swap-table-dynamic.writeback"] == 1
        # a ghost never discards: the allocator prefers a partly used cluster to a free one
        self.ghost = ClusterAllocator(GHOST_SLOTS, self.C, prefer_nonfull=True)
        self.real = RealDevices(cfg.real_slots, self.C)

    def alloc_front(self) -> tuple[int, bool] | None:
        off = self.ghost.alloc()
        return None if off is None else (off, False)

    def free_front(self, front: int) -> None:
        self.ghost.free(front)

    def writeback_dest(self) -> int | None:
        return self.real.alloc() if self.writeback else None

    def free_back(self, back: int) -> None:
        self.real.free(back)

    def metadata(self) -> tuple[int, int]:
        real_static = devices_cost(self.real, self.I, self.P, self.C)[0]
        return swap_table_dynamic_cost(self.ghost.clusters_in_use, real_static,
                                       self.real.clusters_in_use, ghost=self.D, plain=self.P,
                                       cluster_slots=self.C)

    def disk_slots(self) -> int:
        return self.real.inuse

    def swapoff_entries(self) -> int:
        return self.real.inuse  # the reverse map finds each ghost entry: no page-table walk

    def lookups(self, rec: list[int]) -> int:
        return 2 if rec[0] == DISK else 1

    def describe_devices(self) -> str:
        return "dynamic ghost + " + self.real.describe(self.page_size)
