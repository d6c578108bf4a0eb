"""Import DAMON records made by ``damo record`` (PyPI ``damo``), read by damo's own parser.

A record holds, per monitoring target, *snapshots* (one per aggregation interval): regions of the
address space with ``nr_accesses``, the number of sampling intervals in which DAMON found the
region's sampled page accessed. DAMON says nothing per page and nothing about writes, so:

- a region with ``nr_accesses`` > 0 is spread over its pages: a fraction ``nr_accesses /
  (aggregation interval / sampling interval)`` of them (at least one) is read in that snapshot,
  evenly spaced and rotating from snapshot to snapshot, so a region hot for long touches all of
  its pages;
- a page's first access is a write (the program filled it) whose contents come from ``--contents``
  or the mix, so a replay has bytes to compress; the timestamps are the snapshots' end times.

damo is an optional dependency (``pip install damo``; it is GPL-2.0 like this project); its
modules import each other by bare name, so its folder goes on ``sys.path`` while it reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import sys
from collections.abc import Iterator

from ghostswap_cli.codec.trace import MAX_VPN, TraceWriter
from ghostswap_cli.errors import ToolError, TraceError
from ghostswap_cli.replay.lackey import ImportCounts, MixContents, SnapshotContents

__all__ = ("DamoResult", "damo_modules", "looks_like_damo", "read_damo", "import_damo")


@dataclasses.dataclass
class DamoResult(ImportCounts):
    records: int = 0
    snapshots: int = 0
    regions: int = 0


@contextlib.contextmanager
def damo_modules() -> Iterator[object]:
    """damo's ``_damo_records`` module; ToolError when damo is not installed."""
    try:
        import damo  # type: ignore[import-not-found]
    except ImportError:
        raise ToolError("reading damo records needs the damo package (pip install damo)") from None
    folder = os.path.dirname(damo.__file__)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield importlib.import_module("_damo_records")
    finally:
        if added:
            sys.path.remove(folder)


def looks_like_damo(path: os.PathLike[str] | str) -> bool:
    """A zlib stream (damo's json_compressed, its default) or JSON (``--output_type json``)."""
    with open(path, "rb") as f:
        head = f.read(64).lstrip()
    return head[:1] in (b"[", b"{") or (len(head) >= 2 and head[0] == 0x78 and
                                         (head[0] << 8 | head[1]) % 31 == 0)


def read_damo(path: os.PathLike[str] | str) -> tuple[int, list[tuple[int, int, list[tuple[int, int, int, int]]]]]:
    """The number of records (monitoring targets) and the snapshots of all, in time order: ``(start_ns, end_ns, regions)`` with regions
    ``(start, end, nr_accesses, max_nr_accesses)``. TraceError when damo cannot read it."""
    name = os.fspath(path)
    with damo_modules() as recs, open(path, "rb") as f:
        first = f.read(1)
        try:
            if first == b"\x78":
                records = recs.parse_compressed_json(name)  # type: ignore[attr-defined]
            elif first in (b"[", b"{"):
                records = recs.parse_json_file(name)  # type: ignore[attr-defined]
            else:
                records, err = recs.parse_records_file(name)  # type: ignore[attr-defined]
                if err:
                    raise TraceError(name, "record 0", f"damo cannot read it: {err}")
        except TraceError:
            raise
        except Exception as e:  # damo's parsers raise anything on bad input
            raise TraceError(name, "record 0", f"damo cannot read it: {e}") from None
    out = []
    for rec in records:
        iv = rec.intervals
        max_acc = max(1, int(iv.aggr / iv.sample)) if iv is not None and iv.sample else 20
        for snap in rec.snapshots:
            regions = []
            for r in snap.regions:
                if r.nr_accesses is None:
                    continue
                n = r.nr_accesses.samples
                if n is None and r.nr_accesses.percent is not None:
                    n = int(r.nr_accesses.percent * max_acc / 100)
                if n is None or n < 0:  # damo's "fake" closing snapshot has -1
                    continue
                regions.append((int(r.start), int(r.end), int(n), max_acc))
            out.append((int(snap.start_time), int(snap.end_time), regions))
    out.sort(key=lambda s: s[1])
    return len(records), out


def import_damo(path: os.PathLike[str] | str, writer: TraceWriter, *,
                snapshot: SnapshotContents | None = None, mix: MixContents | None = None) -> DamoResult:
    """Write a damo record as read events (first accesses as writes, see the module comment)."""
    mix = mix or MixContents()
    res = DamoResult()
    res.records, snaps = read_damo(path)
    ps = writer.page_size
    seen: set[int] = set()
    t0 = snaps[0][0] if snaps else 0
    last_t = 0
    for k, (_start, end_ns, regions) in enumerate(snaps):
        res.snapshots += 1
        t = max(last_t, end_ns - t0)
        last_t = t
        for start, end, n, max_acc in regions:
            res.regions += 1
            if n == 0:
                continue
            first, last = start // ps, max(start // ps + 1, -(-end // ps))
            if last > MAX_VPN:
                raise TraceError(os.fspath(path), f"snapshot {k + 1}", f"region 0x{start:x}-0x{end:x} "
                                 "beyond the 64-bit address space")
            pages = last - first
            count = max(1, min(pages, -(-pages * n // max_acc)))
            step = pages / count
            rot = k % max(1, int(step))
            for i in range(count):
                vpn = first + min(pages - 1, int(i * step) + rot)
                if vpn in seen:
                    writer.read(vpn, t_ns=t)
                    res.reads += 1
                    continue
                seen.add(vpn)
                res.write(writer, vpn, snapshot, mix, t)
    res.distinct_pages = len(seen)
    return res
