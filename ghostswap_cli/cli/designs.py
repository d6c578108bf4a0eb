"""``ghostswap designs TRACE`` and ``ghostswap advise TRACE``: the design lab on the command line.

Both replay the trace once, for real, in a temporary state directory (``designs/lab.py``); the
user's state is never read or written. Tables are plain strings, byte-exact on any terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ghostswap_cli.cli.app import App, pass_app

# exit status when some page came back with the wrong bytes (as ghostswap replay)
EXIT_CORRUPT = 3

ADVISE_ROWS = (
    "metadata_peak_bytes",
    "metadata_static_at_peak_bytes",
    "metadata_dynamic_at_peak_bytes",
    "metadata_mean_bytes",
    "metadata_per_stored_page",
    "stored_pages_peak",
    "kept_resident",
)


def _size(option: str, text: str) -> int:
    from ghostswap_cli.units import SizeError, parse_size

    try:
        return parse_size(text)
    except SizeError:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 512MiB, 4G)", param_hint=option) from None


def format_value(kind: str, value: Any) -> str:
    from ghostswap_cli.designs.base import human_bytes

    if value is None:
        return "-"
    if kind == "bytes":
        return human_bytes(value)
    if kind == "float":
        return f"{value:.2f}"
    if kind == "bool":
        return "yes" if value else "no"
    return str(value)


def render_table(results: dict[str, dict[str, Any]], names: Sequence[str], keys: Sequence[str] | None = None,
                 headers: Sequence[str] | None = None, extra_rows: Sequence[Any] = ()) -> str:
    """Rows of ``ROWS`` (or ``keys``), then ``extra_rows``, down, designs across; labels left,
    values right-aligned."""
    from ghostswap_cli.designs.base import ROWS

    rows = [r for r in (*ROWS, *extra_rows) if r.kind != "text" and (keys is None or r.key in keys)]
    headers = list(headers or names)
    cells = [[format_value(r.kind, results[n][r.key]) for n in names] for r in rows]
    label_w = max(len(r.label) for r in rows)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = [" " * label_w + "".join(f"  {h:>{w}}" for h, w in zip(headers, widths, strict=True))]
    for r, row in zip(rows, cells, strict=True):
        lines.append(f"{r.label:<{label_w}}" + "".join(
            f"  {c:>{w}}" for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines) + "\n"


def _replay_line(r) -> str:
    return (f"replay           {r.compressor}: {r.compressed_pages} pages compressed "
            f"(ratio {r.compression_ratio:.2f}), {r.zero_pages} zero, {r.incompressible_pages} "
            f"incompressible; {r.verified_pages} pages checked on the way back, "
            f"{r.corrupt_pages} corrupt")


def _limit(value: int | None) -> str:
    from ghostswap_cli.designs.base import human_bytes

    return "max" if value is None else human_bytes(value)


def _pressure_lines(r) -> list[str]:
    p, o, m = r.profile, r.oracle, r.config["memory"]
    return [
        f"trace            {r.trace} ({r.format}, {r.page_size}-byte pages), access trace",
        f"accesses         {p['events']} (read {p['reads']}, write {p['writes']}, free {p['frees']}) "
        f"over {p['distinct_pages']} pages",
        f"memory           memory.max {_limit(m['memory_max_bytes'])}, memory.high "
        f"{_limit(m['memory_high_bytes'])}, memory.swap.max {_limit(m['memory_swap_max_bytes'])}, "
        f"swappiness {m['swappiness']}, reclaim {m['reclaim_policy']}; one cgroup per design",
        f"kernel replay    {o['kernel']}, one {_limit(o['real_swapfile_bytes'])} real swapfile: "
        f"{o['swap_outs']} swap-outs, {o['swap_ins']} swap-ins, {o['refaults']} refaults, "
        f"{o['written_back_pages']} written back, OOM {'at access ' + str(o['oom_at_access']) if o['oom_killed'] else 'no'}; "
        f"{r.verified_pages} pages checked on the way back, {r.corrupt_pages} corrupt",
        f"contents         {r.compressor}: {r.compressed_pages} distinct pages compressed "
        f"(ratio {r.compression_ratio:.2f}), {r.zero_pages} zero, {r.incompressible_pages} "
        "incompressible",
    ]


def format_designs(r) -> str:
    from ghostswap_cli.designs.base import human_bytes

    c = r.config
    p = r.profile
    names = c["designs"]
    ghost = human_bytes(c["ghost_size_bytes"]) + (" (auto)" if c["ghost_size_auto"] else "")
    real = " + ".join(human_bytes(s) for s in c["real_sizes_bytes"]) + (
        " (auto)" if c["real_sizes_auto"] else "")
    if c.get("mode") == "memory-pressure":
        from ghostswap_cli.designs.pressure import PRESSURE_ROWS

        lines = [
            *_pressure_lines(r),
            f"sizes            ghost {ghost}; real {real}",
            f"pool limit       {human_bytes(c['pool_limit_bytes'])} ({c['pool_limit']}), "
            f"stores resume at {human_bytes(c['accept_pages'] * r.page_size)}",
            "devices          " + "; ".join(f"{n}: {r.designs[n]['devices']}" for n in names),
            "",
        ]
        return "\n".join(lines) + render_table(r.designs, names, extra_rows=PRESSURE_ROWS)
    lines = [
        f"trace            {r.trace} ({r.format}, {r.page_size}-byte pages)",
        f"events           {r.events} (out {r.swapped_out}, in {r.swapped_in}, free {r.freed}); "
        f"peak {p['peak_swapped_pages']} pages out at once",
        _replay_line(r),
        f"sizes            ghost {ghost}; real {real}",
        f"pool limit       {human_bytes(c['pool_limit_bytes'])} ({c['pool_limit']}), "
        f"stores resume at {human_bytes(c['accept_pages'] * r.page_size)}",
        "devices          " + "; ".join(f"{n}: {r.designs[n]['devices']}" for n in names),
        "",
    ]
    return "\n".join(lines) + render_table(r.designs, names)


def _memory_settings(memory_max: str | None, memory_high: str | None, swap_max: str | None,
                     swappiness: int | None, policy: str | None):
    """The cgroup settings of ``designs`` on an access trace, or None when none is given."""
    from ghostswap_cli.designs.pressure import MemorySettings

    if (memory_max, memory_high, swap_max, swappiness, policy) == (None,) * 5:
        return None

    def limit(option: str, text: str | None) -> int | None:
        return None if text is None or text == "max" else _size(option, text)

    return MemorySettings(memory_max=limit("--memory-max", memory_max),
                          memory_high=limit("--memory-high", memory_high),
                          swap_max=limit("--memory-swap-max", swap_max),
                          swappiness=60 if swappiness is None else swappiness,
                          policy=policy or "lru")


def _lab_options(designs_text: str, ghost_size: str, real_sizes: tuple[str, ...], pool_limit: str | None,
                 max_pool_percent: int | None, compressor: str | None, param_specs: tuple[str, ...],
                 allow_dirs: tuple[Path, ...]):
    from ghostswap_cli.designs import KNOWN_PARAMS, ParamError, parse_designs
    from ghostswap_cli.designs.base import parse_param_specs
    from ghostswap_cli.designs.lab import LabOptions

    if pool_limit is not None and max_pool_percent is not None:
        raise click.UsageError("--pool-limit and --max-pool-percent are mutually exclusive")
    try:
        names = parse_designs(designs_text)
    except ParamError as e:
        raise click.BadParameter(str(e), param_hint="--designs") from None
    try:
        params = parse_param_specs(param_specs, KNOWN_PARAMS)
    except ParamError as e:
        raise click.BadParameter(str(e), param_hint="--param") from None
    return LabOptions(
        designs=names,
        ghost_size=None if ghost_size == "auto" else _size("--ghost-size", ghost_size),
        real_sizes=tuple(_size("--real-size", s) for s in real_sizes),
        pool_limit=None if pool_limit is None else _size("--pool-limit", pool_limit),
        max_pool_percent=max_pool_percent,
        compressor=compressor,
        params=params,
        allow_dirs=allow_dirs,
    )


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _trace_argument(f):
    return click.argument("trace", type=click.Path(exists=True, dir_okay=False, path_type=Path))(f)


def _allow_dir_option(f):
    return click.option("--allow-dir", "allow_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path), metavar="DIR", help="Also allow file: pages from DIR (repeatable).")(f)


@click.command(short_help="Compare swap designs from the RFC debate on one trace.",
               epilog="The models, their assumptions and the source of every constant: ghostswap-designs(1).")
@_trace_argument
@click.option("--designs", "designs_text", metavar="LIST", default="all", show_default=True, help="Comma-separated designs: mainline-6.18, swap-table, swap-tiers, ghost-rfc, ghost-grow, ghost-redirect, swap-table-dynamic, vswap-48, vswap-24, or all (old names accepted).")
@click.option("--ghost-size", metavar="SIZE", default="auto", show_default=True, help="Size the ghost swapfile declares (ghost-rfc, ghost-redirect); auto: what `ghostswap advise` recommends.")
@click.option("--real-size", "real_sizes", metavar="SIZE", multiple=True, help="A real swapfile (every design but ghost-rfc and ghost-grow; the first is swap-tiers' fast tier); repeat for more devices, highest priority first [default: one of the auto size].")
@click.option("--pool-limit", metavar="SIZE", help="zswap pool limit of every model.")
@click.option("--max-pool-percent", type=click.IntRange(0, 100), metavar="N", help="Pool limit as a percentage of lab.ram [default: 20].")
@click.option("--compressor", metavar="NAME", help="zswap compressor of the replay (lz4, lz4hc, zstd, deflate, lzo) [default: the kernel's].")
@click.option("--param", "param_specs", metavar="KEY=VALUE", multiple=True, help="Override a model constant, e.g. vswap-48.entry_bytes=64 (repeatable; see the man page for the keys).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--timeline", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.csv", help="Write each design's metadata bytes over events.")
@click.option("--timeline-every", type=click.IntRange(min=1), default=100, show_default=True, metavar="N", help="Events between timeline rows.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png", help="Draw the timeline to a PNG (needs the 'plot' extra).")
@click.option("--memory-max", metavar="SIZE", help="Access traces: memory.max of each design's cgroup (bytes, K/M/G suffix, or max).")
@click.option("--memory-high", metavar="SIZE", help="Access traces: memory.high of each design's cgroup.")
@click.option("--memory-swap-max", metavar="SIZE", help="Access traces: memory.swap.max of each design's cgroup.")
@click.option("--swappiness", type=click.IntRange(0, 200), metavar="N", help="Access traces: vm.swappiness [default: 60].")
@click.option("--reclaim-policy", type=click.Choice(["lru", "mglru"]), help="Access traces: the two-list LRU or MGLRU [default: lru].")
@_allow_dir_option
@pass_app
def designs(app: App, trace: Path, designs_text: str, ghost_size: str, real_sizes: tuple[str, ...],
            pool_limit: str | None, max_pool_percent: int | None, compressor: str | None,
            param_specs: tuple[str, ...], as_json: bool, timeline: Path | None, timeline_every: int,
            plot: Path | None, memory_max: str | None, memory_high: str | None,
            memory_swap_max: str | None, swappiness: int | None, reclaim_policy: str | None,
            allow_dirs: tuple[Path, ...]) -> None:
    """Replay TRACE once and put numbers on each swap design of the ghost swapfile debate.

    The replay runs for real (compression, zswap, byte-for-byte checks) on a throwaway kernel in a
    temporary directory; every model (mainline-6.18, swap-table, swap-tiers, ghost-rfc,
    ghost-grow, ghost-redirect, swap-table-dynamic, vswap-48, vswap-24) sees the same events and
    applies its own slots, pool limit and writeback. The table shows metadata
    bytes (peak, mean, per stored page), disk held, pages kept resident, writeback, slots wasted
    by redirection, lookups per swap-in and swapoff work. The state directory is not used.

    An access trace (read/write events) runs every design in a memory cgroup of its own under
    the same --memory-max/--memory-high/--memory-swap-max, with the simulated kernel's reclaim:
    the table adds resident pages, swap-outs, swap-ins, refaults and OOM.
    """
    from ghostswap_cli.designs.lab import run_lab

    options = _lab_options(designs_text, ghost_size, real_sizes, pool_limit, max_pool_percent,
                           compressor, param_specs, allow_dirs)
    options.timeline_every = timeline_every
    options.memory = _memory_settings(memory_max, memory_high, memory_swap_max, swappiness,
                                      reclaim_policy)
    with app.guard():
        if plot is not None:
            from ghostswap_cli.designs.plot import require_matplotlib

            require_matplotlib()
            if timeline is None:
                timeline = plot.with_suffix(".csv")
        with contextlib.ExitStack() as stack:
            if timeline is not None:
                # written beside the target and renamed on success: a failed run leaves no
                # half-written timeline (and any old one as it was)
                try:
                    fd, tmp_name = tempfile.mkstemp(dir=timeline.parent, prefix=f".{timeline.name}.",
                                                    suffix=".tmp")
                except OSError as e:
                    app.abort(f"{timeline}: {e.strerror}")
                stack.callback(_unlink_quietly, tmp_name)
                mask = os.umask(0)
                os.umask(mask)
                os.fchmod(fd, 0o666 & ~mask)  # as open() would have made it
                options.timeline = stack.enter_context(
                    os.fdopen(fd, "w", newline="", encoding="utf-8"))
            report = run_lab(trace, options)
            if timeline is not None:
                options.timeline.close()
                os.replace(tmp_name, timeline)
        if plot is not None and timeline is not None:
            from ghostswap_cli.designs.plot import plot_metadata_timeline

            plot_metadata_timeline(timeline, plot, title=f"swap metadata per design: {trace.name}")
    term = app.terminal
    if as_json:
        term.out(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        term.out(format_designs(report))
    if report.corrupt_pages:
        raise SystemExit(EXIT_CORRUPT)


def format_advice(a) -> str:
    from ghostswap_cli.designs.base import human_bytes

    rec = a.recommendation
    lab = a.lab
    p = lab.profile
    basis = "peak" if rec.percentile == 100 else f"p{rec.percentile:g}"
    lines = [
        f"trace              {lab.trace} ({lab.format}, {lab.page_size}-byte pages, {lab.events} events)",
        f"pages out at once  peak {p['peak_swapped_pages']} (first after event {p['peak_event']}), "
        f"p50 {p['p50']}, p90 {p['p90']}, p99 {p['p99']}",
        f"basis              {basis}: {rec.basis_pages} pages",
        f"headroom           {rec.headroom_percent:g}%: ceil({rec.basis_pages} x "
        f"{100 + rec.headroom_percent:g}/100) = {rec.with_headroom} slots, + 1 header slot = "
        f"{rec.needed_slots} slots",
        f"rounding           {rec.rounding}",
        f"recommended        a {human_bytes(rec.size_bytes)} ghost swapfile: {rec.usable_slots} "
        f"usable slots for {rec.basis_pages} pages out at once ({basis})",
        "",
        f"what that costs on this trace ({_replay_line(lab).split(None, 1)[1]}):",
    ]
    from ghostswap_cli.designs.advise import COMPARED_DESIGNS

    names = [n for n in COMPARED_DESIGNS if n in lab.designs]
    headers = [f"ghost-rfc {human_bytes(rec.size_bytes)}" if n == "ghost-rfc" else n for n in names]
    table = render_table(lab.designs, names, ADVISE_ROWS, headers)
    tail = ["", "create it with:", a.command_line]
    return "\n".join(lines) + "\n" + table + "\n".join(tail) + "\n"


def _advise_memory(app: App, trace: Path, memory_max: str | None, curve: bool, plot: Path | None,
                   ram: str | None, compressor: str | None, policy: str | None, headroom: float,
                   as_json: bool, allow_dirs: tuple[Path, ...]) -> None:
    from ghostswap_cli.codec.trace import open_trace
    from ghostswap_cli.designs import memory_advise as ma
    from ghostswap_cli.units import parse_size

    with app.guard():
        with open_trace(trace, allow_dirs=allow_dirs) as r:
            if r.version < 2:
                app.abort(f"{trace}: --memory-max and --curve need an access trace (read/write "
                          "events, ghostswap trace synth --workload)", 1)
        with app.kernel(write=False) as k:
            ram_bytes = parse_size(ram) if ram else int(k.machine["ram"])
            config, zswap = k.machine["config"], ma.zswap_settings(k)
        footprint = ma.footprint_bytes(trace, allow_dirs)
        try:
            limits = ma.parse_limits(memory_max or "10%:100%:10%", footprint)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--memory-max") from None
        if plot is not None:
            _check_plot(app)
        if len(limits) == 1 and not curve and plot is None:
            a = ma.advise_memory(trace, limits[0], ram=ram_bytes, config=config, compressor=compressor,
                                 policy=policy, headroom_percent=headroom, allow_dirs=allow_dirs,
                                 zswap=zswap)
            app.terminal.out(json.dumps(a.to_json(), indent=2) + "\n" if as_json
                             else ma.format_memory_advice(a))
            return
        points = ma.memory_curve(trace, limits, ram=ram_bytes, config=config, compressor=compressor,
                                 policy=policy, allow_dirs=allow_dirs, zswap=zswap)
        if plot is not None:
            from ghostswap_cli.replay.memory_plot import plot_curve

            plot_curve([{"name": trace.name, "points": [p.to_dict() for p in points]}], plot,
                       title=f"ghostswap advise --curve {trace.name}")
    if as_json:
        app.terminal.out(json.dumps({"trace": str(trace), "footprint": footprint, "ram": ram_bytes,
                                     "config": config, "points": [p.to_dict() for p in points]},
                                    indent=2) + "\n")
    else:
        app.terminal.out(f"curve of {trace} (footprint {ma.human(footprint)}, RAM {ma.human(ram_bytes)}, "
                         f"kernel {config})\n" + ma.format_curve(points))


def _check_plot(app: App) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        app.abort("--plot needs matplotlib: install the 'plot' extra (pip install 'ghostswap[plot]')", 1)


@click.command(short_help="Recommend a ghost swapfile size for a trace.",
               epilog="See ghostswap-advise(1).")
@_trace_argument
@click.option("--headroom", type=click.FloatRange(min=0), default=25, show_default=True, metavar="PCT", help="Extra slots on top of the basis, in percent.")
@click.option("--percentile", type=click.FloatRange(0, 100, min_open=True), default=100, show_default=True, metavar="P", help="Size for this percentile (over events) of pages out at once; 100 is the peak.")
@click.option("--json", "as_json", is_flag=True, help="Print the advice as JSON.")
@click.option("-L", "--label", metavar="L", help="Label for the mkswap command.")
@click.option("--output-file", metavar="PATH", default="ghost.swap", show_default=True, help="Path of the ghost swapfile in the mkswap command.")
@click.option("--compressor", metavar="NAME", help="zswap compressor of the comparison replay [default: the kernel's].")
@click.option("--param", "param_specs", metavar="KEY=VALUE", multiple=True, help="Override a model constant (as ghostswap designs).")
@click.option("--memory-max", "memory_max", metavar="SIZE[,SIZE...]|LO:HI:STEP", help="Access traces: simulate under this memory.max (N% = share of the trace's footprint) and size zswap, the ghost and the real swapfile; several limits give a curve.")
@click.option("--curve", is_flag=True, help="Access traces: refaults and pool size as functions of memory.max (default range: 10% to 100% of the footprint).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png", help="With --curve: draw the curve (needs the 'plot' extra).")
@click.option("--ram", metavar="SIZE", help="Access traces: RAM of the simulated machine [default: this machine's].")
@click.option("--reclaim-policy", type=click.Choice(["lru", "mglru"]), help="Access traces: reclaim policy [default: the machine's].")
@_allow_dir_option
@pass_app
def advise(app: App, trace: Path, headroom: float, percentile: float, as_json: bool, label: str | None,
           output_file: str, compressor: str | None, param_specs: tuple[str, ...],
           memory_max: str | None, curve: bool, plot: Path | None, ram: str | None,
           reclaim_policy: str | None, allow_dirs: tuple[Path, ...]) -> None:
    """Recommend the size of a ghost swapfile for TRACE and print the mkswap command.

    The size holds the peak (or --percentile) of pages swapped out at once, plus --headroom,
    plus the header slot, rounded up to whole clusters. One replay of TRACE then shows what that
    static size costs in metadata against the dynamic designs (ghost-grow, swap-table-dynamic,
    vswap-24).

    For an access trace (read/write events) the kernel's reclaim decides what is swapped:
    --memory-max SIZE simulates the process under that limit and recommends the zswap pool,
    ghost and real swapfile sizes; --curve (or several limits) gives refaults and the pool
    against memory.max as a table, --json, or a --plot.
    """
    from ghostswap_cli.designs.advise import run_advise

    if memory_max is not None or curve or plot is not None:
        _advise_memory(app, trace, memory_max, curve, plot, ram, compressor, reclaim_policy, headroom,
                       as_json, allow_dirs)
        return

    options = _lab_options("all", "auto", (), None, None, compressor, param_specs, allow_dirs)
    with app.guard():
        a = run_advise(trace, headroom_percent=headroom, percentile=percentile, label=label,
                       output_file=output_file, options=options)
    if as_json:
        app.terminal.out(json.dumps(a.to_json(), indent=2) + "\n")
    else:
        app.terminal.out(format_advice(a))
    if a.lab.corrupt_pages:
        raise SystemExit(EXIT_CORRUPT)
