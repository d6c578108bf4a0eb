"""Runs of resident hits in a binary access trace, applied in one vectorised step (NumPy).

An access to a resident page changes nothing reclaim or the counters see but the page's young bit
and, for a write, which contents the page holds: no state changes, no LRU move, no charge. So a
run of such accesses can be applied at once, as long as it stops before anything that is not one:
a page not resident (a fault), a page never seen, a free, a raw write, contents not seen before,
a timestamp going back, the moment proactive reclaim is due, the next timeline row.

:class:`Chunk` decodes one chunk of a binary trace's words at once: where each record starts (the
chain of record lengths, followed by pointer doubling), its code, VPN, timestamp and seed word,
and for every access the page index and content id it refers to. The access replay walks the
records one at a time for everything else (faults, frees, errors: the same code as without bulk
runs) and asks :class:`BulkHits` for the run of hits that starts at a record. Whether a run is
tried at all is a guess (short runs cost more in NumPy calls than they save), so the results do
not depend on it: a record the bulk step does not take is replayed one at a time.
"""

from __future__ import annotations

from array import array

import numpy as np

from ghostswap_cli.codec import trace as tc

__all__ = ("Chunk", "BulkHits", "record_heads")

_SEEDED_CODES = np.array(sorted(tc._W_SEEDED), dtype=np.int64)
_U64_LIMIT = 1 << 64


def record_heads(length: np.ndarray) -> np.ndarray:
    """The word positions of the records, given each word's record length were it a head.

    The chain 0, 0 + length[0], ... by pointer doubling: after step k the first 2^k heads are
    known and ``jump`` moves 2^k records on, so a chunk of n records costs log2(n) gathers."""
    nw = len(length)
    jump = np.minimum(np.arange(nw, dtype=np.int64) + length, nw)
    jump = np.append(jump, nw)  # the end jumps to itself
    heads = np.zeros(1 if nw else 0, dtype=np.int64)
    while len(heads):
        more = jump[heads]
        more = more[more < nw]
        if not len(more):
            break
        heads = np.concatenate((heads, more))
        jump = jump[jump]
    return heads


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for non-negative integers; by a table rather
    than a sort when they span little more than their number (the VPNs of a heap)."""
    if len(values):
        lo = int(values.min())
        span = int(values.max()) - lo + 1
        if span <= 4 * len(values) + 4096:
            present = np.zeros(span, dtype=bool)
            present[values - lo] = True
            u = np.flatnonzero(present)
            rank = np.cumsum(present) - 1
            return u + lo, rank[values - lo]
    return np.unique(values, return_inverse=True)


class Chunk:
    """The complete records of one chunk of words, decoded; ``rest`` is where the incomplete
    last record (carried over to the next chunk) starts. ``last_t`` is the timestamp before the
    chunk's first record (a record whose timestamp goes back is never taken in a run).

    For the records walked one at a time, :meth:`block`: the head words, the words after them
    (the timestamp of a timed record) and the seed words of seeded writes, as lists.
    For the runs: every record's page (``page_of[page_key]``) and, for a write, its content id
    (``cid_of[content_key]``, ``-1`` while the page or the contents are not known yet)."""

    def __init__(self, words: array, page_words: int, index: dict[int, int],
                 seed_cids: dict[int, int], zero_cid: int, last_t: int) -> None:
        w = np.frombuffer(words, dtype=np.uint64)
        nw = len(w)
        code = (w >> np.uint64(52)).astype(np.int64)
        timed = code & 1
        base = code ^ timed
        seeded = np.isin(base, _SEEDED_CODES)
        length = 1 + timed + seeded + page_words * (base == tc.C_W_RAW)
        heads = record_heads(length)
        if len(heads) and heads[-1] + length[heads[-1]] > nw:
            self.rest = int(heads[-1])
            heads = heads[:-1]
        else:
            self.rest = nw
        n = self.n = len(heads)
        self.heads = heads
        hbase, htimed = base[heads], timed[heads]
        hw = w[heads]
        t = w[np.minimum(heads + 1, nw - 1)]
        value = w[np.minimum(heads + 1 + htimed, nw - 1)]
        del w
        self.head_words, self.words1, self.values = hw, t, value
        read = hbase == tc.C_READ
        zero = hbase == tc.C_W_ZERO
        hseeded = seeded[heads]
        self.read = read
        self.hit_offset = np.where(read, 0, 256)  # into BulkHits.hit: the read or write table
        # pages, by the chunk's distinct VPNs
        vpns, self.page_key = unique_inverse((hw & np.uint64(tc._VPN_MASK)).astype(np.int64))
        get = index.get
        vl = vpns.tolist()
        self.page_of = np.array([get(v, -1) for v in vl], dtype=np.int64)
        self.missing_pages = {vl[k]: k for k in np.flatnonzero(self.page_of < 0).tolist()}
        # contents, by the chunk's distinct (code, word) pairs; key 0 is the zero page
        content_key = np.zeros(n, dtype=np.int64)
        cids = [zero_cid]
        self.missing_contents: dict[int, int] = {}
        for c in np.unique(hbase[hseeded]).tolist():
            sel = hbase == c
            vals, inv = np.unique(value[sel], return_inverse=True)
            content_key[sel] = len(cids) + inv
            for v in vals.tolist():
                key = c << 64 | v
                cid = seed_cids.get(key, -1)
                if cid < 0:
                    self.missing_contents[key] = len(cids)
                cids.append(cid)
        self.content_key = content_key
        self.cid_of = np.array(cids, dtype=np.int64)
        # a record may be in a run if it is a read or a write of zero or seeded contents, with
        # its timestamp, if any, not going back
        take = read | zero | hseeded
        ti = np.flatnonzero(htimed)
        tt = t[ti]
        if len(ti):
            back = tt < np.maximum.accumulate(np.concatenate(([np.uint64(last_t)], tt[:-1])))
            take[ti[back]] = False
        self.take = take
        self.timed_at = ti  # the timed records, and their times (kept non-decreasing)
        self.times = np.maximum.accumulate(tt) if len(tt) else tt
        pos = np.full(n, -1, dtype=np.int64)
        pos[ti] = ti
        self.last_timed = np.maximum.accumulate(pos) if n else pos

    def block(self, h: int, size: int) -> tuple[list[int], list[int], list[int]]:
        """Records ``h`` to ``h + size`` for the one-at-a-time walk (lists of Python ints are
        made only where that walk goes: a run of hits skips them)."""
        e = h + size
        return (self.head_words[h:e].tolist(), self.words1[h:e].tolist(),
                self.values[h:e].tolist())

    def new_page(self, vpn: int, page: int) -> None:
        """The replay created page ``page`` for ``vpn``: later records here refer to it."""
        k = self.missing_pages.pop(vpn, None)
        if k is not None:
            self.page_of[k] = page

    def new_content(self, key: int, cid: int) -> None:
        k = self.missing_contents.pop(key, None)
        if k is not None:
            self.cid_of[k] = cid


class BulkHits:
    """Applies runs of resident hits, and guesses when a run is worth trying: after ``after``
    hits in a row replayed one at a time (a NumPy step costs some twenty accesses' time, so runs
    of a few accesses between faults are left to the one-at-a-time path)."""

    WINDOW, MAX_WINDOW = 256, 1 << 14
    MIN_AFTER, MAX_AFTER = 8, 1024

    def __init__(self, state: bytearray, young: bytearray, content: array,
                 read_hit: tuple[int, ...], write_hit: tuple[int, ...]) -> None:
        """``state``, ``young``, ``content``: the process's arrays (viewed afresh at every run,
        as they grow between runs); ``read_hit``, ``write_hit``: the page states in which a read,
        a write is a hit."""
        self.state, self.young, self.content = state, young, content
        self.hit = np.zeros(512, dtype=bool)
        self.hit[list(read_hit)] = True
        self.hit[[256 + s for s in write_hit]] = True
        self.after = self.MIN_AFTER

    def run(self, ch: Chunk, h: int, end: int, first_t: int | None, last_t: int,
            next_pr: int) -> tuple[int, int, int | None, int]:
        """Apply the hits from record ``h`` on, up to ``end`` at most: (records taken, of them
        reads, first_t, last_t). ``next_pr``: when proactive reclaim is due (ns after first_t);
        the record it is due at is not taken."""
        if next_pr < _U64_LIMIT and len(ch.times):
            k = int(np.searchsorted(ch.timed_at, h))  # the first timed record from h on
            if k < len(ch.times):
                ft = first_t if first_t is not None else int(ch.times[k])
                due = int(np.searchsorted(ch.times, ft + next_pr)) if ft + next_pr < _U64_LIMIT \
                    else len(ch.times)
                if due < len(ch.times):
                    end = min(end, int(ch.timed_at[due]))
        if not self.state:
            return 0, 0, first_t, last_t
        state = np.frombuffer(self.state, dtype=np.uint8)
        start, w = h, self.WINDOW
        while h < end:
            stop = min(end, h + w)
            page = ch.page_of[ch.page_key[h:stop]]
            cid = ch.cid_of[ch.content_key[h:stop]]
            hit = ch.take[h:stop] & (page >= 0) & (ch.read[h:stop] | (cid >= 0))
            hit &= self.hit[ch.hit_offset[h:stop] + state[page]]
            f = len(hit) if hit.all() else int(np.argmin(hit))
            h += f
            if h < stop:
                break
            w = min(2 * w, self.MAX_WINDOW)
        del state
        f = h - start
        self.after = max(self.after // 2, self.MIN_AFTER) if f >= 4 * self.MIN_AFTER else \
            min(2 * self.after, self.MAX_AFTER)
        if not f:
            return 0, 0, first_t, last_t
        page = ch.page_of[ch.page_key[start:h]]
        young = np.frombuffer(self.young, dtype=np.uint8)
        young[page] = 1
        del young
        read = ch.read[start:h]
        reads = int(np.count_nonzero(read))
        if reads < f:
            written = ~read
            wp = page[written]
            wc = ch.cid_of[ch.content_key[start:h][written]]
            if len(wp) > 1:  # the last write to a page decides its contents
                wp, last = np.unique(wp[::-1], return_index=True)
                wc = wc[::-1][last]
            content = np.frombuffer(self.content, dtype=np.intc)
            content[wp] = wc
            del content
        lt = int(ch.last_timed[h - 1])
        if lt >= start:
            if first_t is None:
                first_t = int(ch.words1[ch.timed_at[np.searchsorted(ch.timed_at, start)]])
            last_t = int(ch.words1[lt])
        return f, reads, first_t, last_t
