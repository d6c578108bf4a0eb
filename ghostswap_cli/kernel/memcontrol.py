"""The memory cgroup an access replay runs in, after mm/memcontrol.c (cgroup v2, 6.1).

What is charged: every resident page of the process (mapped, or in the swap cache), its page
tables (one page per 512 PTEs touched) and kernel stack, and, as since 5.19, the compressed bytes
zswap holds for it (``obj_cgroup_charge_zswap``; a zswap store is charged even past the limit,
as the kernel charges it in reclaim context, so compressing a page frees only the difference).

``try_charge`` mirrors ``try_charge_memcg``: above ``memory.max`` it reclaims
(``try_to_free_mem_cgroup_pages``, at least ``SWAP_CLUSTER_MAX``) and retries up to
``MAX_RECLAIM_RETRIES`` times, then declares OOM (the replayed process is killed). Above
``memory.high`` the fault handler reclaims the excess on return to user space
(``mem_cgroup_handle_over_high``), never OOM. ``memory.swap.max`` limits the swap slots the
process may hold (``mem_cgroup_try_charge_swap``), ``memory.zswap.max`` the compressed bytes
(``obj_cgroup_may_zswap``). Not modelled: the per-CPU charge stock of 64 pages and the
throttling delay above memory.high.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

__all__ = ("MAX_RECLAIM_RETRIES", "MemCgroup", "parse_limit")

MAX_RECLAIM_RETRIES = 16
UNLIMITED = 1 << 62
KERNEL_STACK_PAGES = 4  # THREAD_SIZE 16 KiB on x86-64


def parse_limit(value: str, page_size: int) -> int:
    """A stored memory.* value ("max" or bytes) in pages (UNLIMITED for max)."""
    return UNLIMITED if value == "max" else int(value) // page_size


@dataclasses.dataclass
class MemCgroup:
    page_size: int
    max_pages: int = UNLIMITED
    high_pages: int = UNLIMITED
    swap_max_pages: int = UNLIMITED
    zswap_max_bytes: int = UNLIMITED
    resident: int = 0  # pages on the LRU (mapped or swap cache)
    pagetable_pages: int = 0
    zswap_bytes: int = 0  # compressed bytes zswap holds for the process
    zswapped_pages: int = 0  # pages those bytes stand for
    swap_pages: int = 0  # swap slots held (memory.swap.current)
    peak_pages: int = 0
    events: Counter[str] = dataclasses.field(default_factory=Counter)  # memory.events

    def usage(self) -> int:
        """memory.current in pages."""
        ps = self.page_size
        return self.resident + self.pagetable_pages + KERNEL_STACK_PAGES + (self.zswap_bytes + ps - 1) // ps

    def margin(self) -> int:
        return self.max_pages - self.usage()

    def note_peak(self) -> None:
        u = self.usage()
        if u > self.peak_pages:
            self.peak_pages = u

    def try_charge(self, reclaim) -> bool:
        """Charge one page; ``reclaim(nr)`` frees pages. False means OOM."""
        if self.usage() + 1 <= self.max_pages:
            return True
        retries = MAX_RECLAIM_RETRIES
        while True:
            self.events["max"] += 1
            reclaim(1)
            if self.margin() >= 1:
                return True
            if not retries:
                self.events["oom"] += 1
                self.events["oom_kill"] += 1
                return False
            retries -= 1

    def handle_over_high(self, reclaim) -> None:
        over = self.usage() - self.high_pages
        if over > 0:
            self.events["high"] += 1
            reclaim(over)

    def swap_full(self) -> bool:
        """``mem_cgroup_swap_full`` for this cgroup: half of memory.swap.max used."""
        return self.swap_pages * 2 >= self.swap_max_pages
