"""Synthetic access workloads: what a process touches, for the simulated kernel's reclaim to act on.

Each workload is a sequence of ``read``/``write`` events (an access trace, format version 2) over
``pages`` pages from ``vpn_base`` on, with timestamps at ``rate`` accesses per second. A page's
first access is always a write (the program allocates and fills it; a first read would map the
shared zero page and cost nothing). Later accesses write with probability ``write_ratio``; every
write gives the page new contents of the page's kind.

``zipf``
    hot/cold: the pages are filled once, then accessed with weight ``1/(rank+1)**skew`` over a
    random permutation (hot pages scattered over the heap, as malloc leaves them).
``scan``
    a sequential scan over one large buffer, pass after pass (a database scan, a GC mark phase):
    under LRU with less memory than the buffer, every access of every pass misses.
``phases``
    a working set that grows (a window from the start growing to half the pages), shifts (the
    half-size window slides to the end) and shrinks (to an eighth), uniform inside the window.
``leaky``
    a leaky heap: a hot eighth of the pages is used Zipf-like while new pages are allocated
    (written once) at an even pace and never touched again, until all ``pages`` exist.

Contents follow ``mix`` (zero, fill, text, random; default the synthetic trace mix). A page keeps
its kind; each write draws a seed from a small pool per kind (``CONTENT_SEEDS``), so a trace
refers to at most a few thousand distinct pages and a real-kernel driver can hold them all, yet
pages of one kind differ as real heap pages do. With ``pool``, text and random pages are
``ptext:``/``prandom:`` slices of precomputed pools (codec/trace.py) instead of generated pages.

Randomness is NumPy's PCG64 bit stream through ``Generator.random`` (uniform doubles), turned into
draws by inverse CDFs written here, so a seed gives the same trace on every NumPy release.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np

from ghostswap_cli.codec.trace import (
    K_FILL,
    K_PRANDOM,
    K_PTEXT,
    K_RANDOM,
    K_TEXT,
    K_ZERO,
    Content,
    TraceWriter,
)

__all__ = (
    "WORKLOADS",
    "CONTENT_SEEDS",
    "FILL_WORDS",
    "WorkloadResult",
    "workload_accesses",
    "synthesize_workload",
)

WORKLOADS = ("zipf", "scan", "phases", "leaky")
DEFAULT_MIX: Mapping[str, float] = {"zero": 0.15, "fill": 0.05, "text": 0.55, "random": 0.25}
CONTENT_SEEDS = {"text": 1024, "random": 256}
# fill words seen in real heaps: 0xff (memset -1), 0x01 / 0xaa / 0x5a test patterns, a pointer-ish word
FILL_WORDS = (0xFFFFFFFFFFFFFFFF, 0x0101010101010101, 0xAAAAAAAAAAAAAAAA, 0x5A5A5A5A5A5A5A5A,
              0x00000000DEADBEEF, 0x3F80000000000000, 0x8080808080808080, 0x0000FFFF0000FFFF)
_KINDS = ("zero", "fill", "text", "random")
_KIND_CODE = {"zero": K_ZERO, "fill": K_FILL, "text": K_TEXT, "random": K_RANDOM}
_POOL_KIND_CODE = {**_KIND_CODE, "text": K_PTEXT, "random": K_PRANDOM}
_CHUNK = 1 << 16


@dataclasses.dataclass
class WorkloadResult:
    workload: str
    events: int = 0
    reads: int = 0
    writes: int = 0
    pages: int = 0
    duration_ns: int = 0
    kinds: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _zipf_cdf(n: int, skew: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** skew
    cdf = np.cumsum(w)
    return cdf / cdf[-1]


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def workload_accesses(workload: str, pages: int, events: int, *, skew: float = 1.0,
                      write_ratio: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The page index (0..pages-1) and write flag of every access, as two arrays.

    A page's first access is made a write here, whatever the draw said."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}: expected one of {', '.join(WORKLOADS)}")
    if pages < 1:
        raise ValueError("a workload needs at least one page")
    rng = np.random.Generator(np.random.PCG64(seed))
    n = events
    if workload == "zipf":
        fill = min(pages, n)
        perm = np.argsort(rng.random(pages), kind="stable")
        rest = perm[_draw(_zipf_cdf(pages, skew), rng.random(n - fill))]
        idx = np.concatenate([np.arange(fill, dtype=np.int64), rest])
    elif workload == "scan":
        idx = np.arange(n, dtype=np.int64) % pages
    elif workload == "phases":
        t = np.arange(n, dtype=np.float64) / max(n, 1)
        u = rng.random(n)
        third = np.minimum((t * 3).astype(np.int64), 2)
        f = t * 3 - third  # progress inside the phase, 0..1
        half, eighth = pages / 2, pages / 8
        lo = np.where(third == 0, 0.0, np.where(third == 1, f * half, half))
        hi = np.where(third == 0, eighth + f * (half - eighth),
                      np.where(third == 1, half + f * half, pages - f * (pages - half - eighth)))
        idx = np.minimum((lo + u * np.maximum(hi - lo, 1)).astype(np.int64), pages - 1)
    else:  # leaky
        hot = max(1, pages // 8)
        leaked = pages - hot
        idx = np.empty(n, dtype=np.int64)
        fill = min(hot, n)
        idx[:fill] = np.arange(fill)
        rest = n - fill
        if rest:
            draws = _draw(_zipf_cdf(hot, skew), rng.random(rest))
            # allocation k of the leaked pages happens at access fill + k * rest / leaked
            alloc_at = (np.arange(leaked) * (rest / max(leaked, 1))).astype(np.int64) if leaked else np.empty(0, np.int64)
            alloc_at = alloc_at[alloc_at < rest]
            draws[alloc_at] = hot + np.arange(len(alloc_at))
            idx[fill:] = draws
    writes = rng.random(n) < write_ratio
    # first touches are writes
    _, first = np.unique(idx, return_index=True)
    writes[first] = True
    return idx, writes


def synthesize_workload(writer: TraceWriter, workload: str, *, pages: int, events: int,
                        skew: float = 1.0, write_ratio: float = 0.3, seed: int = 0,
                        mix: Mapping[str, float] | None = None, vpn_base: int = 0x7F0000000,
                        rate: float = 100_000.0, pool: bool = False,
                        progress: Callable[[int], None] | None = None) -> WorkloadResult:
    """Write ``workload`` to ``writer`` as read/write events with timestamps. ``pool``: text and
    random pages as ``ptext:``/``prandom:`` slices of precomputed pools (cheaper to replay),
    with the same seeds, so the trace is otherwise the same event for event."""
    if not 0 <= write_ratio <= 1:
        raise ValueError("the write ratio must be between 0 and 1")
    if rate <= 0:
        raise ValueError("the access rate must be above 0")
    weights = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(weights) - set(_KINDS)
    if unknown:
        raise ValueError(f"workloads take contents {', '.join(_KINDS)}, not {', '.join(sorted(unknown))}")
    idx, writes = workload_accesses(workload, pages, events, skew=skew, write_ratio=write_ratio, seed=seed)
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    kinds = [k for k in _KINDS if weights.get(k, 0) > 0]
    if not kinds:
        raise ValueError("the mix needs at least one kind with a weight above 0")
    cdf = np.cumsum([weights[k] for k in kinds])
    page_kind = _draw(cdf / cdf[-1], rng.random(pages)).astype(np.int8)
    values = rng.random(events)  # the seed or fill word of each write
    step = 1e9 / rate
    res = WorkloadResult(workload)
    counts = dict.fromkeys(kinds, 0)
    contents: dict[tuple[int, int], Content] = {}
    codes = _POOL_KIND_CODE if pool else _KIND_CODE
    for start in range(0, events, _CHUNK):
        stop = min(events, start + _CHUNK)
        for i, p, w, u in zip(range(start, stop), idx[start:stop].tolist(), writes[start:stop].tolist(),
                              values[start:stop].tolist(), strict=True):
            t = int(i * step)
            if not w:
                writer.read(vpn_base + p, t_ns=t)
                continue
            kind = kinds[page_kind[p]]
            if kind == "zero":
                v = 0
            elif kind == "fill":
                v = FILL_WORDS[int(u * len(FILL_WORDS))]
            else:
                v = int(u * CONTENT_SEEDS[kind])
            key = (codes[kind], v)
            c = contents.get(key)
            if c is None:
                c = contents[key] = Content(key[0], v)
            writer.write(vpn_base + p, c, t_ns=t)
            counts[kind] += 1
        if progress is not None:
            progress(stop)
    res.events = events
    res.writes = int(writes.sum())
    res.reads = events - res.writes
    res.pages = int(len(np.unique(idx))) if events else 0
    res.duration_ns = int((events - 1) * step) if events else 0
    res.kinds = counts
    return res
