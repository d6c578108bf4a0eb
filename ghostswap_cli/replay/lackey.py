"""Import valgrind lackey memory traces (``valgrind --tool=lackey --trace-mem=yes``).

Lackey prints one line per guest memory access (lackey/lk_main.c, ``trace_load()`` and friends)::

    I  04000c50,3        instruction fetch of 3 bytes
     L 1ffefffd78,8      load
     S 1ffefffd70,8      store
     M 0421f4a8,4        modify (load and store)

plus valgrind's own ``==PID==`` lines when the log goes to the same file. Accesses are folded to
pages in order: a run of accesses to one page is one access event, a write if any of the run
wrote (an access that straddles two pages touches both). Instruction fetches read program text,
which is file-backed and never swapped, so they are left out unless asked for.

Lackey gives addresses, not data, so the contents of written pages come from elsewhere: a
snapshot of the same process (``--contents``: a trace from ``trace record`` or ``trace capture``
of the valgrind process, whose guest memory sits at the addresses lackey prints), or a declared
synthetic mix (zero, fill, text, random, as ``trace synth``), the same for the same seed.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Mapping

import numpy as np

from ghostswap_cli.codec.trace import (
    K_FILL,
    K_RANDOM,
    K_TEXT,
    K_ZERO,
    MAX_VPN,
    OP_OUT,
    OP_WRITE,
    Content,
    TraceWriter,
    open_trace,
)
from ghostswap_cli.errors import TraceError
from ghostswap_cli.replay.workloads import CONTENT_SEEDS, DEFAULT_MIX, FILL_WORDS

__all__ = (
    "ImportCounts",
    "LackeyResult",
    "SnapshotContents",
    "MixContents",
    "parse_lackey",
    "fold_pages",
    "import_lackey",
)

_LINE = re.compile(rb"^\s*([ILSM])\s+([0-9a-fA-F]{1,16}),\s*([0-9]{1,10})\s*$")
_MIX_KINDS = ("zero", "fill", "text", "random")
_KIND_CODE = {"zero": K_ZERO, "fill": K_FILL, "text": K_TEXT, "random": K_RANDOM}


@dataclasses.dataclass
class ImportCounts:
    """What an import wrote (lackey and damo alike)."""

    reads: int = 0
    writes: int = 0
    distinct_pages: int = 0
    contents_from_snapshot: int = 0
    contents_synthesised: int = 0

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    def write(self, writer: TraceWriter, vpn: int, snapshot: SnapshotContents | None,
              mix: MixContents, t_ns: int | None = None) -> None:
        """A write of ``vpn`` with its bytes from ``snapshot`` if it has them, else ``mix``."""
        page = snapshot.get(vpn) if snapshot is not None else None
        if page is not None:
            writer.write(vpn, page, t_ns=t_ns)
            self.contents_from_snapshot += 1
        else:
            writer.write(vpn, mix.content(vpn), t_ns=t_ns)
            self.contents_synthesised += 1
        self.writes += 1


@dataclasses.dataclass
class LackeyResult(ImportCounts):
    lines: int = 0
    accesses: int = 0  # lackey accesses used (loads, stores, modifies; fetches if asked)
    skipped_instructions: int = 0
    valgrind_lines: int = 0


def parse_lackey(path: os.PathLike[str] | str, result: LackeyResult | None = None
                 ) -> Iterator[tuple[str, int, int]]:
    """``(op, address, size)`` per access line; TraceError naming the line for anything else."""
    name = os.fspath(path)
    res = result if result is not None else LackeyResult()
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            res.lines = lineno
            if raw.startswith(b"==") or raw.startswith(b"--") or not raw.strip():
                res.valgrind_lines += 1  # valgrind's own messages ("==123== ...", "--123-- ...")
                continue
            m = _LINE.match(raw)
            if m is None:
                shown = raw.rstrip(b"\r\n")[:60].decode("utf-8", "replace")
                raise TraceError(name, f"line {lineno}", f"not a lackey access line: {shown!r} "
                                 "(expected 'I  ADDR,SIZE' or ' L|S|M ADDR,SIZE')")
            size = int(m.group(3))
            if size == 0:
                raise TraceError(name, f"line {lineno}", "access of 0 bytes")
            yield m.group(1).decode(), int(m.group(2), 16), size


def fold_pages(accesses: Iterator[tuple[str, int, int]], page_size: int, *,
               instructions: bool = False, result: LackeyResult | None = None
               ) -> Iterator[tuple[int, bool]]:
    """``(vpn, wrote)`` per run of accesses to one page, in order."""
    res = result if result is not None else LackeyResult()
    cur: int | None = None
    wrote = False
    for op, addr, size in accesses:
        if op == "I" and not instructions:
            res.skipped_instructions += 1
            continue
        res.accesses += 1
        w = op in ("S", "M")
        first, last = addr // page_size, (addr + size - 1) // page_size
        for vpn in range(first, last + 1):
            if vpn == cur:
                wrote |= w
                continue
            if cur is not None:
                yield cur, wrote
            cur, wrote = vpn, w
    if cur is not None:
        yield cur, wrote


class SnapshotContents:
    """Page contents by VPN from a trace (the last ``out`` or ``write`` of each page)."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.pages: dict[int, bytes] = {}
        with open_trace(path) as r:
            self.page_size = r.page_size
            for op, vpn, page in r:
                if op in (OP_OUT, OP_WRITE) and page is not None:
                    self.pages[vpn] = page

    def get(self, vpn: int) -> bytes | None:
        return self.pages.get(vpn)


class MixContents:
    """Synthetic contents: each page keeps one kind drawn from ``mix``; each write of it draws a
    seed (or fill word) from a small pool, as ``trace synth`` workloads do."""

    def __init__(self, mix: Mapping[str, float] | None = None, seed: int = 0) -> None:
        weights = dict(DEFAULT_MIX if mix is None else mix)
        unknown = set(weights) - set(_MIX_KINDS)
        if unknown:
            raise ValueError(f"imported contents take {', '.join(_MIX_KINDS)}, not "
                             f"{', '.join(sorted(unknown))}")
        self.kinds = [k for k in _MIX_KINDS if weights.get(k, 0) > 0]
        if not self.kinds:
            raise ValueError("the mix needs at least one kind with a weight above 0")
        cdf = np.cumsum([weights[k] for k in self.kinds])
        self.cdf = (cdf / cdf[-1]).tolist()
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.page_kind: dict[int, str] = {}
        self.counts = dict.fromkeys(self.kinds, 0)

    def content(self, vpn: int) -> Content:
        kind = self.page_kind.get(vpn)
        if kind is None:
            u = float(self.rng.random())
            kind = self.page_kind[vpn] = self.kinds[next(
                (i for i, c in enumerate(self.cdf) if u < c), len(self.kinds) - 1)]
        u = float(self.rng.random())
        self.counts[kind] += 1
        if kind == "zero":
            return Content(K_ZERO)
        if kind == "fill":
            return Content(K_FILL, FILL_WORDS[int(u * len(FILL_WORDS))])
        return Content(_KIND_CODE[kind], int(u * CONTENT_SEEDS[kind]))


def import_lackey(path: os.PathLike[str] | str, writer: TraceWriter, *,
                  snapshot: SnapshotContents | None = None, mix: MixContents | None = None,
                  instructions: bool = False) -> LackeyResult:
    """Write the folded accesses of lackey log ``path`` to ``writer`` as read/write events.

    A written page takes its bytes from ``snapshot`` when it has the page, else from ``mix``."""
    res = LackeyResult()
    mix = mix or MixContents()
    if snapshot is not None and snapshot.page_size != writer.page_size:
        raise ValueError(f"the --contents trace has {snapshot.page_size}-byte pages, the import "
                         f"{writer.page_size}")
    seen: set[int] = set()
    for vpn, wrote in fold_pages(parse_lackey(path, res), writer.page_size,
                                 instructions=instructions, result=res):
        if vpn >= MAX_VPN:
            raise TraceError(os.fspath(path), f"line {res.lines}", "address beyond 2**64")
        seen.add(vpn)
        if not wrote:
            writer.read(vpn)
            res.reads += 1
        else:
            res.write(writer, vpn, snapshot, mix)
    res.distinct_pages = len(seen)
    return res
