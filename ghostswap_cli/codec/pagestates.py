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

__all__ = ("PageStates", "SEGMENT", "BatchResult")

SEGMENT = 1 << 20  # words per segment before it is split in two

OP_OUT = 0


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
        """Apply a batch of events (in order); counts and the peak within it."""
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
        was_out = np.empty(n, dtype=bool)  # the state before each event, in sorted order
        was_out[1:] = so[:-1] == OP_OUT
        prior = self._update(sv[last], so[last] == OP_OUT)
        was_out[first] = prior
        before = np.empty(n, dtype=bool)
        before[order] = was_out
        is_out = ops == OP_OUT
        r.invalid_out = int(np.count_nonzero(is_out & before))
        r.invalid_in = int(np.count_nonzero((ops == 1) & ~before))
        r.free_not_swapped = int(np.count_nonzero((ops == 2) & ~before))
        delta = (is_out & ~before).astype(np.int64) - (~is_out & before).astype(np.int64)
        level = np.cumsum(delta) + self.swapped
        i = int(np.argmax(level))
        r.peak, r.peak_index = int(level[i]), i
        self.swapped = r.swapped = int(level[-1])
        return r
