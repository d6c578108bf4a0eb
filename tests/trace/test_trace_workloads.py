"""Synthetic access workloads: reproducible by seed, first touches are writes, each has the shape
its name promises (checked on the access arrays and through trace info's reuse distances)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ghostswap_cli.codec.trace import OP_READ, OP_WRITE, open_trace, open_trace_writer, summarize
from ghostswap_cli.replay.workloads import WORKLOADS, synthesize_workload, workload_accesses


@pytest.mark.parametrize("workload", WORKLOADS)
def test_same_seed_same_bytes_and_first_touch_writes(tmp_path: Path, workload: str) -> None:
    a, b, c = (tmp_path / n for n in ("a.gst", "b.gst", "c.gst"))
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        with open_trace_writer(path, "binary") as w:
            synthesize_workload(w, workload, pages=512, events=4000, seed=seed)
    assert a.read_bytes() == b.read_bytes()
    if workload != "scan":  # a scan's order does not depend on the seed, its contents do
        assert a.read_bytes() != c.read_bytes()
    seen = set()
    with open_trace(a) as r:
        assert r.version == 2
        last = -1
        for op, vpn, _c, t in r.timed(materialize=False):
            assert op in (OP_READ, OP_WRITE)
            if vpn not in seen:
                assert op == OP_WRITE
                seen.add(vpn)
            assert t >= last
            last = t


def test_shapes() -> None:
    idx, _ = workload_accesses("scan", 100, 1000)
    assert idx.tolist()[:205] == list(range(100)) * 2 + list(range(5))
    idx, _ = workload_accesses("zipf", 1000, 50_000, skew=1.2, seed=3)
    counts = np.bincount(idx, minlength=1000)
    top = np.sort(counts)[::-1]
    assert top[:50].sum() > 0.5 * (50_000 - 1000)  # a hot 5% takes most accesses
    idx, _ = workload_accesses("leaky", 800, 20_000, seed=1)
    hot = 100
    leaked = idx[idx >= hot]
    assert len(leaked) == 700 and len(np.unique(leaked)) == 700  # each leaked page touched once
    idx, _ = workload_accesses("phases", 800, 30_000, seed=1)
    first, last = idx[:10_000], idx[20_000:]
    assert first.max() < 400 and last.min() >= 400 and np.unique(last[-2000:]).size < 200


def test_scan_defeats_lru_zipf_does_not(tmp_path: Path) -> None:
    out = {}
    for workload in ("scan", "zipf"):
        p = tmp_path / f"{workload}.gst"
        with open_trace_writer(p, "binary") as w:
            synthesize_workload(w, workload, pages=1024, events=20_000, seed=0)
        with open_trace(p) as r:
            out[workload] = summarize(r)
    assert out["scan"].lru_hit_pages(512) == 0
    assert out["zipf"].lru_hit_pages(512) > 0.6 * out["zipf"].accesses


def test_synth_cli_workload(tmp_path: Path, run_cli) -> None:
    p = tmp_path / "w.trace"
    r = run_cli("trace", "synth", "--workload", "leaky", "--events", "3000", "--working-set", "256",
                "--seed", "4", "--no-progress", "-o", str(p))
    assert r.exit_code == 0, r.output
    assert "leaky workload, 3000 accesses" in r.output
    text = p.read_text()
    assert text.startswith("ghostswap-trace 2\n# synthetic access trace: ghostswap trace synth --workload leaky")
    r = run_cli("trace", "synth", "--workload", "zipf", "--events", "10", "--working-set", "4",
                "--mix", "file=1", "--no-progress", "-o", str(tmp_path / "x.trace"))
    assert r.exit_code != 0 and "workloads take contents" in r.output
    assert not (tmp_path / "x.trace").exists()
