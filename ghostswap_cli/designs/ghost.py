"""``ghost``: the RFC as built (ghost-rfc.md): a one-page swapfile whose header declares the size.

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

Formulas (S, D, C = ``ghost.static_bytes``, ``ghost.dynamic_bytes``, ``ghost.cluster_slots``)::

    static  = S * ghost slots                            # declared size / PAGE_SIZE
    dynamic = D * C * (clusters holding an allocated slot)

Sources: the patch (Chris Li, 21 Nov 2025) for the behaviour; Chris Li, 29 Nov 2025 for 3 static
+ 8 dynamic bytes a slot; Nhat Pham, 21 Nov 2025 (NACK): "Statically sizing the compression tier
will be an operational nightmare".
"""

from __future__ import annotations

from ghostswap_cli.designs.base import ClusterAllocator, Design, LabConfig, human_bytes
from ghostswap_cli.designs.mainline import slot_params

__all__ = ("Ghost",)


class Ghost(Design):
    name = "ghost"
    summary = "the RFC as built: static ghost size, no disk, no writeback"
    PARAMS = slot_params("ghost")
    SWAPOFF_WALK = True

    def __init__(self, cfg: LabConfig) -> None:
        super().__init__(cfg)
        self.ghost = ClusterAllocator(cfg.ghost_slots, self.C)

    def alloc_front(self) -> tuple[int, bool] | None:
        off = self.ghost.alloc()
        return None if off is None else (off, False)

    def free_front(self, front: int) -> None:
        self.ghost.free(front)

    def metadata(self) -> tuple[int, int]:
        return self.S * self.ghost.nr_slots, self.D * self.C * self.ghost.clusters_in_use

    def describe_devices(self) -> str:
        return f"ghost {human_bytes(self.ghost.nr_slots * self.page_size)}"
