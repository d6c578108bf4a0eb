"""``ghost-grow`` (was ``ghost-dynamic``): a ghost swapfile that grows by whole clusters when full.

Chris Li's answer to static sizing (25 Nov 2025, acking Yosry Ahmed's summary): "both ghost
swapfile and physical swapfile can expand additional clusters beyond the original physical size
... For a ghost swapfile, there is no physical layer, only the front end. So the size can grow
dynamically. Just allocate more clusters. The current swapfile header file size is just an
initial size. My current patch does not implement that."

Assumptions:

* The ghost starts with ``ghost-grow.initial_clusters`` clusters (slot 0 is the header) and,
  when no slot is free, grows by ``ghost-grow.grow_clusters`` clusters (never beyond
  ``ghost-grow.max_clusters``; 0 means no limit). Nothing was said about shrinking: grown
  clusters stay, so the static cost is the high-water mark.
* Static metadata only for the clusters it has grown to; dynamic per cluster in use.
* Otherwise the ghost design: no disk, no writeback, rejected pages stay resident in the swap
  cache with their slot; one lookup per swap-in; swapoff walks page tables.

Formulas (S, D, C = ``ghost-grow.static_bytes``, ``.dynamic_bytes``, ``.cluster_slots``)::

    static  = S * C * (clusters grown to so far)
    dynamic = D * C * (clusters holding an allocated slot)
"""

from __future__ import annotations

from ghostswap_cli.designs.base import ClusterAllocator, Design, LabConfig, Param, human_bytes
from ghostswap_cli.designs.mainline import slot_params

__all__ = ("GhostDynamic",)

GROWTH = ("Chris Li, 25 Nov 2025: \"both ghost swapfile and physical swapfile can expand "
          "additional clusters ... The current swapfile header file size is just an initial size\"")


class GhostDynamic(Design):
    name = "ghost-grow"
    summary = "a ghost that grows by whole clusters when full (not implemented in the RFC)"
    PARAMS = (
        *slot_params("ghost-grow"),
        Param("ghost-grow.initial_clusters", 1, "clusters", GROWTH,
              "clusters the ghost starts with (the size its header declares)", minimum=1),
        Param("ghost-grow.grow_clusters", 1, "clusters", GROWTH + " (\"Just allocate more clusters\")",
              "clusters added each time the ghost is full", minimum=1),
        Param("ghost-grow.max_clusters", 0, "clusters", "an assumption of this lab: no limit was stated",
              "largest size in clusters the ghost may grow to; 0 means no limit"),
    )
    SWAPOFF_WALK = True

    def __init__(self, cfg: LabConfig) -> None:
        super().__init__(cfg)
        p = cfg.params
        self.initial = p["ghost-grow.initial_clusters"]
        self.grow_by = p["ghost-grow.grow_clusters"]
        self.max_clusters = p["ghost-grow.max_clusters"]
        self.ghost = ClusterAllocator(self.initial * self.C, self.C)
        self.grown = 0  # times the ghost grew

    def alloc_front(self) -> tuple[int, bool] | None:
        g = self.ghost
        off = g.alloc()
        while off is None:
            room = self.grow_by if not self.max_clusters else min(
                self.grow_by, self.max_clusters - g.nr_clusters)
            if room <= 0:
                return None
            g.grow(room)
            self.grown += 1
            off = g.alloc()
        return off, False

    def free_front(self, front: int) -> None:
        self.ghost.free(front)

    def can_swap(self) -> bool:
        g = self.ghost
        return not self.max_clusters or g.nr_clusters < self.max_clusters or g.inuse < g.nr_slots - 1

    def metadata(self) -> tuple[int, int]:
        return self.S * self.ghost.nr_slots, self.D * self.C * self.ghost.clusters_in_use

    def describe_devices(self) -> str:
        ps = self.page_size
        start = human_bytes(self.initial * self.C * ps)
        end = human_bytes(self.ghost.nr_slots * ps)
        return f"ghost {start}, grew to {end}" if self.grown else f"ghost {start}, no growth"
