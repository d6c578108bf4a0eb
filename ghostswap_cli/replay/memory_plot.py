"""Plots for access replays: the memory timeline of one run, and the curve over memory limits.

matplotlib is the optional ``plot`` extra, imported here only, with the Agg backend.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from ghostswap_cli.replay.plot import PLOT_EXTRA_HINT, PlotError

__all__ = ("plot_memory_timeline", "plot_curve")

MIB = 1 << 20


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(f"plotting needs matplotlib: {PLOT_EXTRA_HINT}") from None
    return plt


def plot_memory_timeline(csv_path: Path | str, png: Path | str, title: str = "") -> None:
    """Memory charged, zswap pool, and cumulative swap-outs and refaults over accesses."""
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "memory_current" not in rows[0]:
        raise PlotError(f"{csv_path}: not an access-replay timeline")
    x = [float(r["accesses"]) for r in rows]
    col = {k: [float(r[k]) for r in rows] for k in rows[0] if k != "accesses"}
    plt = _pyplot()
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    a.plot(x, [v / MIB for v in col["memory_current"]], label="memory.current")
    a.plot(x, [v / MIB for v in col["zswap_bytes"]], label="zswap (compressed)")
    a.plot(x, [v / MIB for v in col["pool_total_size"]], label="pool_total_size")
    a.set_ylabel("MiB")
    a.set_ylim(bottom=0)
    a.legend(loc="best")
    b.plot(x, [o + z for o, z in zip(col["pswpout"], col["zswpout"], strict=True)], label="swap-outs (zswpout + pswpout)")
    b.plot(x, col["workingset_refault_anon"], label="refaults")
    b.plot(x, col["pswpout"], label="pswpout (disk)")
    b.set_ylabel("pages (cumulative)")
    b.set_xlabel("accesses")
    b.set_ylim(bottom=0)
    b.legend(loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def plot_curve(curves: Sequence[dict], png: Path | str, title: str = "") -> None:
    """``advise --curve``: refaults per 1k accesses and peak zswap pool against memory.max,
    one line per workload (``curves``: dicts with ``name`` and ``points``)."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    for curve in curves:
        pts = curve["points"]
        xs = [p["memory_max"] / MIB for p in pts]
        a.plot(xs, [p["refaults_per_1k"] for p in pts], marker="o", label=curve["name"])
        b.plot(xs, [p["peak_zswap_bytes"] / MIB for p in pts], marker="o", label=curve["name"])
    a.set_xlabel("memory.max (MiB)")
    a.set_ylabel("refaults per 1k accesses")
    a.set_ylim(bottom=0)
    b.set_xlabel("memory.max (MiB)")
    b.set_ylabel("peak zswap pool (MiB, compressed)")
    b.set_ylim(bottom=0)
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
