"""``mainline-6.18`` (was ``mainline``): zswap in front of real swapfiles, as Linux 6.12-6.18
ships it (before swap-table phase IV removed the static swap_map and swap_cgroup arrays).

Assumptions (the model's policy):

* zswap entries hold slots of a real swapfile: every swapped-out page, in zswap, in the zeromap
  or on disk, occupies a slot of the highest-priority real device with room (``--real-size``,
  repeatable: the first device has the highest priority, as default priorities decrement).
* Static metadata is paid at swapon for every slot of every active device: ``swap_map`` (1 byte)
  and the swap cgroup id (2 bytes).
* Dynamic metadata is the swap table, one 8-byte entry per slot of each cluster that holds an
  allocated slot (allocated when the cluster is first used, freed when it empties).
* Each page that lives in zswap (or the zeromap) pins a disk slot: ``disk_pinned``.
* Writeback when the pool is full: a store that finds the pool at its limit is rejected (the page
  is written to its own slot, ``pswpout``) and the shrink worker writes the oldest entries back
  into their own slots until the pool is at or below the accept threshold. An incompressible page
  is written to its slot directly.
* Swap-in: one lookup (the slot's swap-table entry). swapoff walks every page table.

Formulas (S = ``mainline-6.18.static_bytes``, D = ``.dynamic_bytes``, C = ``.cluster_slots``)::

    static  = S * sum(slots of each real device)            # from swapon, constant
    dynamic = D * C * (clusters holding an allocated slot)  # changes with use

Sources: Chris Li, 29 Nov 2025, in the RFC thread: "The starting point before your VS is 11 bytes
(3 bytes static, 8 bytes dynamic)"; the split swap_map 1 byte + swap_cgroup 2 bytes and the
512-slot clusters (SWAPFILE_CLUSTER = HPAGE_PMD_NR on x86-64) from swapon-kernel.md sections 7-8;
Chris Li, replying to Rik van Riel's message of 24 Nov 2025: the swap cache "is using swap tables.
It is a 512 entry swpa [sic] table array lookup".
"""

from __future__ import annotations

from ghostswap_cli.designs.base import (
    SAME_SLOT,
    ClusterAllocator,
    Design,
    LabConfig,
    Param,
    human_bytes,
)

__all__ = ("Mainline", "STATIC", "DYNAMIC", "CLUSTER", "DEV_SHIFT", "slot_params",
           "cluster_slots_param", "RealDevices")

DEV_SHIFT = 48  # slot token = device index << 48 | offset
_MASK = (1 << DEV_SHIFT) - 1

STATIC = "Chris Li, 29 Nov 2025: \"11 bytes (3 bytes static, 8 bytes dynamic)\"; swap_map 1 B + swap_cgroup 2 B (swapon-kernel.md 7)"
DYNAMIC = "Chris Li, 29 Nov 2025: \"11 bytes (3 bytes static, 8 bytes dynamic)\"; one swap-table entry per slot of a used cluster"
CLUSTER = "SWAPFILE_CLUSTER = HPAGE_PMD_NR on x86-64 (swapon-kernel.md 8); Chris Li, reply to Rik van Riel of 24 Nov 2025: \"512 entry swpa [sic] table array lookup\""


def cluster_slots_param(prefix: str, what: str = "the unit dynamic metadata is allocated in") -> Param:
    return Param(f"{prefix}.cluster_slots", 512, "slots", CLUSTER, f"slots per cluster ({what})",
                 minimum=1)


def slot_params(prefix: str) -> tuple[Param, ...]:
    """The per-slot constants every design with swap slots has, under its own prefix."""
    return (
        Param(f"{prefix}.static_bytes", 3, "bytes per slot", STATIC,
              "metadata allocated at swapon for every slot of the device"),
        Param(f"{prefix}.dynamic_bytes", 8, "bytes per slot", DYNAMIC,
              "swap-table metadata per slot of each cluster in use"),
        cluster_slots_param(prefix),
    )


class RealDevices:
    """Real swapfiles in priority order, each with its cluster allocator; the totals are kept
    up to date on every allocation so a sample per event stays cheap."""

    def __init__(self, sizes: tuple[int, ...], cluster_slots: int) -> None:
        self.devs = [ClusterAllocator(n, cluster_slots) for n in sizes]
        self.slots = sum(sizes)
        self.usable = sum(max(n - 1, 0) for n in sizes)  # slot 0 of each holds the header
        self.inuse = 0
        self.clusters_in_use = 0

    def alloc(self) -> int | None:
        for i, dev in enumerate(self.devs):
            before = dev.clusters_in_use
            off = dev.alloc()
            if off is not None:
                self.inuse += 1
                self.clusters_in_use += dev.clusters_in_use - before
                return i << DEV_SHIFT | off
        return None

    def free(self, token: int) -> None:
        dev = self.devs[token >> DEV_SHIFT]
        before = dev.clusters_in_use
        dev.free(token & _MASK)
        self.inuse -= 1
        self.clusters_in_use += dev.clusters_in_use - before

    def describe(self, page_size: int) -> str:
        return " + ".join(f"real {human_bytes(d.nr_slots * page_size)}" for d in self.devs) or "none"


class Mainline(Design):
    name = "mainline-6.18"
    summary = "zswap in front of real swapfiles (6.12-6.18); every zswap page pins a disk slot"
    PARAMS = slot_params("mainline-6.18")
    SWAPOFF_WALK = True

    def __init__(self, cfg: LabConfig) -> None:
        super().__init__(cfg)
        self.real = RealDevices(cfg.real_slots, self.C)

    def alloc_front(self) -> tuple[int, bool] | None:
        token = self.real.alloc()
        return None if token is None else (token, False)

    def free_front(self, front: int) -> None:
        self.real.free(front)

    def writeback_dest(self) -> int | None:
        return SAME_SLOT  # the entry's own slot is already on disk

    def metadata(self) -> tuple[int, int]:
        return self.S * self.real.slots, self.D * self.C * self.real.clusters_in_use

    def disk_slots(self) -> int:
        return self.real.inuse

    def disk_pinned(self) -> int:
        return self.real.inuse - self.n_disk

    def describe_devices(self) -> str:
        return self.real.describe(self.page_size)

    def can_swap(self) -> bool:
        return self.real.inuse < self.real.usable
