"""Shadow entries and refault distance, after mm/workingset.c (6.1; anon pages only).

When reclaim frees a page, ``workingset_eviction`` leaves a *shadow* in its place: the lruvec's
``nonresident_age`` at that moment (read before the eviction ages it) and whether the page had
``PG_workingset``. When the page faults back, ``workingset_refault`` measures how many evictions
and activations happened in between (the *refault distance*); a page that would have stayed
resident had the active list been that much smaller is activated at once.

For anon pages the workingset size is the active anon list (plus the file lists, which a
replayed process does not have) when swap is available: ``refault_distance <= active_anon``.
Counters: ``workingset_refault_anon`` for every refault with a shadow, ``workingset_activate_anon``
for those activated, ``workingset_restore_anon`` for those that were in the workingset when
evicted. Shadows live in one int64 array per process (-1: none; bit 0 is the workingset bit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ghostswap_cli.kernel.vmscan import Lruvec

__all__ = ("workingset_eviction", "workingset_refault", "workingset_age_nonresident", "NO_SHADOW")

NO_SHADOW = -1


def workingset_age_nonresident(lruvec: Lruvec, nr_pages: int = 1) -> None:
    """Evictions and activations advance the clock that refault distances are measured on."""
    lruvec.nonresident_age += nr_pages


def workingset_eviction(lruvec: Lruvec, page: int) -> int:
    """The shadow for ``page``, which reclaim is freeing now; ages the lruvec."""
    eviction = lruvec.nonresident_age
    workingset_age_nonresident(lruvec, 1)
    return eviction << 1 | lruvec.workingset[page]


def workingset_refault(lruvec: Lruvec, page: int, shadow: int, swap_available: bool) -> bool:
    """Account a refault of ``page``, evicted with ``shadow``; True if it must go on the active
    list (the caller adds it there; this sets PG_workingset for a restore)."""
    ev = lruvec.events
    ev["workingset_refault_anon"] += 1
    eviction = shadow >> 1
    refault_distance = lruvec.nonresident_age - eviction
    workingset_size = lruvec.nr_pages[1] if swap_available else 0
    if refault_distance > workingset_size:
        return False
    workingset_age_nonresident(lruvec, 1)
    ev["workingset_activate_anon"] += 1
    if shadow & 1:
        lruvec.workingset[page] = 1
        lruvec.lru_note_cost(1)  # lru_note_cost_refault
        ev["workingset_restore_anon"] += 1
    return True
