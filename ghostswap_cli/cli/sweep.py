"""``ghostswap sweep SPEC``: a grid of replays or design-lab runs, on a process pool or Dask;
``sweep plot RESULTS`` and ``sweep export RESULTS`` read what it wrote."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from ghostswap_cli.cli.app import App, pass_app

EXIT_USAGE = 2


class SweepGroup(click.Group):
    """``sweep SPEC`` is ``sweep run SPEC``: the first word names a subcommand or is the spec."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        i = 0
        while i < len(args) and args[i] == "--state":  # the group's own option
            i += 2
        if i < len(args) and args[i] not in self.commands and args[i] not in ("-h", "--help"):
            args = [*args[:i], "run", *args[i:]]
        return super().parse_args(ctx, args)


@click.group(cls=SweepGroup, short_help="Run a grid of replays or design-lab runs, locally or on Dask.",
             epilog="`ghostswap sweep SPEC` is short for `ghostswap sweep run SPEC`. See ghostswap-sweep(1).")
def sweep() -> None:
    """Run every point of a grid (traces × settings × designs × compressors) as one
    deterministic job keyed by a hash of its inputs; append one row per point to a results file
    that a later --resume continues; plot or export the results."""


def _format_axes(row: dict[str, Any]) -> str:
    skip = {"key", "status", "error"}
    return " ".join(f"{k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in row.items()
                    if k not in skip)


@sweep.command("run", short_help="Run the points of SPEC not done yet.")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="NAME=V1,V2,...", help="Make NAME an axis with these values, replacing the spec's (repeatable; trace=A,B picks traces).")
@click.option("-o", "--results", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Results file (JSON lines) [default: the spec's results, else SPEC.jsonl].")
@click.option("--engine", type=click.Choice(["pool", "dask"]), default="pool", show_default=True, help="Local process pool, or a Dask distributed cluster.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N", help="Worker processes (pool, or a Dask LocalCluster) [default: the CPUs this process may use].")
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler to submit to, e.g. tcp://host:8786 [default: start a LocalCluster].")
@click.option("--ship", is_flag=True, help="Send each trace's bytes to every Dask worker once, for workers without the spec's file system.")
@click.option("--resume", is_flag=True, help="Continue an existing results file: run only points without an ok row.")
@click.option("--overwrite", is_flag=True, help="Empty an existing results file first.")
@click.option("--scratch", type=click.Path(file_okay=False, exists=True), metavar="DIR", help="Where points make their throwaway kernels, e.g. a tmpfs such as /dev/shm [default: $TMPDIR of each worker].")
@click.option("--retries", type=click.IntRange(min=0), default=1, show_default=True, metavar="N", help="Run a point again up to N times when its worker dies.")
@click.option("--list", "list_only", is_flag=True, help="Print the points (key, trace, axes, done or not) and run nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@pass_app
def run(app: App, spec_path: Path, sets: tuple[str, ...], results: Path | None, engine: str,
        jobs: int | None, scheduler: str | None, ship: bool, resume: bool, overwrite: bool,
        scratch: str | None, retries: int, list_only: bool, as_json: bool, no_progress: bool) -> None:
    """Run every point of the grid in SPEC (a TOML file) that the results file does not hold
    yet, each in its own throwaway state directory, and append one JSON line per point.

    Exit status: 0 every point ok; 1 some point failed (its row says why) or the sweep could
    not start; 2 a bad spec or option; 128+N stopped by signal N (resume with --resume).
    """
    from ghostswap_cli.sweep.runner import SweepOptions, plan, run_sweep
    from ghostswap_cli.sweep.spec import load_spec

    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite are mutually exclusive")
    if scheduler and engine != "dask":
        raise click.UsageError("--scheduler needs --engine dask")
    if ship and engine != "dask":
        raise click.UsageError("--ship needs --engine dask (the process pool reads the traces where they are)")
    term = app.terminal
    with app.guard():
        spec = load_spec(spec_path, sets, results)
        if engine == "dask":
            from ghostswap_cli.sweep.engines import DaskEngine

            DaskEngine(scheduler, 1)  # only checks that Dask is installed, before any work
        if list_only:
            _list_points(app, spec, plan(spec), as_json)
            return
        options = SweepOptions(engine=engine, jobs=jobs, scheduler=scheduler, ship=ship,
                               resume=resume, overwrite=overwrite, retries=retries,
                               scratch=os.path.abspath(scratch) if scratch else None)
        show_bar = not no_progress and term.is_interactive(sys.stderr)
        with _Progress(app, show_bar) as progress:
            summary = run_sweep(spec, options, on_start=progress.start, on_row=progress.row)
    if as_json:
        term.out(json.dumps(summary.to_json(), indent=2) + "\n")
    else:
        term.out(_format_summary(summary))
    if summary.interrupted:
        signum = signal.Signals[summary.interrupted]
        left = summary.to_run - summary.ok - summary.failed
        term.error(f"sweep stopped by {summary.interrupted}: {left} point{'s' if left != 1 else ''} not run; "
                   f"continue with: ghostswap sweep {spec_path} --resume")
        raise SystemExit(128 + signum)
    if summary.failed:
        raise SystemExit(1)


def _list_points(app: App, spec, points, as_json: bool) -> None:
    from ghostswap_cli.sweep.results import latest_rows, read_rows

    latest = latest_rows(read_rows(spec.results)[0]) if spec.results.exists() else {}
    items = [{"key": p.key, "trace": p.trace, **dict(p.axes),
              "done": latest.get(p.key, {}).get("status") == "ok"} for p in points]
    if as_json:
        app.terminal.out(json.dumps({"results": str(spec.results), "points": items}, indent=2) + "\n")
        return
    for item in items:
        app.terminal.out(f"{item['key']}  {'done' if item['done'] else 'todo'}  "
                         f"{_format_axes({k: v for k, v in item.items() if k != 'done'})}\n")


def _format_summary(s) -> str:
    rate = f" ({s.points_per_second:g} points/s)" if s.points_per_second else ""
    lines = [
        f"sweep {s.spec}: {s.points} point{'s' if s.points != 1 else ''}" + (f", {s.engine}" if s.engine else ""),
        f"{s.ok} ok, {s.failed} failed, {s.already_done} already done"
        + (f", {s.to_run - s.ok - s.failed} not run" if s.interrupted else "")
        + (f" in {s.elapsed:.1f} s{rate}" if s.to_run else ": nothing to run"),
        f"results {s.results}" + (f" (and {s.other_rows} rows of points not in this grid)"
                                  if s.other_rows else ""),
    ]
    for f in s.failures:
        lines.append(f"failed {f['key']} {_format_axes({k: v for k, v in f.items() if k != 'key'})}: "
                     f"{f['error']}")
    return "\n".join(lines) + "\n"


class _Progress:
    """A rich bar on stderr (points done, failed, ETA) when it is a terminal; else nothing."""

    def __init__(self, app: App, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled
        self.bar = None
        self.task = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def start(self, summary) -> None:
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("points,"),
            TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=self.app.terminal.console(sys.stderr), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("sweep", total=summary.to_run, failed=0)

    def row(self, row: dict[str, Any], summary) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=summary.ok + summary.failed, failed=summary.failed)
        if row["status"] != "ok":
            self.app.terminal.warning(f"point {row['key']} failed: {row['error']}")


@sweep.command("plot", short_help="Draw a figure against an axis from a results file to a PNG.")
@click.argument("results", metavar="RESULTS", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png", help="The PNG to write [default: RESULTS with a .png suffix].")
@click.option("-x", "--x", "x_axis", metavar="AXIS", help="Axis along the bottom [default: the first numeric axis that varies].")
@click.option("-y", "--y", "y_figure", metavar="FIGURE", help="Figure up the side [default: the first numeric figure].")
@click.option("--by", metavar="AXIS", help="One line per value of AXIS [default: design, else trace, else compressor, when it varies].")
@click.option("--where", multiple=True, metavar="AXIS=VALUE", help="Only points with this value (repeatable).")
@click.option("--title", metavar="TEXT", help="Title of the figure.")
@pass_app
def plot(app: App, results: Path, output: Path | None, x_axis: str | None, y_figure: str | None,
         by: str | None, where: tuple[str, ...], title: str | None) -> None:
    """Draw FIGURE of every finished point in RESULTS against AXIS, one line per value of
    --by (and of every other axis that varies and is not pinned by --where), to a PNG.

    Needs matplotlib: pip install 'ghostswap[plot]'.
    """
    from ghostswap_cli.sweep.plot import plot_results

    png = output if output is not None else results.with_suffix(".png")
    if png == results:
        app.abort(f"{png}: the PNG would replace the results; use -o", 1)
    with app.guard():
        what = plot_results(results, png, x=x_axis, y=y_figure, by=by, where=where, title=title)
    app.terminal.info(f"wrote {png}: {what}")


@sweep.command("export", short_help="Write a results file as CSV.")
@click.argument("results", metavar="RESULTS", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.csv", help="The CSV to write [default: RESULTS with a .csv suffix].")
@click.option("--failed", is_flag=True, help="Include the rows of failed points (with their error).")
@pass_app
def export(app: App, results: Path, output: Path | None, failed: bool) -> None:
    """Write the last row of every point in RESULTS as CSV, one column per axis and figure."""
    from ghostswap_cli.sweep.plot import export_csv

    out = output if output is not None else results.with_suffix(".csv")
    if out == results:
        app.abort(f"{out}: the CSV would replace the results; use -o", 1)
    with app.guard():
        n = export_csv(results, out, failed=failed)
    app.terminal.info(f"wrote {out}: {n} rows")
