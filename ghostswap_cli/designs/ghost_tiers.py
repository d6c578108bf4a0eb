"""``ghost-redirect`` (was ``ghost-tiers``): a ghost in front of a real swapfile, writeback by
redirection (Chris Li's swap.tiers plan of Nov 2025; not the swap tiers series of 2026).

Chris Li's writeback plan (24-25 Nov 2025), as Yosry Ahmed summarised it on 24 Nov 2025 and Chris
acked on 25 Nov 2025: swap.tiers orders "ghost" -> "real"; on writeback a new entry is allocated in
the real swapfile and the ghost's swap table points at it; page tables keep pointing at the ghost
slot; swap-in reads the ghost's swap table, finds the redirection, then reads the real one; "the
redirection in the 'ghost' swapfile will keep existing, wasting that slot, until all references to
it are dropped".

Assumptions:

* Pages go to the ghost (``--ghost-size``) first; when it is full, to the real device(s)
  (``--real-size``) directly, without zswap: in Chris Li's plan the memory tier is "memory only,
  there is no file backing and don't share swap entries with the real swapfile". An all-zero page
  still goes to the zeromap there (``swap_writeout`` checks for it before writing anything).
* Writeback when the pool is full: the oldest entries move to new real slots, each keeping a
  redirection entry of ``ghost-redirect.redirect_bytes`` in its ghost slot; the ghost slot stays held
  (a *slot wasted by redirection*) until the page is swapped in or freed. A page zswap rejects is
  written the same way (new real slot + redirection); with no real slot free it stays resident in
  the swap cache (the RFC's behaviour).
* Redirection costs only where used (Chris Li: "the redirection overhead is optional").
* Swap-in: 1 lookup, or 2 for a redirected page (ghost swap table, then the real one).
* swapoff still walks page tables (Yosry Ahmed, 24 Nov 2025; Chris Li, 25 Nov 2025: "That need
  rmap for swap entries", "an independent issue").

Formulas (S, D, C, R = ``ghost-redirect.static_bytes``, ``.dynamic_bytes``, ``.cluster_slots``,
``.redirect_bytes``)::

    static  = S * (ghost slots + sum(real slots))
    dynamic = D * C * (ghost and real clusters holding an allocated slot)
            + R * (pages redirected to the real device)
"""

from __future__ import annotations

from ghostswap_cli.designs.base import (
    DISK,
    SAME_SLOT,
    ClusterAllocator,
    Design,
    LabConfig,
    Param,
    human_bytes,
)
from ghostswap_cli.designs.mainline import DEV_SHIFT, RealDevices, slot_params

__all__ = ("GhostTiers",)

REDIRECT = ("Chris Li, 24 Nov 2025: \"map the front end swap entry offset to the back end block "
            "locations. At the memory price of 4 byte per swap entry\" (again 25 Nov 2025)")

_REAL = 1 << DEV_SHIFT  # front tokens: ghost offsets below this, real slots (device+1) above


class GhostTiers(Design):
    name = "ghost-redirect"
    summary = "ghost in front of a real swapfile, writeback by redirection"
    PARAMS = (
        *slot_params("ghost-redirect"),
        Param("ghost-redirect.redirect_bytes", 4, "bytes per redirected entry", REDIRECT,
              "memory for each ghost entry that points at a real slot"),
    )
    SWAPOFF_WALK = True

    def __init__(self, cfg: LabConfig) -> None:
        super().__init__(cfg)
        p = cfg.params
        self.R = p["ghost-redirect.redirect_bytes"]
        self.ghost = ClusterAllocator(cfg.ghost_slots, self.C)
        self.real = RealDevices(cfg.real_slots, self.C)

    def alloc_front(self) -> tuple[int, bool] | None:
        off = self.ghost.alloc()
        if off is not None:
            return off, False
        token = self.real.alloc()
        return None if token is None else (token + _REAL, True)

    def free_front(self, front: int) -> None:
        if front < _REAL:
            self.ghost.free(front)
        else:
            self.real.free(front - _REAL)

    def writeback_dest(self) -> int | None:
        return self.real.alloc()

    def free_back(self, back: int) -> None:
        self.real.free(back)

    def metadata(self) -> tuple[int, int]:
        g = self.ghost
        return (
            self.S * (g.nr_slots + self.real.slots),
            self.D * self.C * (g.clusters_in_use + self.real.clusters_in_use)
            + self.R * self.n_redirected,
        )

    def disk_slots(self) -> int:
        return self.real.inuse

    def can_swap(self) -> bool:
        return self.ghost.inuse < self.ghost.nr_slots - 1 or self.real.inuse < self.real.usable

    def disk_pinned(self) -> int:
        return self.real.inuse - self.n_disk  # zero pages that went straight to the real tier

    def wasted_slots(self) -> int:
        return self.n_redirected

    def lookups(self, rec: list[int]) -> int:
        return 2 if rec[0] == DISK and rec[2] != SAME_SLOT else 1

    def describe_devices(self) -> str:
        return (f"ghost {human_bytes(self.ghost.nr_slots * self.page_size)} -> "
                + self.real.describe(self.page_size))
