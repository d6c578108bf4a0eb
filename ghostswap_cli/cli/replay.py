"""``ghostswap replay TRACE``: run a page trace through the simulated kernel and zswap."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.units import size_to_human_string

# exit status when some page came back with the wrong bytes
EXIT_CORRUPT = 3

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int], width: int = 60) -> str:
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [max(values[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)]) for i in range(width)]
    top = max(values) or 1
    return "".join(SPARK[min(len(SPARK) - 1, v * (len(SPARK) - 1) // top)] for v in values)


def format_report(report) -> str:
    r = report
    h = size_to_human_string
    lines = [
        f"replay of {r.trace} ({r.format}, {r.page_size}-byte pages, compressor {r.compressor})",
        f"events            {r.events} (out {r.swapped_out}, in {r.swapped_in}, free {r.freed})"
        + (f" in {r.elapsed:.2f} s, {r.events / r.elapsed:,.0f} events/s" if r.elapsed else ""),
        f"zswap stored      {r.stored_pages} pages now; {r.zswap_accepted_pages} accepted, "
        f"compression ratio {r.compression_ratio:.2f}",
        f"zero pages        {r.zero_pages}",
        "rejected          " + (", ".join(f"{k} {v}" for k, v in r.rejected.items() if v) or "none"),
        f"written back      {r.written_back_pages} pages",
        f"stayed resident   {r.stayed_resident} pages (ghost write failed)",
        f"corrupt pages     {r.corrupt_pages}",
        f"pool size         {h(r.pool_total_size)} now, {h(r.pool_peak_size)} peak",
        f"compress ahead    {r.compress_ahead}",
    ]
    if r.implicit_swapins or r.in_not_swapped or r.no_swap_space:
        lines.append(
            f"notes             {r.implicit_swapins} implicit swap-ins, {r.in_not_swapped} "
            f"swap-ins of pages not swapped out, {r.no_swap_space} swap-outs with no free slot"
        )
    if r.corrupt_vpns:
        shown = ", ".join(hex(v) for v in r.corrupt_vpns[:8])
        lines.append(f"corrupt at        {shown}{' ...' if len(r.corrupt_vpns) > 8 else ''}")
    lines.append("slots used")
    if not r.devices:
        lines.append("  (no active swap areas)")
    width = max((len(d["name"]) for d in r.devices), default=0)
    for d in r.devices:
        lines.append(
            f"  {d['name']:<{width}}  {d['type']:<5}  prio {d['prio']:>6}  "
            f"{d['used_pages']} of {d['size_pages']} pages"
        )
    return "\n".join(lines) + "\n"


@click.command(short_help="Replay a page trace through the kernel and zswap.")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--compressor", metavar="NAME", help="zswap compressor for this replay (lz4, lz4hc, zstd, deflate, lzo).")
@click.option("--level", type=int, metavar="N", help="Compression level for zstd, lz4hc or deflate.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--timeline", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.csv", help="Write pool size, stored pages, ratio and writeback over events.")
@click.option("--timeline-every", type=click.IntRange(min=1), default=1000, show_default=True, metavar="N", help="Events between timeline rows.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png", help="Draw the timeline to a PNG (needs the 'plot' extra).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--allow-dir", "allow_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path), metavar="DIR", help="Also allow file: pages from DIR (repeatable).")
@click.option("--compress-ahead", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True, help="Compress swap-outs ahead in a second process (auto: with 2+ CPUs and a trace of 4 MiB or more).")
@click.option("--commit-every", type=click.IntRange(min=0), default=0, metavar="N", help="Commit the state every N events (default: one transaction for the whole replay).")
@click.option("--memory-max", metavar="SIZE", help="Access traces: memory.max of the workload cgroup for this replay (bytes, K/M/G suffix, or max).")
@click.option("--memory-high", metavar="SIZE", help="Access traces: memory.high for this replay.")
@click.option("--memory-swap-max", metavar="SIZE", help="Access traces: memory.swap.max for this replay.")
@click.option("--memory-zswap-max", metavar="SIZE", help="Access traces: memory.zswap.max for this replay.")
@click.option("--swappiness", type=click.IntRange(0, 200), metavar="N", help="Access traces: vm.swappiness for this replay.")
@click.option("--reclaim-policy", type=click.Choice(["lru", "mglru"]), help="Access traces: the two-list LRU or MGLRU (default: /sys/kernel/mm/lru_gen/enabled).")
@pass_app
def replay(app: App, trace: Path, compressor: str | None, level: int | None, as_json: bool,
           timeline: Path | None, timeline_every: int, plot: Path | None, no_progress: bool,
           allow_dirs: tuple[Path, ...], compress_ahead: str, commit_every: int,
           memory_max: str | None, memory_high: str | None, memory_swap_max: str | None,
           memory_zswap_max: str | None, swappiness: int | None, reclaim_policy: str | None) -> None:
    """Replay TRACE (text or binary) through the simulated kernel and its zswap pool.

    Swap-outs take a slot on the active areas and go to the zeromap, zswap, the swap file, or
    stay resident (ghost); swap-ins check every page's bytes against what went out. The whole
    replay is one transaction: a malformed trace or a kill leaves the state as before.

    An access trace (read/write events) runs as a process in the cgroup
    /sys/fs/cgroup/workload under the machine's memory settings: the simulated reclaim decides
    what is swapped, and the report gives swap-outs and refaults per second and per 1k
    accesses, the peak zswap pool and its share of the limit, writeback and OOM kills.
    """
    from ghostswap_cli.codec.trace import open_trace
    from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace

    if plot is not None:
        _check_plot_extra(app)
        if timeline is None:
            timeline = plot.with_suffix(".csv")
    term = app.terminal
    with app.guard(f"{trace}: " if not trace.exists() else ""), contextlib.ExitStack() as stack:
        if not trace.exists():
            from ghostswap_cli.errors import ToolError

            raise ToolError("No such file or directory")
        timeline_file = (
            stack.enter_context(open(timeline, "w", newline="", encoding="utf-8"))
            if timeline else None
        )
        reader = stack.enter_context(open_trace(trace, allow_dirs=allow_dirs))
        k = stack.enter_context(app.kernel())
        from ghostswap_cli.replay.access_replay import is_access_trace

        if is_access_trace(reader):
            from ghostswap_cli.replay.access_replay import AccessOptions, replay_access_trace

            access = AccessOptions(
                memory_max=memory_max, memory_high=memory_high, memory_swap_max=memory_swap_max,
                memory_zswap_max=memory_zswap_max, swappiness=swappiness, policy=reclaim_policy,
                compressor=compressor, level=level, timeline=timeline_file,
                timeline_every=timeline_every if timeline_every != 1000 else 10_000,
            )
            areport = replay_access_trace(k, reader, access)
            stack.close()
            _access_output(app, areport, as_json, plot, timeline, trace)
            return
        options = ReplayOptions(
            compressor=compressor, level=level, timeline=timeline_file,
            timeline_every=timeline_every, commit_every=commit_every,
            compress_ahead=compress_ahead,
        )
        if not no_progress and term.is_interactive(sys.stderr):
            report = _with_progress(app, reader, options, k)
        else:
            report = replay_trace(k, reader, options)
    if plot is not None and timeline is not None:
        from ghostswap_cli.replay.plot import plot_timeline

        with app.guard():
            plot_timeline(timeline, plot, title=f"ghostswap replay of {trace.name}")
    if as_json:
        term.out(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        term.out(format_report(report))
        if term.is_interactive(sys.stdout):
            term.out(f"pool size         {sparkline(report.pool_samples)}\n")
    if report.corrupt_pages:
        raise SystemExit(EXIT_CORRUPT)


def _access_output(app: App, report, as_json: bool, plot: Path | None, timeline: Path | None,
                   trace: Path) -> None:
    from ghostswap_cli.replay.access_report import format_access_report

    if plot is not None and timeline is not None:
        from ghostswap_cli.replay.memory_plot import plot_memory_timeline

        with app.guard():
            plot_memory_timeline(timeline, plot, title=f"ghostswap replay of {trace.name}")
    if as_json:
        app.terminal.out(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        app.terminal.out(format_access_report(report))
    if report.corrupt_pages:
        raise SystemExit(EXIT_CORRUPT)


def _check_plot_extra(app: App) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        app.abort("--plot needs matplotlib: install the 'plot' extra (pip install 'ghostswap[plot]')", 1)


def _with_progress(app: App, reader, options, k):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ghostswap_cli.replay.trace_replay import replay_trace

    total = getattr(reader, "size", None) or None
    console = app.terminal.console(sys.stderr)
    with Progress(
        TextColumn("replay"), BarColumn(), TextColumn("{task.fields[events]} events"),
        TimeRemainingColumn(), console=console, transient=True,
    ) as progress:
        task = progress.add_task("replay", total=total, events=0)

        def update(events: int, nbytes: int) -> None:
            progress.update(task, completed=nbytes, events=events)

        options.progress = update
        return replay_trace(k, reader, options)
