"""Page reclaim with the classic two-list LRU, after mm/vmscan.c of Linux 6.1 (MGLRU off).

One ``Lruvec`` per simulated cgroup holds the ``inactive_anon`` and ``active_anon`` lists as
doubly linked lists in flat arrays (index = the process's page number; two sentinels at the end),
with the page flags reclaim reads: the PTE young bit (set by every access, the cheap part of a
resident hit), ``PG_referenced`` and ``PG_workingset``. A replayed process has no file pages, so
only the anon half of each function is here.

The order of work is the kernel's:

* ``try_to_free_mem_cgroup_pages`` -> ``do_try_to_free_pages``: priority 12 down to 0 until
  ``nr_to_reclaim`` (at least ``SWAP_CLUSTER_MAX``) pages are freed; with nothing freed and
  deactivation skipped, once more with ``force_deactivate``.
* ``shrink_node`` prepares ``may_deactivate`` (the inactive list is low, or refaults were
  activated since the last reclaim) and snapshots ``anon_cost``; ``shrink_lruvec`` ->
  ``get_scan_count`` (``SCAN_FRACT`` with swappiness and the cost model, ``SCAN_EQUAL`` at
  priority 0, nothing without swap) and scans in batches of ``SWAP_CLUSTER_MAX``, then
  rebalances with ``shrink_active_list`` if ``inactive_is_low``.
* ``shrink_active_list`` clears the young bits and deactivates every anon page it takes
  (``PG_workingset`` set); ``shrink_inactive_list`` -> ``shrink_folio_list`` ->
  ``folio_check_references``: young and ``PG_referenced`` -> activate; young only -> set
  ``PG_referenced`` and keep (another trip round the inactive list); not young -> reclaim.
* Reclaim asks the page's owner to ``pageout`` it (the owner runs ``add_to_swap`` and
  ``swap_writepage`` through the machine's swap areas and zswap): freed now (zswap or the
  zeromap took it, or it was a clean swap-cache page), written to disk (it stays in the swap
  cache and is rotated to the tail, to be freed by a later scan, as ``folio_rotate_reclaimable``
  does when the write completes), or activated (no swap slot, or a ghost swapfile's write
  failed with ``AOP_WRITEPAGE_ACTIVATE``). Freed pages leave a shadow (mm/workingset.c).

Counters keep the kernel's names (``pgscan_direct``, ``pgsteal_direct``, ``pgscan_anon``,
``pgsteal_anon``, ``pgrefill``, ``pgactivate``, ``pgdeactivate``) in ``Lruvec.events``. Not
modelled: kswapd and watermarks (every reclaim is the charging task's, as memcg reclaim is),
per-CPU LRU add batches, THP, and the file lists.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from typing import Protocol

from ghostswap_cli.kernel.workingset import (
    workingset_age_nonresident,
    workingset_eviction,
    workingset_refault,
)

__all__ = (
    "SWAP_CLUSTER_MAX",
    "DEF_PRIORITY",
    "LRU_INACTIVE_ANON",
    "LRU_ACTIVE_ANON",
    "NOT_ON_LRU",
    "PAGEOUT_FREED",
    "PAGEOUT_CLEAN",
    "PAGEOUT_WRITEBACK",
    "PAGEOUT_ACTIVATE",
    "PageOwner",
    "Lruvec",
    "ScanControl",
    "try_to_free_mem_cgroup_pages",
    "inactive_is_low",
)

SWAP_CLUSTER_MAX = 32
DEF_PRIORITY = 12
LRU_INACTIVE_ANON, LRU_ACTIVE_ANON = 0, 1
NOT_ON_LRU = 255

# what PageOwner.pageout did with a page reclaim chose
PAGEOUT_FREED = 0  # written (zswap, zeromap): free it now
PAGEOUT_CLEAN = 1  # a clean swap-cache page: free it, nothing to write
PAGEOUT_WRITEBACK = 2  # submitted to the swap device: stays in the swap cache for now
PAGEOUT_ACTIVATE = 3  # add_to_swap failed, or the write failed (ghost): keep it, active


class PageOwner(Protocol):
    def swap_available(self) -> bool: ...
    def pageout(self, page: int) -> int: ...
    def free_folio(self, page: int, shadow: int) -> None: ...


class Lruvec:
    """The anon LRU lists of one cgroup, with the page flags and the reclaim state."""

    NR_LISTS = 2

    def __init__(self, capacity: int = 0, swappiness: int = 60) -> None:
        self.capacity = 0
        self.next = array("i")
        self.prev = array("i")
        self.lru = bytearray()
        self.young = bytearray()
        self.referenced = bytearray()
        self.workingset = bytearray()
        self.nr_pages = [0] * self.NR_LISTS
        self.nonresident_age = 0
        self.anon_cost = 0
        self.refaults_snapshot = 0
        self.swappiness = swappiness
        self.events: Counter[str] = Counter()
        self._heads: tuple[int, ...] = ()
        self.grow(max(capacity, 1024))

    # --- the lists ------------------------------------------------------------------------
    def grow(self, capacity: int) -> None:
        """Room for pages 0..capacity-1 (the sentinels move to the new end)."""
        if capacity <= self.capacity:
            return
        old = self.capacity
        nl = self.NR_LISTS
        heads_old = tuple(old + k for k in range(nl))
        extra = capacity - old
        nxt, prv = self.next, self.prev
        saved = [(nxt[h], prv[h]) for h in heads_old] if old else [(-1, -1)] * nl
        if old:
            del nxt[old:], prv[old:]
        nxt.extend([-1] * (extra + nl))
        prv.extend([-1] * (extra + nl))
        self.lru.extend(bytes([NOT_ON_LRU]) * extra)
        self.young.extend(bytes(extra))
        self.referenced.extend(bytes(extra))
        self.workingset.extend(bytes(extra))
        self.capacity = capacity
        heads = tuple(capacity + k for k in range(nl))
        for lru, h in enumerate(heads):
            n, p = saved[lru]
            if n == -1 or n == heads_old[lru]:  # empty list
                nxt[h] = prv[h] = h
                continue
            nxt[h], prv[h] = n, p
            prv[n] = h
            nxt[p] = h
        self._heads = heads

    def head(self, lru: int) -> int:
        return self._heads[lru]

    def add(self, page: int, lru: int) -> None:
        """``lruvec_add_folio``: at the head (the young end) of ``lru``."""
        h = self._heads[lru]
        nxt, prv = self.next, self.prev
        first = nxt[h]
        nxt[page] = first
        prv[page] = h
        prv[first] = page
        nxt[h] = page
        self.lru[page] = lru
        self.nr_pages[lru] += 1

    def add_tail(self, page: int, lru: int) -> None:
        h = self._heads[lru]
        nxt, prv = self.next, self.prev
        last = prv[h]
        prv[page] = last
        nxt[page] = h
        nxt[last] = page
        prv[h] = page
        self.lru[page] = lru
        self.nr_pages[lru] += 1

    def delete(self, page: int) -> None:
        lru = self.lru[page]
        if lru == NOT_ON_LRU:
            return
        nxt, prv = self.next, self.prev
        n, p = nxt[page], prv[page]
        nxt[p] = n
        prv[n] = p
        self.lru[page] = NOT_ON_LRU
        self.nr_pages[lru] -= 1

    def isolate(self, lru: int, nr_to_scan: int) -> list[int]:
        """``isolate_lru_folios``: up to ``nr_to_scan`` pages from the tail (the old end),
        unlinked as one stretch (the isolated pages' own links are left stale, as delete
        leaves them: nothing reads the links of a page off the LRU)."""
        h = self._heads[lru]
        prv = self.prev
        out = []
        page = prv[h]
        while page != h and len(out) < nr_to_scan:
            out.append(page)
            page = prv[page]
        if out:
            self.next[page] = h
            prv[h] = page
            flags = self.lru
            for p in out:
                flags[p] = NOT_ON_LRU
            self.nr_pages[lru] -= len(out)
        return out

    def add_all(self, pages: list[int], lru: int) -> None:
        """``add`` of each of ``pages`` in turn (the last one ends up at the head)."""
        if not pages:
            return
        h = self._heads[lru]
        nxt, prv, flags = self.next, self.prev, self.lru
        first = nxt[h]
        for page in pages:
            nxt[page] = first
            prv[first] = page
            flags[page] = lru
            first = page
        nxt[h] = first
        prv[first] = h
        self.nr_pages[lru] += len(pages)

    def add_tail_all(self, pages: list[int], lru: int) -> None:
        """``add_tail`` of each of ``pages`` in turn (the last one ends up at the tail)."""
        if not pages:
            return
        h = self._heads[lru]
        nxt, prv, flags = self.next, self.prev, self.lru
        last = prv[h]
        for page in pages:
            prv[page] = last
            nxt[last] = page
            flags[page] = lru
            last = page
        prv[h] = last
        nxt[last] = h
        self.nr_pages[lru] += len(pages)

    def pages(self, lru: int) -> list[int]:
        """The pages of ``lru`` from head to tail (for tests and reports)."""
        h = self._heads[lru]
        out, page = [], self.next[h]
        while page != h:
            out.append(page)
            page = self.next[page]
        return out

    # --- what the fault paths do ------------------------------------------------------------
    def add_new(self, page: int) -> None:
        """A newly faulted anon page: inactive list (``lru_cache_add_inactive_or_unevictable``),
        PTE young from the faulting access."""
        self.young[page] = 1
        self.referenced[page] = 0
        self.workingset[page] = 0
        self.add(page, LRU_INACTIVE_ANON)

    def refault(self, page: int, shadow: int, swap_available: bool) -> bool:
        return workingset_refault(self, page, shadow, swap_available)

    def add_refaulted(self, page: int, active: bool) -> None:
        """A page swapped back in: active if ``workingset_refault`` said so."""
        self.young[page] = 1
        self.referenced[page] = 0
        self.add(page, LRU_ACTIVE_ANON if active else LRU_INACTIVE_ANON)

    def remove(self, page: int) -> None:
        """The page was unmapped and freed by the process."""
        self.delete(page)
        self.young[page] = self.referenced[page] = self.workingset[page] = 0

    def active_pages(self) -> int:
        return self.nr_pages[LRU_ACTIVE_ANON]

    def try_to_free_pages(self, nr_pages: int, owner: PageOwner) -> int:
        return try_to_free_mem_cgroup_pages(self, nr_pages, owner)

    def lru_note_cost(self, nr: int) -> None:
        """``lru_note_cost``: the anon side's recent IO cost, decayed against the LRU size."""
        self.anon_cost += nr
        if self.anon_cost > (self.nr_pages[0] + self.nr_pages[1]) // 4:
            self.anon_cost //= 2


def inactive_is_low(lruvec: Lruvec) -> bool:
    """``inactive_is_low``: ``inactive * int_sqrt(10 * GiB) < active`` (ratio 1 below 1 GiB)."""
    inactive, active = lruvec.nr_pages
    gb = (inactive + active) >> 18  # 4 KiB pages: 2**18 to a GiB
    ratio = math.isqrt(10 * gb) if gb else 1
    return inactive * ratio < active


class ScanControl:
    __slots__ = ("nr_to_reclaim", "priority", "nr_reclaimed", "may_deactivate", "skipped_deactivate",
                 "force_deactivate", "anon_cost")

    def __init__(self, nr_to_reclaim: int) -> None:
        self.nr_to_reclaim = nr_to_reclaim
        self.priority = DEF_PRIORITY
        self.nr_reclaimed = 0
        self.may_deactivate = False
        self.skipped_deactivate = False
        self.force_deactivate = False
        self.anon_cost = 0


def shrink_active_list(lruvec: Lruvec, nr_to_scan: int) -> None:
    batch = lruvec.isolate(LRU_ACTIVE_ANON, nr_to_scan)
    young, ws = lruvec.young, lruvec.workingset
    for page in batch:
        young[page] = 0  # folio_referenced() clears the young bits; anon is deactivated anyway
        ws[page] = 1
    lruvec.add_all(batch, LRU_INACTIVE_ANON)
    ev = lruvec.events
    ev["pgrefill"] += len(batch)
    ev["pgdeactivate"] += len(batch)


def shrink_inactive_list(lruvec: Lruvec, nr_to_scan: int, owner: PageOwner) -> int:
    """One batch through ``shrink_folio_list``. The pages kept or activated go back to their
    lists after the batch, in the order they were decided (as the kernel's putback), which
    leaves the lists as adding each at once would: nothing in between reads them."""
    batch = lruvec.isolate(LRU_INACTIVE_ANON, nr_to_scan)
    ev = lruvec.events
    ev["pgscan_direct"] += len(batch)
    ev["pgscan_anon"] += len(batch)
    young, referenced = lruvec.young, lruvec.referenced
    pageout, free_folio = owner.pageout, owner.free_folio
    reclaimed = pageout_count = 0
    keep: list[int] = []
    activate: list[int] = []
    rotate: list[int] = []
    for page in batch:
        # folio_check_references
        referenced_ptes = young[page]
        referenced_folio = referenced[page]
        referenced[page] = 0
        if referenced_ptes:
            young[page] = 0
            referenced[page] = 1
            if referenced_folio:
                activate.append(page)
                # move_folios_to_lru ages for active folios (in this order among the evictions)
                workingset_age_nonresident(lruvec, 1)
            else:
                keep.append(page)  # FOLIOREF_KEEP
            continue
        outcome = pageout(page)
        if outcome in (PAGEOUT_FREED, PAGEOUT_CLEAN):
            if outcome == PAGEOUT_FREED:
                pageout_count += 1
            free_folio(page, workingset_eviction(lruvec, page))
            reclaimed += 1
        elif outcome == PAGEOUT_WRITEBACK:
            pageout_count += 1
            rotate.append(page)
        else:
            activate.append(page)
            workingset_age_nonresident(lruvec, 1)
    lruvec.add_all(keep, LRU_INACTIVE_ANON)
    lruvec.add_all(activate, LRU_ACTIVE_ANON)
    if activate:
        ev["pgactivate"] += len(activate)
    lruvec.add_tail_all(rotate, LRU_INACTIVE_ANON)  # the write completed: folio_rotate_reclaimable
    ev["pgsteal_direct"] += reclaimed
    ev["pgsteal_anon"] += reclaimed
    lruvec.lru_note_cost(pageout_count)
    return reclaimed


def get_scan_count(lruvec: Lruvec, sc: ScanControl, owner: PageOwner) -> list[int]:
    """Pages to scan on [inactive, active] anon at this priority."""
    swappiness = lruvec.swappiness
    if not owner.swap_available() or not swappiness:
        return [0, 0]  # SCAN_FILE: and there are no file pages
    if not sc.priority:
        return [lruvec.nr_pages[0], lruvec.nr_pages[1]]  # SCAN_EQUAL
    # SCAN_FRACT, with file_cost 0
    total_cost = sc.anon_cost
    anon_cost = total_cost + sc.anon_cost
    file_cost = total_cost
    total_cost = anon_cost + file_cost
    ap = swappiness * (total_cost + 1) // (anon_cost + 1)
    fp = (200 - swappiness) * (total_cost + 1) // (file_cost + 1)
    denominator = ap + fp
    return [(size >> sc.priority) * ap // denominator for size in lruvec.nr_pages]


def shrink_lruvec(lruvec: Lruvec, sc: ScanControl, owner: PageOwner) -> None:
    nr = get_scan_count(lruvec, sc, owner)
    nr_reclaimed = 0
    while nr[0]:
        for lru in (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON):
            if nr[lru]:
                n = min(nr[lru], SWAP_CLUSTER_MAX)
                nr[lru] -= n
                if lru == LRU_ACTIVE_ANON:
                    if sc.may_deactivate:
                        shrink_active_list(lruvec, n)
                    else:
                        sc.skipped_deactivate = True
                else:
                    nr_reclaimed += shrink_inactive_list(lruvec, n, owner)
        if nr_reclaimed >= sc.nr_to_reclaim:
            break  # no file pages left to balance against
    sc.nr_reclaimed += nr_reclaimed
    if owner.swap_available() and inactive_is_low(lruvec):
        shrink_active_list(lruvec, SWAP_CLUSTER_MAX)


def shrink_node(lruvec: Lruvec, sc: ScanControl, owner: PageOwner) -> None:
    sc.anon_cost = lruvec.anon_cost
    if sc.force_deactivate:
        sc.may_deactivate = True
    else:
        refaults = lruvec.events["workingset_activate_anon"]
        sc.may_deactivate = refaults != lruvec.refaults_snapshot or inactive_is_low(lruvec)
    shrink_lruvec(lruvec, sc, owner)


def do_try_to_free_pages(lruvec: Lruvec, sc: ScanControl, owner: PageOwner) -> int:
    while True:
        sc.priority = DEF_PRIORITY
        while True:
            shrink_node(lruvec, sc, owner)
            if sc.nr_reclaimed >= sc.nr_to_reclaim:
                break
            sc.priority -= 1
            if sc.priority < 0:
                break
        lruvec.refaults_snapshot = lruvec.events["workingset_activate_anon"]
        if sc.nr_reclaimed:
            return sc.nr_reclaimed
        if sc.skipped_deactivate and not sc.force_deactivate:
            sc.force_deactivate = True
            sc.skipped_deactivate = False
            continue
        return 0


def try_to_free_mem_cgroup_pages(lruvec: Lruvec, nr_pages: int, owner: PageOwner) -> int:
    """Reclaim at least ``max(nr_pages, SWAP_CLUSTER_MAX)`` pages if it can; returns the number freed."""
    return do_try_to_free_pages(lruvec, ScanControl(max(nr_pages, SWAP_CLUSTER_MAX)), owner)
