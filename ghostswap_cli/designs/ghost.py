"""``ghost-rfc`` (was ``ghost``): the RFC as posted (ghost-rfc.md): a one-page swapfile whose
header declares the size.

Assumptions:

* Static metadata for every slot of the declared ghost size (``--ghost-size``), paid at swapon as
  for any swap area: the RFC reuses the swapfile code unchanged.
* Dynamic metadata per cluster in use, as mainline.
* No disk is held and nothing is ever written back (``zswap_writeback_entry`` refuses ghost slots
  with -EINVAL; the pool-full worker is not started when every area is a ghost).
* A page that does not fit stays resident: no free slot (the page just stays mapped), or zswap
  rejects it (pool full, with the kernel's accept-threshold hysteresis, or incompressible); the
  rejected page stays in the swap cache and keeps its ghost slot (``AOP_WRITEPAGE_ACTIVATE``).
* Swap-in: one lookup. swapoff walks every page table (``try_to_unuse``).

With ``ghost-rfc.real_behind=1`` the real swapfile(s) of ``--real-size`` sit behind the ghost at
lower priorities, as a user who keeps a real swapfile and swapons the ghost with a higher priority
has them. The RFC as posted then stalls: slots go to the ghost while it has any, the pool-full
worker now runs (``nr_real_swapfiles > 0``) but every ghost entry it tries refuses writeback
(-EINVAL, rotated to the LRU tail, 16 failures and the run ends), and a page zswap rejects stays
resident in the swap cache; nothing reaches the real file until the ghost is out of slots. Pages
that do land on a real slot behave as in mainline (writeback into their own slot).

Formulas (S, D, C = ``ghost-rfc.static_bytes``, ``.dynamic_bytes``, ``.cluster_slots``)::

    static  = S * (ghost slots + real slots behind it)   # declared size / PAGE_SIZE
    dynamic = D * C * (clusters holding an allocated slot)

Sources: the patch (Chris Li, 21 Nov 2025) for the behaviour; Chris Li, 29 Nov 2025 for 3 static
+ 8 dynamic bytes a slot; Nhat Pham, 21 Nov 2025 (NACK): "Statically sizing the compression tier
will be an operational nightmare".
"""

from __future__ import annotations

from ghostswap_cli.designs.base import (
    SAME_SLOT,
    WRITEBACK_FAILS,
    ClusterAllocator,
    Design,
    LabConfig,
    human_bytes,
    switch_param,
)
from ghostswap_cli.designs.mainline import DEV_SHIFT, RealDevices, slot_params

__all__ = ("Ghost",)

REAL_BEHIND = ("ghost-rfc.md section 6: a ghost at a higher priority than a real swapfile gets "
               "the slots; hunk 13: zswap_writeback_entry refuses a ghost slot with -EINVAL; "
               "hunk 14: the pool-full worker runs once a real area is available")

_REAL = 1 << DEV_SHIFT  # front tokens: ghost offsets below this, real slots (device+1) above


class Ghost(Design):
    name = "ghost-rfc"
    summary = "the RFC as posted: static ghost size, no disk, no writeback"
    PARAMS = (
        *slot_params("ghost-rfc"),
        switch_param("ghost-rfc.real_behind", 0, REAL_BEHIND,
                     "1: the real swapfile(s) sit behind the ghost at lower priority (the stall)"),
    )
    SWAPOFF_WALK = True

    def __init__(self, cfg: LabConfig) -> None:
        super().__init__(cfg)
        self.ghost = ClusterAllocator(cfg.ghost_slots, self.C)
        behind = self.p["ghost-rfc.real_behind"] == 1
        self.real = RealDevices(cfg.real_slots if behind else (), self.C)

    def alloc_front(self) -> tuple[int, bool] | None:
        off = self.ghost.alloc()
        if off is not None:
            return off, False
        token = self.real.alloc()
        return None if token is None else (token + _REAL, False)

    def free_front(self, front: int) -> None:
        if front < _REAL:
            self.ghost.free(front)
        else:
            self.real.free(front - _REAL)

    def writeback_dest_for(self, front: int) -> int | None:
        if front >= _REAL:
            return SAME_SLOT  # a page on the real file is written into its own slot
        # nr_real_swapfiles: real areas on the available list (a full one is not on it)
        if self.real.inuse < self.real.usable:
            return WRITEBACK_FAILS
        return None  # only ghosts available: the pool-full worker is not started

    def metadata(self) -> tuple[int, int]:
        g = self.ghost
        return (self.S * (g.nr_slots + self.real.slots),
                self.D * self.C * (g.clusters_in_use + self.real.clusters_in_use))

    def disk_slots(self) -> int:
        return self.real.inuse

    def can_swap(self) -> bool:
        return self.ghost.inuse < self.ghost.nr_slots - 1 or self.real.inuse < self.real.usable

    def disk_pinned(self) -> int:
        return self.real.inuse - self.n_disk

    def describe_devices(self) -> str:
        ghost = f"ghost {human_bytes(self.ghost.nr_slots * self.page_size)}"
        if not self.real.devs:
            return ghost
        return f"{ghost} before {self.real.describe(self.page_size)} (RFC as posted)"
