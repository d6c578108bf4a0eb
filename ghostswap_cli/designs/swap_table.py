"""``swap-table``: the swap table as merged (swap-table phase IV, in mm by May 2026).

Kairui Song's phase IV series (v2 16 Apr 2026, v3 21 Apr 2026, v5 17 May 2026, acked by Chris
Li) drops the static swap_map and swap_cgroup arrays: the swap count, the cgroup and, on 64-bit,
the zero-page bit (``mm, swap: merge zeromap into swap table``) live in the per-cluster swap
table, allocated when a cluster is first used and freed when it empties. What stays static is the
cluster array: "now roughly 0.09375 bytes per slot (48 bytes ci info per cluster, which is 512
slots)" (v3 cover letter, 21 Apr 2026).

Assumptions (otherwise as ``mainline-6.18``):

* zswap in front of the real swapfile(s): every swapped-out page holds a slot of the
  highest-priority real device with room; writeback into the page's own slot.
* Static metadata: ``cluster_info_bytes`` per cluster of every device, from swapon.
* Dynamic metadata: one 8-byte table entry per slot of each cluster in use (the table is one page
  per 512-slot cluster, Documentation/mm/swap-table.rst); the zeromap is a bit inside it, so it
  costs nothing more (the 6.18 model leaves its bitmap out too, as Chris Li's 3 bytes did).

Formulas (I = ``swap-table.cluster_info_bytes``, D = ``.dynamic_bytes``, C = ``.cluster_slots``)::

    static  = I * (clusters of every device)              # from swapon, constant
    dynamic = D * C * (clusters holding an allocated slot)

Code and figure: the indexed mm tree (phase III) has a 40-byte ``struct swap_cluster_info`` on
x86-64 without lockdep (spinlock 4, count/flags/order 4, table 8, extend_table 8, list 16); the
quoted 48 bytes (phase IV, which the index does not hold) is used.
"""

from __future__ import annotations

from ghostswap_cli.designs.base import Param
from ghostswap_cli.designs.mainline import Mainline, RealDevices, cluster_slots_param

__all__ = ("SwapTable", "swap_table_cost", "table_params", "devices_cost")

CLUSTER_INFO = ("Kairui Song, swap table phase IV v3 cover letter, 21 Apr 2026: \"now roughly "
                "0.09375 bytes per slot (48 bytes ci info per cluster, which is 512 slots)\"")
TABLE = ("Kairui Song, swap table phase IV RFC cover letter, 20 Feb 2026: \"8 bytes per slot "
         "memory usage, when using only plain swap\"; Documentation/mm/swap-table.rst: one page "
         "of 512 entries per cluster")


def table_params(prefix: str) -> tuple[Param, ...]:
    """The constants of a device whose metadata is the merged swap table."""
    return (
        Param(f"{prefix}.cluster_info_bytes", 48, "bytes per cluster", CLUSTER_INFO,
              "static metadata per cluster of the device (struct swap_cluster_info)"),
        Param(f"{prefix}.dynamic_bytes", 8, "bytes per slot", TABLE,
              "swap-table entry per slot of each cluster in use (count, cgroup, zero bit inside)"),
        cluster_slots_param(prefix, "the unit the table is allocated in"),
    )


def swap_table_cost(slots: int, clusters_in_use: int, cluster_info: int, entry: int,
                    cluster_slots: int) -> tuple[int, int]:
    """(static, dynamic) bytes of one swap-table device of ``slots`` slots."""
    return cluster_info * -(-slots // cluster_slots), entry * cluster_slots * clusters_in_use


def devices_cost(devices: RealDevices, cluster_info: int, entry: int,
                 cluster_slots: int) -> tuple[int, int]:
    """:func:`swap_table_cost` summed over real devices (their clusters in use kept live)."""
    static = sum(swap_table_cost(d.nr_slots, 0, cluster_info, entry, cluster_slots)[0]
                 for d in devices.devs)
    return static, entry * cluster_slots * devices.clusters_in_use


class SwapTable(Mainline):
    name = "swap-table"
    summary = "zswap in front of real swapfiles with the merged swap table: ~0.09 B/slot static"
    PARAMS = table_params("swap-table")
    SWAPOFF_WALK = True

    def metadata(self) -> tuple[int, int]:
        return devices_cost(self.real, self.p["swap-table.cluster_info_bytes"], self.D, self.C)
