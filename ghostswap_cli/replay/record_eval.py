"""How well a recorded trace matches what a program is known to have done.

For tests and benchmarks of ``trace record``: the trace's events grouped by timestamp (one group
per sample), restricted to a VPN range, against the pages the program is known to touch. Set
precision and recall are over the whole recording; per-sample recall says how much of the known
set each sample saw (sources without an accessed bit see a read page only on its first touch).
"""

from __future__ import annotations

import dataclasses
import os

from ghostswap_cli.codec.trace import OP_READ, OP_WRITE, open_trace

__all__ = ("Samples", "read_samples", "precision_recall", "SourceScore", "score")


@dataclasses.dataclass
class Samples:
    accessed: list[set[int]]  # per sample, VPNs read or written
    written: list[set[int]]
    last_bytes: dict[int, bytes]  # the last contents written to each VPN
    all_bytes: dict[int, list[bytes]]  # every contents written to each VPN, in order


def read_samples(path: os.PathLike[str] | str, lo: int, hi: int) -> Samples:
    """Events on VPNs in [lo, hi), one group per distinct timestamp."""
    acc: list[set[int]] = []
    wr: list[set[int]] = []
    last: dict[int, bytes] = {}
    every: dict[int, list[bytes]] = {}
    t_prev: int | None = None
    with open_trace(path) as r:
        for op, vpn, page, t in r.timed():
            if op not in (OP_READ, OP_WRITE):
                continue
            if t != t_prev or not acc:
                acc.append(set())
                wr.append(set())
                t_prev = t
            if not lo <= vpn < hi:
                continue
            acc[-1].add(vpn)
            if op == OP_WRITE:
                wr[-1].add(vpn)
                last[vpn] = page
                every.setdefault(vpn, []).append(page)
    return Samples(acc, wr, last, every)


def precision_recall(found: set[int], truth: set[int]) -> tuple[float, float]:
    hit = len(found & truth)
    return (hit / len(found) if found else 1.0, hit / len(truth) if truth else 1.0)


@dataclasses.dataclass
class SourceScore:
    source: str
    samples: int
    accessed_precision: float
    accessed_recall: float
    written_precision: float
    written_recall: float
    read_recall_per_sample: float  # mean over the samples while the program ran its rounds
    write_recall_per_sample: float

    def row(self) -> str:
        return (f"{self.source:<13} {self.samples:>7} {self.accessed_precision:>9.3f} "
                f"{self.accessed_recall:>9.3f} {self.written_precision:>9.3f} {self.written_recall:>9.3f} "
                f"{self.read_recall_per_sample:>9.3f} {self.write_recall_per_sample:>9.3f}")

    HEADER = (f"{'source':<13} {'samples':>7} {'acc.prec':>9} {'acc.rec':>9} {'wr.prec':>9} "
              f"{'wr.rec':>9} {'rd/sample':>9} {'wr/sample':>9}")


def score(source: str, s: Samples, touched: set[int], written: set[int]) -> SourceScore:
    """Scores of ``s`` against the pages ``touched`` (read or written) and ``written``."""
    acc_all = set().union(*s.accessed) if s.accessed else set()
    wr_all = set().union(*s.written) if s.written else set()
    ap, ar = precision_recall(acc_all, touched)
    wp, wrc = precision_recall(wr_all, written)
    reads = touched - written
    # samples strictly between the first and the last that saw a known write: the program's
    # start-up and its last, partial interval say nothing about the source
    seen = [k for k, w in enumerate(s.written) if w & written]
    mid = list(zip(s.accessed, s.written, strict=True))[seen[0] + 1 : seen[-1]] if seen else []
    rd = [len(a & reads) / len(reads) for a, _ in mid] if reads and mid else [0.0]
    ws = [len(w & written) / len(written) for _, w in mid] if written and mid else [0.0]
    return SourceScore(source, len(s.accessed), ap, ar, wp, wrc, sum(rd) / len(rd), sum(ws) / len(ws))
