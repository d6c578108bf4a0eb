#!/usr/bin/env python3
"""Regenerate docs/memory-curve.png and docs/memory-curve.md: `ghostswap advise --curve` and
`advise --memory-max` on each synthetic access workload (16 MiB of anonymous memory, 60000
accesses, seed 14) on a 512 MiB distro-6.1 machine with lz4.

usage: python3 docs/make_memory_curve.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ghostswap_cli.designs import memory_advise as ma  # noqa: E402
from ghostswap_cli.replay.memory_plot import plot_curve  # noqa: E402

PAGES, EVENTS = 4096, 60_000
WORKLOADS = ("zipf", "scan", "phases", "leaky")
LIMITS = "25%:100%:12.5%"
ADVISE_AT = "50%"


def main() -> None:
    curves, md = [], ["# Memory curves of the synthetic workloads", "",
                      f"`ghostswap trace synth --workload W --events {EVENTS} --working-set {PAGES} "
                      "--seed 14`, replayed on a 512 MiB `distro-6.1` machine with lz4 "
                      "(`ghostswap advise --curve --memory-max 25%:100%:12.5%`). "
                      "Regenerate with `python3 docs/make_memory_curve.py`.", "",
                      "Refaults count every page read back from swap, swap readahead included, so a scan under a tight limit can exceed one per access (pages read ahead and reclaimed again before use).", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for w in WORKLOADS:
            trace = Path(tmp) / f"{w}.gst"
            subprocess.run([sys.executable, "-m", "ghostswap_cli", "trace", "synth", "--no-progress",
                            "--workload", w, "--events", str(EVENTS), "--working-set", str(PAGES),
                            "--seed", "14", "--format", "binary", "-o", str(trace)],
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            foot = ma.footprint_bytes(trace)
            kw = dict(ram=512 << 20, config="distro-6.1", compressor="lz4", policy="lru")
            points = ma.memory_curve(trace, ma.parse_limits(LIMITS, foot), **kw)
            curves.append({"name": w, "points": [p.to_dict() for p in points]})
            advice = ma.advise_memory(trace, ma.parse_limits(ADVISE_AT, foot)[0], **kw)
            md += [f"## {w}", "", "```", ma.format_curve(points).rstrip(), "```", "",
                   f"`ghostswap advise --memory-max {ADVISE_AT} {w}.gst`:", "", "```",
                   ma.format_memory_advice(advice).replace(str(trace), f"{w}.gst").rstrip(), "```", ""]
            print(w, "done", flush=True)
    plot_curve(curves, ROOT / "docs" / "memory-curve.png",
               title="refaults and zswap pool against memory.max (16 MiB workloads, lz4, Linux 6.1 model)")
    (ROOT / "docs" / "memory-curve.md").write_text("\n".join(md))
    (ROOT / "docs" / "memory-curve.json").write_text(json.dumps(curves, indent=1) + "\n")


if __name__ == "__main__":
    main()
