"""Item 12: ``trace info`` needs no per-page state beyond a word per page.

Before: two Python sets, about 86 bytes per distinct page (862 MB for a trace of 10 million
pages). After: :class:`PageStates`, one 64-bit word per page in sorted segments. Checked here:
the counts are exactly those of the replay rules (a Hypothesis property against the set-based
reference, across batches and segment splits), the structure holds 8 bytes per page, and a real
``trace info`` process on a trace of 200 000 distinct pages grows by less than 16 bytes per page
(its peak RSS beside that of ``trace info`` on a 1-page trace). benchmarks/trace_info_memory.py
measures 10 million pages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.codec import pagestates
from ghostswap_cli.codec.pagestates import PageStates

REPO = Path(__file__).resolve().parents[2]


def reference(events):
    swapped, seen = set(), set()
    inv_out = inv_in = free_ns = peak = 0
    for op, vpn in events:
        seen.add(vpn)
        if op == pagestates.OP_TOUCH:
            continue
        if op == 0:
            if vpn in swapped:
                inv_out += 1
            else:
                swapped.add(vpn)
                peak = max(peak, len(swapped))
        elif vpn in swapped:
            swapped.discard(vpn)
        elif op == 1:
            inv_in += 1
        else:
            free_ns += 1
    return len(seen), len(swapped), inv_out, inv_in, free_ns, peak


def check_batches(events, batch):
    old = pagestates.SEGMENT
    pagestates.SEGMENT = 4  # split segments often
    try:
        s = PageStates()
        inv_out = inv_in = free_ns = peak = 0
        for i in range(0, len(events), batch):
            part = events[i:i + batch]
            r = s.batch(np.array([o for o, _ in part], dtype=np.uint8),
                        np.array([v for _, v in part], dtype=np.uint64))
            inv_out += r.invalid_out
            inv_in += r.invalid_in
            free_ns += r.free_not_swapped
            peak = max(peak, r.peak)
        assert (s.pages, s.swapped, inv_out, inv_in, free_ns, peak) == reference(events)
    finally:
        pagestates.SEGMENT = old


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 60) | st.integers(0, 1 << 52)),
                max_size=300),
       st.integers(1, 50))
def test_page_states_follow_the_replay_rules(events, batch):
    check_batches(events, batch)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20)), max_size=300),
       st.integers(1, 50))
def test_touches_name_pages_and_keep_their_state(events, batch):
    """An access trace's reads and writes (OP_TOUCH) among out/in/free: counted as pages, and
    a swapped-out page stays swapped out across them."""
    check_batches(events, batch)


def test_eight_bytes_per_page():
    s = PageStates()
    n = 200_000
    vpns = np.random.default_rng(1).permutation(np.arange(n, dtype=np.uint64) * 977)
    s.batch(np.zeros(n, dtype=np.uint8), vpns)
    assert s.pages == s.swapped == n and s.nbytes == 8 * n


# The process-level figure (VmHWM slope of `trace info` between two trace sizes) is
# test_replay_memory.py::test_trace_info_process_grows_by_its_page_states: ru_maxrss, read
# here before, starts from the parent's peak and could not fail inside a big pytest process.
