"""A multi-generational LRU (MGLRU, ``CONFIG_LRU_GEN``), simplified from mm/vmscan.c 6.1.

What it keeps: anon pages in generations numbered by sequence (``min_seq`` .. ``max_seq``, at
most ``MAX_NR_GENS`` = 4 and at least ``MIN_NR_GENS`` = 2 live ones); a new anon page joins
``max_seq - 1``, a page swapped back in ``min_seq`` unless its refault activates it, an active one
``max_seq`` (``lru_gen_add_folio``). Eviction (``evict_folios``) takes pages from the tail of the
oldest generation: a young page is promoted to the youngest generation (what the aging walk or
the rmap look-around would have done) and its young bit cleared, the others go to the same
``pageout`` as the two-list LRU. When the oldest generation is empty ``min_seq`` advances; when
that would leave fewer than two, aging (``try_to_inc_max_seq``) opens a new youngest generation
and moves every young page into it.

What it leaves out: tiers and the PID controller over refault rates (a refault is activated when
its page was evicted from one of the two oldest generations still live, i.e. recently), the
bloom filters and page-table walk costs, ``min_ttl_ms``, and file pages. Counters:
``pgscan_*``/``pgsteal_*``, ``pgactivate`` for promotions, ``workingset_*_anon``.
"""

from __future__ import annotations

from ghostswap_cli.kernel.vmscan import (
    PAGEOUT_ACTIVATE,
    PAGEOUT_CLEAN,
    PAGEOUT_FREED,
    PAGEOUT_WRITEBACK,
    SWAP_CLUSTER_MAX,
    Lruvec,
    PageOwner,
)

__all__ = ("LruGen", "MIN_NR_GENS", "MAX_NR_GENS")

MIN_NR_GENS = 2
MAX_NR_GENS = 4


class LruGen(Lruvec):
    NR_LISTS = MAX_NR_GENS

    def __init__(self, capacity: int = 0, swappiness: int = 60) -> None:
        super().__init__(capacity, swappiness)
        self.min_seq = 0
        self.max_seq = MIN_NR_GENS - 1

    def _gen(self, seq: int) -> int:
        return seq % MAX_NR_GENS

    def active_pages(self) -> int:
        """Pages in the two youngest generations (what lru_gen reports as active)."""
        return self.nr_pages[self._gen(self.max_seq)] + (
            self.nr_pages[self._gen(self.max_seq - 1)] if self.max_seq - 1 >= self.min_seq else 0)

    def add_new(self, page: int) -> None:
        self.young[page] = 1
        self.referenced[page] = 0
        self.workingset[page] = 0
        self.add(page, self._gen(self.max_seq - 1))

    def refault(self, page: int, shadow: int, swap_available: bool) -> bool:
        ev = self.events
        ev["workingset_refault_anon"] += 1
        evicted_seq = shadow >> 1
        if evicted_seq >= self.min_seq - 1:
            ev["workingset_activate_anon"] += 1
            if shadow & 1:
                ev["workingset_restore_anon"] += 1
            self.workingset[page] = 1
            return True
        return False

    def add_refaulted(self, page: int, active: bool) -> None:
        self.young[page] = 1
        self.referenced[page] = 0
        self.add(page, self._gen(self.max_seq if active else self.min_seq))

    def _inc_max_seq(self) -> None:
        """``try_to_inc_max_seq``: a new youngest generation; young pages move into it."""
        if self.max_seq - self.min_seq + 1 >= MAX_NR_GENS:
            return
        self.max_seq += 1
        new = self._gen(self.max_seq)
        young = self.young
        for seq in range(self.min_seq, self.max_seq):
            for page in self.pages(self._gen(seq)):
                if young[page]:
                    young[page] = 0
                    self.delete(page)
                    self.add(page, new)
                    self.events["pgactivate"] += 1

    def _advance_min_seq(self) -> bool:
        while self.min_seq < self.max_seq and not self.nr_pages[self._gen(self.min_seq)]:
            if self.max_seq - self.min_seq + 1 <= MIN_NR_GENS:
                self._inc_max_seq()
                if self.max_seq - self.min_seq + 1 <= MIN_NR_GENS:
                    return False
            self.min_seq += 1
        return bool(self.nr_pages[self._gen(self.min_seq)])

    def try_to_free_pages(self, nr_pages: int, owner: PageOwner) -> int:
        nr_to_reclaim = max(nr_pages, SWAP_CLUSTER_MAX)
        if not owner.swap_available() or not self.swappiness:
            return 0
        reclaimed = 0
        budget = 4 * sum(self.nr_pages) + MAX_NR_GENS  # every page looked at a few times at most
        ev = self.events
        young = self.young
        while reclaimed < nr_to_reclaim and budget > 0:
            if self.max_seq - self.min_seq + 1 <= MIN_NR_GENS and self.nr_pages[self._gen(self.min_seq)] * 2 < nr_to_reclaim:
                self._inc_max_seq()
            if not self._advance_min_seq():
                break
            gen = self._gen(self.min_seq)
            batch = self.isolate(gen, SWAP_CLUSTER_MAX)
            budget -= len(batch)
            ev["pgscan_direct"] += len(batch)
            ev["pgscan_anon"] += len(batch)
            rotate = []
            for page in batch:
                if young[page]:
                    young[page] = 0
                    self.add(page, self._gen(self.max_seq))
                    ev["pgactivate"] += 1
                    continue
                outcome = owner.pageout(page)
                if outcome in (PAGEOUT_FREED, PAGEOUT_CLEAN):
                    shadow = self.min_seq << 1 | self.workingset[page]
                    self.nonresident_age += 1
                    owner.free_folio(page, shadow)
                    reclaimed += 1
                elif outcome == PAGEOUT_WRITEBACK:
                    rotate.append(page)
                else:
                    assert outcome == PAGEOUT_ACTIVATE
                    self.add(page, self._gen(self.max_seq))
                    ev["pgactivate"] += 1
            for page in rotate:
                self.add_tail(page, gen)
        ev["pgsteal_direct"] += reclaimed
        ev["pgsteal_anon"] += reclaimed
        return reclaimed

