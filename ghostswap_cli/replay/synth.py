"""Synthetic page traces: a process with a working set, an access skew and a swap level.

The model: a process touches ``working_set`` pages; page *r* (by hotness rank) is accessed with
weight ``1/(r+1)**skew`` (Zipf). Memory pressure keeps a target number of pages swapped out,
following ``pattern`` over time up to ``peak``:

``steady``
    the target is ``peak`` from the start (the first events fill swap, then it churns);
``ramp``
    the target grows linearly from 0 to ``peak`` over the trace;
``sawtooth``
    four teeth: the target climbs to ``peak`` and drops to 0, so ins come in bursts.

Each step emits one event. Below the target the coldest pages go out first (a Zipf draw over
reversed ranks among resident pages, roughly what LRU reclaim does; pages faulted in recently are
spared for a while, as on the active list); above it, or at the target (churn), a swapped-out page
is faulted in with probability proportional to its access weight.
With probability ``free_rate`` a step instead frees a swapped-out page (the process unmapped it).
Every ``out`` is of a page not swapped out and every ``in`` of a page that is, so the trace is
valid under the replay rules, and the number of pages out at once never exceeds ``peak``.

Content kinds follow ``mix``; each page keeps its kind for the whole trace (a page of text stays
text) and gets new content at each swap-out. Only ``random.Random.random()`` is used, whose
sequence for an integer seed Python promises to keep, so a seed gives the same trace everywhere.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import random
import struct
from collections.abc import Callable, Mapping
from pathlib import Path

from ghostswap_cli.codec.trace import (
    K_FILE,
    OP_FREE,
    OP_IN,
    OP_NAMES,
    OP_OUT,
    Content,
    TraceWriter,
    open_trace_writer,
)

__all__ = (
    "PATTERNS",
    "MIX_KINDS",
    "DEFAULT_MIX",
    "DEFAULT_VPN_BASE",
    "SynthResult",
    "parse_mix",
    "synthesize",
    "EXAMPLE_TRACE",
    "EXAMPLE_DATA",
    "example_data",
    "write_example",
)

PATTERNS = ("steady", "ramp", "sawtooth")
MIX_KINDS = ("zero", "fill", "text", "random", "file")
DEFAULT_MIX: Mapping[str, float] = {"zero": 0.15, "fill": 0.05, "text": 0.55, "random": 0.25}
DEFAULT_VPN_BASE = 0x7F0000000  # 0x7f0000000000 >> 12: where x86-64 mmap puts anonymous memory
SAWTOOTH_TEETH = 4
_WEIGHT_SCALE = 1 << 32


def parse_mix(text: str) -> dict[str, float]:
    """``zero=0.1,text=0.5,random=0.2,file=0.2`` → weights (normalised later; need not sum to 1)."""
    mix: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in MIX_KINDS:
            raise ValueError(f"bad mix item {item!r}: expected KIND=WEIGHT with KIND one of "
                             f"{', '.join(MIX_KINDS)}")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"bad mix weight {value!r} for {name}") from None
        if not (weight >= 0 and math.isfinite(weight)):
            raise ValueError(f"bad mix weight {value!r} for {name}: must be >= 0")
        mix[name] = weight
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("the mix needs at least one kind with a weight above 0")
    return mix


@dataclasses.dataclass
class SynthResult:
    """What was written. ``peak_swapped`` pages were out at once, first after event ``peak_event``."""

    events: int = 0
    ops: dict[str, int] = dataclasses.field(default_factory=lambda: {n: 0 for n in OP_NAMES.values()})
    kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    peak_swapped: int = 0
    peak_event: int = 0
    swapped_at_end: int = 0
    unique_pages: int = 0
    files: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class _Fenwick:
    """Weights over page ranks with O(log n) update and weighted draw (integer weights, exact)."""

    def __init__(self, weights: list[int]) -> None:
        n = len(weights)
        t = [0] + weights
        for i in range(1, n + 1):  # linear-time build
            j = i + (i & -i)
            if j <= n:
                t[j] += t[i]
        self.n = n
        self.t = t
        self.total = sum(weights)
        self.top = 1 << (n.bit_length() - 1) if n else 0

    def add(self, i: int, delta: int) -> None:
        self.total += delta
        i += 1
        t, n = self.t, self.n
        while i <= n:
            t[i] += delta
            i += i & -i

    def find(self, u: int) -> int:
        """The index whose cumulative range holds ``u`` (0 <= u < total)."""
        pos, step, t, n = 0, self.top, self.t, self.n
        while step:
            nxt = pos + step
            if nxt <= n and t[nxt] <= u:
                pos = nxt
                u -= t[nxt]
            step >>= 1
        return pos


def _usable_files(folder: Path, page_size: int) -> list[Path]:
    """Regular files of at least a page under ``folder`` (or ``folder`` itself if it is a file),
    sorted, whose names a text trace can carry (no whitespace, no leading #)."""
    found: list[Path] = []
    if folder.is_file():
        return [folder] if folder.stat().st_size >= page_size else []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            p = Path(root, name)
            if any(ch.isspace() for ch in str(p)) or name.startswith("#"):
                continue
            try:
                if p.is_file() and p.stat().st_size >= page_size:
                    found.append(p)
            except OSError:
                continue
    return found


def _level(pattern: str, t: int, n: int, peak: int) -> int:
    """The target number of swapped-out pages after step ``t`` of ``n``."""
    if pattern == "steady":
        return peak
    if pattern == "ramp":
        return -(-peak * (t + 1) // n)
    period = max(n // SAWTOOTH_TEETH, 1)
    return -(-peak * ((t % period) + 1) // period)


def synthesize(
    writer: TraceWriter,
    *,
    events: int,
    working_set: int,
    skew: float = 1.0,
    mix: Mapping[str, float] | None = None,
    files_from: os.PathLike[str] | str | None = None,  # a folder (walked) or one file
    free_rate: float = 0.0,
    seed: int = 0,
    vpn_base: int = DEFAULT_VPN_BASE,
    pattern: str = "steady",
    peak: int | None = None,
    pool: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SynthResult:
    """Write ``events`` events of the model above to ``writer``; returns what was written.

    ``peak`` (default half the working set) is the most pages swapped out at once; it is reached
    exactly when there are enough events (``peak_swapped`` in the result says). Raises ValueError
    for bad parameters. ``progress(done)`` is called every 4096 events. ``pool`` writes text and
    random pages as ``ptext:``/``prandom:`` (slices of precomputed pools) instead of
    ``text:``/``random:``; the trace is otherwise the same event for event.
    """
    mix = dict(DEFAULT_MIX if mix is None else mix)
    if events < 0:
        raise ValueError("the number of events must be >= 0")
    if working_set < 1:
        raise ValueError("the working set must be at least one page")
    if peak is None:
        peak = max(working_set // 2, 1)
    if not 1 <= peak <= working_set:
        raise ValueError(f"the peak must be between 1 and the working set ({working_set} pages)")
    if not (skew >= 0 and math.isfinite(skew)):
        raise ValueError("the skew must be >= 0")
    if not 0 <= free_rate < 1:
        raise ValueError("the free rate must be in [0, 1)")
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}: expected {', '.join(PATTERNS)}")
    if vpn_base < 0 or vpn_base + working_set > 1 << 52:
        raise ValueError("the VPNs (base + working set) must stay below 2**52")
    unknown = set(mix) - set(MIX_KINDS)
    if unknown:
        raise ValueError(f"unknown content kinds in the mix: {', '.join(sorted(unknown))}")
    kinds = [k for k in MIX_KINDS if mix.get(k, 0) > 0]
    if not kinds:
        raise ValueError("the mix needs at least one kind with a weight above 0")
    ps = writer.page_size
    prefix = "p" if pool else ""  # ptext:, prandom:
    files: list[Path] = []
    out_dir = os.path.dirname(os.path.abspath(writer.path))
    if "file" in kinds:
        if files_from is None:
            raise ValueError("file pages in the mix need a folder of files (--files-from DIR)")
        files = _usable_files(Path(files_from), ps)
        if not files:
            raise ValueError(f"{files_from}: no readable file of at least {ps} bytes "
                             "(names with whitespace are skipped)")
    file_pages = [os.path.getsize(f) // ps for f in files]
    file_refs = [os.path.relpath(os.path.abspath(f), out_dir) for f in files]
    handles: dict[int, int] = {}

    rng = random.Random(seed)
    rand = rng.random
    total_mix = sum(mix[k] for k in kinds)
    cumulative = []
    acc = 0.0
    for k in kinds:
        acc += mix[k] / total_mix
        cumulative.append(acc)

    w = working_set
    # hotness rank -> VPN through a seeded shuffle, so hot pages are spread over the range
    perm = list(range(w))
    for i in range(w - 1, 0, -1):
        j = int(rand() * (i + 1))
        perm[i], perm[j] = perm[j], perm[i]
    hot = [max(1, round(_WEIGHT_SCALE / (r + 1) ** skew)) for r in range(w)]
    cold = hot[::-1]
    resident_cold = _Fenwick(cold)  # resident pages, weighted by coldness: out victims
    swapped_hot = _Fenwick([0] * w)  # swapped-out pages, weighted by hotness: faults, frees
    swapped = bytearray(w)
    # Pages faulted in (or freed and reused) recently are kept off the victim list for a while,
    # as LRU keeps them at the head of the active list; without this the page just faulted in
    # would be the coldest resident one and go straight back out.
    recent: collections.deque[int] = collections.deque()
    protect = max(1, min(256, (w - peak) // 4))
    page_kind = bytearray(b"\xff" * w)
    page_file: dict[int, tuple[int, int]] = {}
    result = SynthResult(files=[str(f) for f in files])
    touched = bytearray(w)
    n_swapped = 0
    ops = [0, 0, 0]
    kind_counts = dict.fromkeys(kinds, 0)

    def draw(tree: _Fenwick) -> int:
        return tree.find(min(int(rand() * tree.total), tree.total - 1))

    def content_for(r: int) -> str | Content:
        k = page_kind[r]
        if k == 0xFF:
            u = rand()
            k = next((i for i, c in enumerate(cumulative) if u < c), len(kinds) - 1)
            page_kind[r] = k
        name = kinds[k]
        kind_counts[name] += 1
        if name == "zero":
            return "zero"
        if name == "fill":
            return f"fill:0x{1 + int(rand() * 255):02x}"
        if name in ("text", "random"):
            return f"{prefix}{name}:{int(rand() * (1 << 48))}"
        # a page keeps its place in its file, as memory copied from a file would
        if r not in page_file:
            fi = int(rand() * len(files))
            page_file[r] = (fi, int(rand() * file_pages[fi]) * ps)
        fi, offset = page_file[r]
        fd = handles.get(fi)
        if fd is None:
            fd = handles[fi] = os.open(files[fi], os.O_RDONLY | os.O_CLOEXEC)
        data = os.pread(fd, ps, offset)
        if len(data) != ps:
            raise ValueError(f"{files[fi]}: changed while reading (short read at {offset})")
        return Content(K_FILE, data=data, path=file_refs[fi], offset=offset)

    try:
        for t in range(events):
            target = _level(pattern, t, events, peak)
            if free_rate and n_swapped and rand() < free_rate:
                r = draw(swapped_hot)
                op = OP_FREE
            elif n_swapped < target or n_swapped == 0:
                if not resident_cold.total or len(recent) > protect:
                    old = recent.popleft()
                    resident_cold.add(old, cold[old])
                r = draw(resident_cold)
                op = OP_OUT
            else:  # above the target, or churning at it: a fault on a swapped-out page
                r = draw(swapped_hot)
                op = OP_IN
            vpn = vpn_base + perm[r]
            touched[r] = 1
            ops[op] += 1
            if op == OP_OUT:
                writer.out(vpn, content_for(r))
                swapped[r] = 1
                resident_cold.add(r, -cold[r])
                swapped_hot.add(r, hot[r])
                n_swapped += 1
                if n_swapped > result.peak_swapped:
                    result.peak_swapped = n_swapped
                    result.peak_event = t + 1
            else:
                if op == OP_IN:
                    writer.in_(vpn)
                else:
                    writer.free(vpn)
                swapped[r] = 0
                swapped_hot.add(r, -hot[r])
                recent.append(r)  # just used: the most recently used page is not reclaimed next
                n_swapped -= 1
            if progress is not None and not ((t + 1) & 4095):
                progress(t + 1)
    finally:
        for fd in handles.values():
            os.close(fd)
    result.events = events
    result.ops = {OP_NAMES[i]: ops[i] for i in (OP_OUT, OP_IN, OP_FREE)}
    result.kinds = {k: kind_counts[k] for k in kinds}
    result.swapped_at_end = n_swapped
    result.unique_pages = sum(touched)
    return result


# --- the bundled example -------------------------------------------------------------------------

EXAMPLE_TRACE = "example.trace"
EXAMPLE_DATA = "example-heap.bin"
EXAMPLE_PARAMS: Mapping[str, object] = dict(
    events=4000, working_set=1536, peak=768, skew=0.9, pattern="sawtooth", free_rate=0.03,
    seed=4, mix={"zero": 0.10, "fill": 0.05, "text": 0.40, "random": 0.15, "file": 0.30},
)


def example_data(page_size: int = 4096, pages: int = 32) -> bytes:
    """A made-up process heap, 32 pages of 4 KiB, eight kinds of memory four pages each:
    log lines, growing counters, floats, pointer arrays, sparse structs, UTF-16 strings, a
    bitmap and a hash table. Pure integer arithmetic, so it is the same on every machine."""
    out = bytearray()
    quarter = pages // 8

    def log_lines(i: int) -> bytes:
        return (f"[{i * 0.004:12.6f}] Adding {4096 * (i % 17 + 1)}k swap on /swapfile{i % 3}.  "
                f"Priority:-{i % 5 + 2} extents:{i % 7 + 1} across:{4096 * (i % 17 + 1)}k SS\n").encode()

    sections: list[Callable[[int], bytes]] = [
        log_lines,
        lambda i: struct.pack("<QQ", i * i, i * 3 + 7),
        lambda i: struct.pack("<d", (i * 2654435761 % 4294967296) / 4294967296 * 1000.0),
        lambda i: struct.pack("<Q", 0x7F3A_4C00_0000 + ((i * 40503) % 4096) * 64),
        lambda i: struct.pack("<IIQ48x", i, i % 3, 0x5566_0000 + i) if i % 4 == 0 else bytes(64),
        lambda i: f"user{i:05d}@example.org;".encode("utf-16-le"),
        lambda i: struct.pack("<Q", (0xFFFF_FFFF_FFFF_FFFF >> (i % 64)) if i % 9 else 0),
        lambda i: struct.pack("<QI4x", (i * 0x9E3779B97F4A7C15) % (1 << 64), i) if i % 3 else bytes(16),
    ]
    for make in sections:
        chunk = bytearray()
        i = 0
        while len(chunk) < quarter * page_size:
            chunk += make(i)
            i += 1
        out += chunk[: quarter * page_size]
    return bytes(out)


def write_example(folder: os.PathLike[str] | str) -> SynthResult:
    """(Re)build ``example.trace`` and ``example-heap.bin`` in ``folder`` (ghostswap_cli/data).

    python3 -c 'from ghostswap_cli.replay.synth import write_example; write_example("ghostswap_cli/data")'
    """
    folder = Path(folder)
    data_path = folder / EXAMPLE_DATA
    data_path.write_bytes(example_data())
    comments = [
        "The example trace `ghostswap demo` replays: a process with a working set of 1536 pages",
        "(6 MiB) that swaps out up to 768 pages at once, four times over (a sawtooth), with",
        "churn in between and a few frees. Pages are zero, same-filled, text, random, or slices",
        f"of {EXAMPLE_DATA} (a made-up heap beside this file).",
        "Rebuild: python3 -c 'from ghostswap_cli.replay.synth import write_example;",
        "                     write_example(\"ghostswap_cli/data\")'",
    ]
    with open_trace_writer(folder / EXAMPLE_TRACE, "text", comments=comments) as w:
        return synthesize(w, files_from=data_path, **EXAMPLE_PARAMS)  # type: ignore[arg-type]

