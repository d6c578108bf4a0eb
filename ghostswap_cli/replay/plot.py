"""Draw a replay timeline (``ghostswap replay --timeline FILE.csv``) as a PNG.

Four panels share the event axis: zswap pool size (``pool_total_size``, drawn in MiB), pages
stored in zswap (``stored_pages``), the running compression ratio of the pages zswap accepted
(``compression_ratio``), and the pages that left zswap for a real swap file
(``written_back_pages``) beside the pages a ghost area could not take (``stayed_resident``).

matplotlib is an optional extra (``pip install 'ghostswap[plot]'``); it is imported only
here, only when a plot is drawn, and always with the non-interactive Agg backend so that no
display is needed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ghostswap_cli.errors import GhostswapError

__all__ = ("PlotError", "PLOT_EXTRA_HINT", "read_timeline", "plot_timeline")

PLOT_EXTRA_HINT = "pip install 'ghostswap[plot]'"

# the columns a plot needs; a timeline may carry more (see TIMELINE_COLUMNS in trace_replay.py)
NEEDED = (
    "event",
    "pool_total_size",
    "stored_pages",
    "compression_ratio",
    "written_back_pages",
    "stayed_resident",
)


class PlotError(GhostswapError):
    """A plot cannot be drawn: matplotlib missing, or a timeline that is not one."""


def read_timeline(csv_path: Path | str) -> dict[str, list[float]]:
    """Read a timeline CSV into columns of numbers; raise :class:`PlotError` on a bad file."""
    path = Path(csv_path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in NEEDED if c not in header]
            if missing:
                raise PlotError(
                    f"{path}: not a replay timeline (missing column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)}; write one with ghostswap replay --timeline)"
                )
            columns: dict[str, list[float]] = {c: [] for c in header}
            for lineno, row in enumerate(reader, start=2):
                for c in header:
                    text = row.get(c)
                    try:
                        value = float(text) if text is not None else math.nan
                    except ValueError:
                        raise PlotError(f"{path}:{lineno}: {c}: not a number: {text!r}") from None
                    columns[c].append(value)
    except OSError as e:
        raise PlotError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise PlotError(f"{path}: not a text file") from None
    if not columns["event"]:
        raise PlotError(f"{path}: the timeline has no rows")
    return columns


def _import_pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PlotError(f"plotting needs matplotlib: {PLOT_EXTRA_HINT}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_timeline(csv_path: Path | str, png_path: Path | str, title: str | None = None) -> Path:
    """Draw the timeline in ``csv_path`` to ``png_path`` (written only when drawing succeeds).

    Raises :class:`PlotError` when matplotlib is not installed (naming the ``plot`` extra) or
    when the CSV is not a replay timeline.
    """
    cols = read_timeline(csv_path)
    plt = _import_pyplot()
    png = Path(png_path)
    events = cols["event"]
    mib = [v / (1 << 20) for v in cols["pool_total_size"]]

    fig, axes = plt.subplots(4, 1, sharex=True, figsize=(9, 9.5), constrained_layout=True)
    try:
        fig.suptitle(title or f"ghostswap replay timeline: {Path(csv_path).name}")
        ax_pool, ax_stored, ax_ratio, ax_wb = axes

        ax_pool.plot(events, mib, color="tab:blue", linewidth=1.2)
        ax_pool.set_ylabel("pool size (MiB)")
        ax_pool.set_title("zswap pool_total_size", fontsize="small", loc="left")

        ax_stored.plot(events, cols["stored_pages"], color="tab:green", linewidth=1.2)
        ax_stored.set_ylabel("stored pages")
        ax_stored.set_title("zswap stored_pages", fontsize="small", loc="left")

        ax_ratio.plot(events, cols["compression_ratio"], color="tab:purple", linewidth=1.2)
        ax_ratio.set_ylabel("compression ratio")
        ax_ratio.set_title("original / compressed bytes of accepted pages", fontsize="small",
                           loc="left")

        ax_wb.plot(events, cols["written_back_pages"], color="tab:red", linewidth=1.2,
                   label="written back (to a real swap file)")
        ax_wb.plot(events, cols["stayed_resident"], color="tab:orange", linewidth=1.2,
                   linestyle="--", label="stayed resident (ghost write failed)")
        ax_wb.set_ylabel("pages")
        ax_wb.set_title("writeback and ghost write failures (cumulative)", fontsize="small",
                        loc="left")
        ax_wb.legend(loc="upper left", fontsize="small")
        ax_wb.set_xlabel("trace event")

        for ax in axes:
            ax.grid(True, alpha=0.3)
            # from zero, with headroom: a flat series (a steady ratio) would sit on the top edge
            top = ax.get_ylim()[1]
            ax.set_ylim(0, top * 1.1 if top > 0 else 1)
            ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax_wb.set_xlim(left=0, right=max(events[-1], 1))

        tmp = png.with_name(f".{png.name}.tmp")
        try:
            fig.savefig(tmp, format="png", dpi=100)
            tmp.replace(png)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise PlotError(f"{png}: {e.strerror}") from None
    finally:
        plt.close(fig)
    return png
