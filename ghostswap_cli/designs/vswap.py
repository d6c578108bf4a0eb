"""``vswap-48`` (was ``vswap``): Nhat Pham's virtual swap (VS) as the RFC thread knew it: page tables hold virtual slots, a descriptor each.

Assumptions:

* Every swapped-out page (zeromap, zswap, disk, or held by the swap cache) has a dynamically
  allocated descriptor of ``vswap-48.entry_bytes``; the virtual space has no static per-slot cost and
  no size limit ("only allocate (z)swap metadata on-demand", Nhat Pham, 21 Nov 2025).
* Physical slots on the real device(s) (``--real-size``) only for pages written back (or rejected
  by zswap and written directly); their static and dynamic costs as in mainline.
* Writeback when the pool is full, oldest entries first, to a new physical slot: the descriptor
  changes, the page tables do not. No slot is wasted: the virtual slot is the descriptor.
* Swap-in goes through the virtual layer: an xarray lookup of the descriptor, then the backend
  (Chris Li, 24 Nov 2025: the "extra xarray lookup in VS"); counted as 2 lookups. Johannes Weiner
  (24 Nov 2025) answered that xarray lookups already sit in the page-cache fast path: set
  ``vswap-48.indirect_swapin=0`` to count them as direct.
* swapoff of the physical device moves only the pages on it (into memory or another backend)
  without a page-table walk (Rik van Riel, 26 Nov 2025: "With indirection, swapoff can just move
  pages from the being-swapoffed device into the swap cache ... without ever needing to find the
  page tables").

Formulas (E = ``vswap-48.entry_bytes``; S, D, C = ``vswap-48.static_bytes``, ``.dynamic_bytes``,
``.cluster_slots`` of the physical device)::

    static  = S * sum(physical slots)
    dynamic = E * (pages with a virtual slot)
            + D * C * (physical clusters holding an allocated slot)

Sources for E: Nhat Pham's earlier email (lore.kernel.org CAKEwX=Mea5V6...) as quoted by Chris Li
on 29 Nov 2025: "the per swap slot memory overhead is 48 bytes previously 64 bytes"; Chris Li had
guessed "something like 24 bytes" on 25 Nov 2025 ("I am pretty sure I am wrong about the exact
value"); Nhat Pham, 28 Nov 2025: the RFC's fields were unoptimised, "the only non-negotiable
per-swap-entry overhead will be a field to indicate the backend location ... + 2 bits".
"""

from __future__ import annotations

from ghostswap_cli.designs.base import Design, LabConfig, Param, switch_param
from ghostswap_cli.designs.mainline import RealDevices, slot_params

__all__ = ("Vswap", "LOOKUP", "indirect_swapin_param")

ENTRY = ("Nhat Pham (earlier email) quoted by Chris Li, 29 Nov 2025: \"48 bytes previously 64 "
         "bytes\"; Chris Li, 25 Nov 2025, guessed \"something like 24 bytes\"")
LOOKUP = ("Chris Li, 24 Nov 2025: \"the extra xarray lookup in VS\"; Johannes Weiner, 24 Nov 2025: "
          "\"we use xarray lookups in the page cache\" fast path")


def indirect_swapin_param(prefix: str) -> Param:
    return switch_param(f"{prefix}.indirect_swapin", 1, LOOKUP,
                        "1: every swap-in looks the descriptor up first (2 lookups); 0: count it as direct")


class Vswap(Design):
    name = "vswap-48"
    summary = "virtual swap: a descriptor per swapped page, physical slots only on writeback"
    PARAMS = (
        Param("vswap-48.entry_bytes", 48, "bytes per swapped page", ENTRY,
              "descriptor allocated for each page with a virtual slot"),
        *slot_params("vswap-48"),
        indirect_swapin_param("vswap-48"),
    )
    SWAPOFF_WALK = False

    def __init__(self, cfg: LabConfig) -> None:
        super().__init__(cfg)
        p = cfg.params
        self.E = p[f"{self.name}.entry_bytes"]
        self.indirect = p[f"{self.name}.indirect_swapin"] == 1
        self.phys = RealDevices(cfg.real_slots, self.C)

    def alloc_front(self) -> tuple[int, bool] | None:
        return 0, False  # a virtual slot is only its descriptor: never full

    def free_front(self, front: int) -> None:
        pass

    def writeback_dest(self) -> int | None:
        return self.phys.alloc()

    def free_back(self, back: int) -> None:
        self.phys.free(back)

    def metadata(self) -> tuple[int, int]:
        return (self.S * self.phys.slots,
                self.E * len(self.pages) + self.D * self.C * self.phys.clusters_in_use)

    def disk_slots(self) -> int:
        return self.phys.inuse

    def swapoff_entries(self) -> int:
        return self.phys.inuse  # only pages on the physical device move; no page table changes

    def lookups(self, rec: list[int]) -> int:
        return 2 if self.indirect else 1

    def describe_devices(self) -> str:
        return "virtual + " + self.phys.describe(self.page_size)
