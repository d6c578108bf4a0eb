"""``swap-tiers``: per-cgroup swap tiers over zswap, a fast and a slow device (swap tiers v8).

Youngjun Park's series "mm/swap, memcg: Introduce swap tiers for cgroup based swap control"
(v5 25 Mar 2026, v8 17 Jun 2026) groups swap devices into tiers by performance class (e.g. NVMe,
HDD, network) and lets each memory cgroup choose the tiers it may use: in v8 through
``memory.swap.tiers.max`` with "'0' (disable) and 'max' (enable) values". zswap is not a tier of
its own ("Zswap itself will not be tiered, as the current architecture requires a physical device
for zswap allocation"): it stays in front of whichever device the slot comes from, and a cgroup
turns it off with ``memory.zswap.max`` 0.

Assumptions:

* Two tiers: the first ``--real-size`` device is the fast tier, the others the slow tier (with one
  device given, the slow tier gets one of the same size). The trace is one cgroup; its settings are
  ``swap-tiers.fast``, ``swap-tiers.slow`` (1 = max, 0 = disabled) and ``swap-tiers.zswap``.
* A page takes a slot from the fastest tier the cgroup may use that has room; with no tier left it
  stays resident (as with ``memory.swap.max`` reached). zswap in front as mainline: writeback into
  the page's own slot; with zswap disabled pages go to disk directly.
* The series sits on mm with the swap table merged, so each device costs what ``swap-table``
  costs; the tier mask is one field per device and per cgroup, nothing per slot.
* No promotion or demotion between tiers: v8 defines tier assignment only ("it does not yet
  define when or how pages move between tiers").

Formulas (I, D, C = ``swap-tiers.cluster_info_bytes``, ``.dynamic_bytes``, ``.cluster_slots``)::

    static  = I * (clusters of the fast and the slow devices)
    dynamic = D * C * (clusters of either tier holding an allocated slot)
"""

from __future__ import annotations

from ghostswap_cli.designs.base import SAME_SLOT, Design, LabConfig, switch_param
from ghostswap_cli.designs.mainline import RealDevices
from ghostswap_cli.designs.swap_table import devices_cost, table_params

__all__ = ("SwapTiers",)

TIERS = ("Youngjun Park, swap tiers v8 cover letter, 17 Jun 2026: \"memory.swap.tiers.max with "
         "'0' (disable) and 'max' (enable) values\"")
ZSWAP = ("Youngjun Park, swap tiers v8, 17 Jun 2026: \"Zswap itself will not be tiered\"; the "
         "cgroup's memory.zswap.max (0 disables zswap for it)")

_SLOW = 1 << 56  # front tokens of the slow tier; the fast tier's are below


class SwapTiers(Design):
    name = "swap-tiers"
    summary = "swap tiers: the cgroup picks fast and/or slow devices, zswap in front"
    PARAMS = (
        *table_params("swap-tiers"),
        switch_param("swap-tiers.fast", 1, TIERS,
                     "the cgroup may use the fast tier (memory.swap.tiers.max: 1 = max, 0 = disabled)"),
        switch_param("swap-tiers.slow", 1, TIERS,
                     "the cgroup may use the slow tier (1 = max, 0 = disabled)"),
        switch_param("swap-tiers.zswap", 1, ZSWAP,
                     "the cgroup may use zswap (0: memory.zswap.max 0, pages go to disk directly)"),
    )
    SWAPOFF_WALK = True

    def __init__(self, cfg: LabConfig) -> None:
        super().__init__(cfg)
        p = self.p
        sizes = cfg.real_slots
        self.fast = RealDevices(sizes[:1], self.C)
        self.slow = RealDevices(sizes[1:] or sizes[:1], self.C)
        self.use_fast = p["swap-tiers.fast"] == 1
        self.use_slow = p["swap-tiers.slow"] == 1
        self.direct = p["swap-tiers.zswap"] == 0
        self.I = p["swap-tiers.cluster_info_bytes"]

    def alloc_front(self) -> tuple[int, bool] | None:
        if self.use_fast:
            token = self.fast.alloc()
            if token is not None:
                return token, self.direct
        if self.use_slow:
            token = self.slow.alloc()
            if token is not None:
                return token + _SLOW, self.direct
        return None

    def free_front(self, front: int) -> None:
        if front < _SLOW:
            self.fast.free(front)
        else:
            self.slow.free(front - _SLOW)

    def writeback_dest(self) -> int | None:
        return SAME_SLOT

    def metadata(self) -> tuple[int, int]:
        fs, fd = devices_cost(self.fast, self.I, self.D, self.C)
        ss, sd = devices_cost(self.slow, self.I, self.D, self.C)
        return fs + ss, fd + sd

    def disk_slots(self) -> int:
        return self.fast.inuse + self.slow.inuse

    def disk_pinned(self) -> int:
        return self.disk_slots() - self.n_disk

    def slow_slots(self) -> int:
        return self.slow.inuse

    def can_swap(self) -> bool:
        return ((self.use_fast and self.fast.inuse < self.fast.usable)
                or (self.use_slow and self.slow.inuse < self.slow.usable))

    def describe_devices(self) -> str:
        ps = self.page_size
        allowed = [name for name, on in (("fast", self.use_fast), ("slow", self.use_slow),
                                         ("zswap", not self.direct)) if on]
        return (f"fast {self.fast.describe(ps)} + slow {self.slow.describe(ps)}; "
                f"cgroup tiers: {', '.join(allowed) or 'none'}")
