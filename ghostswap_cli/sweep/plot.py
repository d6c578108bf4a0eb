"""``sweep plot`` and ``sweep export``: read a results file, draw a figure against an axis.

A row's columns before ``status`` are its inputs (``trace`` and the axes), those after it its
figures; so a results file says by itself what can be plotted against what.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ghostswap_cli.errors import ToolError

__all__ = ("Table", "load_table", "plot_results", "export_csv", "SIZE_AXES")

SIZE_AXES = {"ghost_size", "real_size", "pool_limit", "ram"}  # drawn in MiB


class Table:
    def __init__(self, path: Path, rows: list[dict[str, Any]]) -> None:
        self.path = path
        self.rows = rows
        self.inputs: list[str] = []
        self.figures: list[str] = []
        for row in rows:
            names = list(row)
            cut = names.index("status")
            for n in names[1:cut]:
                if n not in self.inputs:
                    self.inputs.append(n)
            for n in names[cut + 1:]:
                if n not in self.figures and n != "error":
                    self.figures.append(n)

    def varying(self, rows: list[dict[str, Any]] | None = None) -> list[str]:
        rows = self.rows if rows is None else rows
        return [n for n in self.inputs if len({_hashable(r.get(n)) for r in rows}) > 1]


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True)


def load_table(path: Path) -> Table:
    from ghostswap_cli.sweep.results import latest_rows, read_rows

    rows, _ = read_rows(path)
    ok = [r for r in latest_rows(rows).values() if r["status"] == "ok"]
    if not ok:
        raise ToolError(f"{path}: no finished points to plot")
    return Table(path, ok)


def column(table: Table, name: str, option: str) -> str:
    """An axis by its name, or a /sys path axis by its last component (max_pool_percent)."""
    if name in table.inputs:
        return name
    matches = [n for n in table.inputs if n.startswith("/") and n.rsplit("/", 1)[1] == name]
    if len(matches) == 1:
        return matches[0]
    raise ToolError(f"{option} {name}: no such axis (axes: {', '.join(table.inputs)})", 2)


def _parse_where(table: Table, where: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for item in where:
        name, sep, value = item.partition("=")
        if not sep:
            raise ToolError(f"--where {item!r}: expected AXIS=VALUE", 2)
        out.append((column(table, name, "--where"), value))
    return out


def _matches(row: dict[str, Any], name: str, value: str) -> bool:
    v = row.get(name)
    return str(v) == value or _hashable(v) == value or (
        name in SIZE_AXES and isinstance(v, int) and _size_equals(v, value))


def _size_equals(v: int, text: str) -> bool:
    from ghostswap_cli.units import SizeError, parse_size

    try:
        return parse_size(text) == v
    except SizeError:
        return False


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, list) and v and all(isinstance(x, int) for x in v):
        return float(sum(v))  # real_size of several files: their total
    return None


def choose(table: Table, x: str | None, y: str | None, by: str | None,
           where: Sequence[str]) -> tuple[str, str, str | None, list[dict[str, Any]]]:
    """The axis, figure, line grouping and rows of a plot, defaults filled in."""
    rows = table.rows
    for name, value in _parse_where(table, where):
        rows = [r for r in rows if _matches(r, name, value)]
        if not rows:
            raise ToolError(f"--where {name}={value}: no finished point has it", 2)
    varying = table.varying(rows)
    if x is None:
        numeric = [n for n in varying if n != "trace" and all(_number(r.get(n)) is not None for r in rows)]
        candidates = numeric or [n for n in varying if n != "trace"] or varying or table.inputs
        x = candidates[0]
    else:
        x = column(table, x, "--x")
    if y is None:
        y = next((f for f in table.figures if all(_number(r.get(f)) is not None for r in rows)), None)
        if y is None:
            raise ToolError(f"{table.path}: no numeric figure to plot")
    elif y not in table.figures:
        raise ToolError(f"--y {y}: no such figure (figures: {', '.join(table.figures)})", 2)
    if by is None:
        by = next((n for n in ("design", "trace", "compressor") if n in varying and n != x), None)
    else:
        by = column(table, by, "--by")
    return x, y, by, rows


def _label_value(name: str, v: Any) -> str:
    if name in SIZE_AXES and isinstance(v, int):
        from ghostswap_cli.units import size_to_human_string

        return size_to_human_string(v)
    if isinstance(v, list):
        return "+".join(_label_value(name, x) for x in v)
    return str(v)


def plot_results(path: Path, png: Path, *, x: str | None = None, y: str | None = None,
                 by: str | None = None, where: Sequence[str] = (), title: str | None = None) -> str:
    """Draw ``y`` against ``x``, one line per value of ``by`` (and of any other axis that varies
    and is not pinned with ``where``). Returns a one-line description of what was drawn."""
    from ghostswap_cli.designs.plot import require_matplotlib

    require_matplotlib()
    table = load_table(path)
    x, y, by, rows = choose(table, x, y, by, where)
    others = [n for n in table.varying(rows) if n not in (x, by)]
    group_names = ([by] if by else []) + others
    lines: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        lines.setdefault(tuple(_hashable(r.get(n)) for n in group_names), []).append(r)
    numeric_x = all(_number(r.get(x)) is not None for r in rows)
    size_x = x in SIZE_AXES and numeric_x
    categories: list[str] = []
    if not numeric_x:
        for r in rows:
            label = _label_value(x, r.get(x))
            if label not in categories:
                categories.append(label)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for group, members in lines.items():
        if numeric_x:
            pts = sorted((_number(r.get(x)), _number(r.get(y))) for r in members)
            xs = [p[0] / (1 << 20) if size_x else p[0] for p in pts]
        else:
            pts = sorted((categories.index(_label_value(x, r.get(x))), _number(r.get(y)))
                          for r in members)
            xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        label = ", ".join(f"{n}={_label_value(n, json.loads(v))}" if n != by else
                          _label_value(n, json.loads(v)) for n, v in zip(group_names, group, strict=True))
        ax.plot(xs, ys, marker="o", label=label or y)
    if not numeric_x:
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels(categories)
    ax.set_xlabel(f"{x} (MiB)" if size_x else x)
    ax.set_ylabel(y)
    ax.grid(True, alpha=0.3)
    if len(lines) > 1 or group_names:
        ax.legend(fontsize="small", title=by if by and not others else None)
    ax.set_title(title or f"{y} against {x.rsplit('/', 1)[-1]}: {path.name}")
    fig.tight_layout()
    replace_file(png, lambda tmp: fig.savefig(tmp, format="png"))
    return f"{y} against {x}, {len(lines)} line{'s' if len(lines) != 1 else ''}" + (
        f" by {', '.join(group_names)}" if group_names else "")


def export_csv(path: Path, out: Path, *, failed: bool = False) -> int:
    """Every point's last row as CSV (lists as JSON); failed points only with ``failed``."""
    from ghostswap_cli.sweep.results import latest_rows, read_rows

    rows, _ = read_rows(path)
    rows = [r for r in latest_rows(rows).values() if failed or r["status"] == "ok"]
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(columns)
            for r in rows:
                w.writerow(["" if r.get(c) is None else json.dumps(r[c])
                            if isinstance(r.get(c), list | dict | bool) else r[c] for c in columns])

    replace_file(out, write)
    return len(rows)


def replace_file(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file beside ``path``, then rename it over ``path``: a failure
    leaves no half-written file (and any old one as it was)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise ToolError(f"{path}: {e.strerror}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
