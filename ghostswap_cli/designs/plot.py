"""Draw a design-lab timeline (``ghostswap designs --timeline``) to a PNG.

matplotlib is optional (the ``plot`` extra) and imported only here, only when a plot is asked
for; without it the command fails with one line naming the extra.
"""

from __future__ import annotations

import csv
import os

from ghostswap_cli.errors import ToolError

__all__ = ("PLOT_MISSING", "require_matplotlib", "plot_metadata_timeline")

PLOT_MISSING = "--plot needs matplotlib: install the 'plot' extra (pip install 'ghostswap[plot]')"


def require_matplotlib() -> None:
    """Fail early, before a long replay, when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ToolError(PLOT_MISSING) from None


def plot_metadata_timeline(csv_path: os.PathLike[str] | str, png_path: os.PathLike[str] | str, *,
                           title: str = "swap metadata per design") -> None:
    """One line per design: metadata bytes (KiB) over trace events."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:1] != ["event"]:
        raise ToolError(f"{csv_path}: not a design-lab timeline (no 'event' column)")
    header, data = rows[0], rows[1:]
    try:
        events = [int(r[0]) for r in data]
        series = {
            name.removesuffix("_metadata_bytes"): [int(r[i]) / 1024 for r in data]
            for i, name in enumerate(header) if i
        }
    except (ValueError, IndexError):
        raise ToolError(f"{csv_path}: malformed timeline row") from None
    fig = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(fig)  # a canvas of our own: no pyplot, no global backend switch
    ax = fig.subplots()
    for name, values in series.items():
        ax.step(events, values, where="post", label=name)
    ax.set_xlabel("trace event")
    ax.set_ylabel("swap metadata (KiB)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    try:
        fig.savefig(png_path, format="png")
    except OSError as e:
        raise ToolError(f"{png_path}: {e.strerror}") from None
