"""Which pages a trace has named and which are swapped out, in about 8 bytes per page.

``trace info`` must follow every distinct page of a trace (10 million and more for a captured
process) with the replay's rules: ``out`` swaps a page out, ``in`` and ``free`` release it, an
``out`` of a page already out or a release of a page not out is invalid and changes nothing.
Two Python sets cost about 86 bytes per page; here each page is one 64-bit word, ``vpn << 1 |
swapped``, in sorted numpy segments of at most :data:`SEGMENT` words (inserting copies only the
segment it lands in, so the peak stays near the steady size), and events are handled a batch
at a time with array operations.
"""

from __future__ import annotations

import numpy as np

__all__ = ("PageStates", "SEGMENT", "BatchResult", "OP_TOUCH")

SEGMENT = 1 << 20  # words per segment before it is split in two

OP_OUT = 0
OP_TOUCH = 3  # any op above free: the page is named, its state kept


class BatchResult:
    __slots__ = ("invalid_out", "invalid_in", "free_not_swapped", "peak", "peak_index", "swapped")

    def __init__(self) -> None:
        self.invalid_out = self.invalid_in = self.free_not_swapped = 0
        self.peak = 0
        self.peak_index = -1
        self.swapped = 0


class PageStates:
    def __init__(self) -> None:
        self._segs: list[np.ndarray] = []
        self.pages = 0  # distinct pages seen
        self.swapped = 0  # pages swapped out now

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._segs)

    def _update(self, vpns: np.ndarray, final: np.ndarray) -> np.ndarray:
        """For sorted distinct ``vpns``: their state before (False if never seen), then set
        each to ``final``; new pages are added."""
        keys = vpns << np.uint64(1)
        new = keys | final.astype(np.uint64)
        before = np.zeros(len(vpns), dtype=bool)
        if not self._segs:
            self._segs = [new[i:i + SEGMENT].copy() for i in range(0, len(new), SEGMENT)]
            self.pages += len(new)
            return before
        firsts = np.array([s[0] >> np.uint64(1) for s in self._segs], dtype=np.uint64)
        where = np.maximum(np.searchsorted(firsts, vpns, side="right") - 1, 0)
        bounds = np.searchsorted(where, np.arange(len(self._segs) + 1))
        for si in range(len(self._segs) - 1, -1, -1):  # from the end: splits shift nothing
            lo, hi = bounds[si], bounds[si + 1]
            if lo == hi:
                continue
            seg = self._segs[si]
            k = keys[lo:hi]
            p = np.searchsorted(seg, k)
            at = np.minimum(p, len(seg) - 1)
            hit = (p < len(seg)) & ((seg[at] >> np.uint64(1)) == (k >> np.uint64(1)))
            before[lo:hi][hit] = (seg[p[hit]] & np.uint64(1)).astype(bool)
            seg[p[hit]] = new[lo:hi][hit]
            miss = ~hit
            n_new = int(miss.sum())
            if n_new:
                seg = np.insert(seg, p[miss], new[lo:hi][miss])
                self.pages += n_new
            if len(seg) > 2 * SEGMENT:
                half = len(seg) // 2
                self._segs[si:si + 1] = [seg[:half].copy(), seg[half:].copy()]
            else:
                self._segs[si] = seg
        return before

    def batch(self, ops: np.ndarray, vpns: np.ndarray) -> BatchResult:
        """Apply a batch of events (in order); counts and the peak within it.

        Ops 0, 1 and 2 are out, in and free; any other op (:data:`OP_TOUCH`, an access trace's
        read or write) names the page without changing whether it is swapped out."""
        r = BatchResult()
        n = len(ops)
        if not n:
            r.swapped = self.swapped
            return r
        order = np.argsort(vpns, kind="stable")
        sv = vpns[order]
        so = ops[order]
        first = np.empty(n, dtype=bool)
        first[0] = True
        np.not_equal(sv[1:], sv[:-1], out=first[1:])
        last = np.empty(n, dtype=bool)
        last[-1] = True
        last[:-1] = first[1:]
        pos = np.arange(n)
        # in sorted order: the last state-changing event at or before each event, in its page
        sets = so <= 2
        start = np.maximum.accumulate(np.where(first, pos, 0))
        setter = np.maximum.accumulate(np.where(sets, pos, -1))
        has_setter = setter >= start
        after_known = so[np.maximum(setter, 0)] == OP_OUT  # where has_setter
        # the pages' states before the batch: pages whose events all leave the state alone keep
        # it (looked up, then written back), the others end as their last setter says
        keep = last & ~has_setter
        prior = np.zeros(n, dtype=bool)
        prior_keep = self._update(sv[keep], np.zeros(int(keep.sum()), dtype=bool))
        if prior_keep.any():
            self._update(sv[keep][prior_keep], np.ones(int(prior_keep.sum()), dtype=bool))
        prior[keep] = prior_keep
        change = last & has_setter
        prior[change] = self._update(sv[change], after_known[change])
        # spread each page's prior state over its events (it sits on the page's last event)
        group_end = np.minimum.accumulate(np.where(last, pos, n)[::-1])[::-1]
        prior_all = prior[group_end]
        after = np.where(has_setter, after_known, prior_all)
        was_out = np.empty(n, dtype=bool)  # the state before each event, in sorted order
        was_out[1:] = after[:-1]
        was_out[first] = prior_all[first]
        before = np.empty(n, dtype=bool)
        before[order] = was_out
        is_out = ops == OP_OUT
        is_release = (ops == 1) | (ops == 2)
        r.invalid_out = int(np.count_nonzero(is_out & before))
        r.invalid_in = int(np.count_nonzero((ops == 1) & ~before))
        r.free_not_swapped = int(np.count_nonzero((ops == 2) & ~before))
        delta = (is_out & ~before).astype(np.int64) - (is_release & before).astype(np.int64)
        level = np.cumsum(delta) + self.swapped
        i = int(np.argmax(level))
        r.peak, r.peak_index = int(level[i]), i
        self.swapped = r.swapped = int(level[-1])
        return r
