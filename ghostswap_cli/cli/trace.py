"""``ghostswap trace``: make, convert, inspect and capture page traces (man ghostswap-trace(1))."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.codec.trace import (
    FORMATS,
    MAX_VPN,
    TF_CAPTURED,
    TRACE_PAGE_SIZES,
    TraceSummary,
    convert_trace,
    open_trace,
    open_trace_writer,
    summarize,
)
from ghostswap_cli.errors import GhostswapError
from ghostswap_cli.replay.workloads import WORKLOADS
from ghostswap_cli.units import size_to_human_string

CONTEXT = {"help_option_names": ["-h", "--help"]}


class _Number(click.ParamType):
    """A decimal or 0x-hex integer (VPNs are usually written in hex)."""

    name = "N"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        try:
            n = int(text, 16) if text[:2].lower() == "0x" else int(text, 10)
        except ValueError:
            self.fail(f"{value!r} is not a decimal or 0x-hex number", param, ctx)
        if not 0 <= n < MAX_VPN:
            self.fail(f"{value!r} is out of range (0 to 2**52 - 1)", param, ctx)
        return n


NUMBER = _Number()

no_progress_option = click.option(
    "--no-progress", is_flag=True, help="No progress bar (there is none unless stderr is a terminal)."
)
allow_dir_option = click.option(
    "--allow-dir", "allow_dirs", multiple=True, metavar="DIR",
    type=click.Path(exists=True, file_okay=False),
    help="Also let file: pages be read from DIR (repeatable); by default only the trace's own folder.",
)


@contextlib.contextmanager
def _progress(app: App, enabled: bool, description: str) -> Iterator[Callable[[int, int], None]]:
    """``update(done, total)``: a rich bar on an interactive stderr, nothing otherwise."""
    if not enabled or not app.terminal.is_interactive(sys.stderr):
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeRemainingColumn(), console=app.terminal.console(sys.stderr),
                  transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _fail(app: App, e: GhostswapError | OSError) -> None:
    if isinstance(e, OSError):
        app.abort(f"{e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}", 1)
    app.abort(str(e), e.exit_status)


@click.group(context_settings=CONTEXT, short_help="Make, convert, inspect and capture page traces.")
def trace() -> None:
    """Make, convert, inspect and capture page traces.

    A page trace lists what a process's memory did under pressure: pages swapped out (with their
    contents), swapped back in, and freed. `ghostswap replay` plays one through the simulated
    kernel and zswap. Traces are text (readable, written by hand or by other tools) or binary
    (compact, fast); see ghostswap-trace(1) for both formats.
    """


# --- synth ---------------------------------------------------------------------------------------


@trace.command(context_settings=CONTEXT, short_help="Write a reproducible synthetic trace.")
@click.option("-o", "--output", required=True, metavar="FILE", type=click.Path(dir_okay=False),
              help="The trace to write (replaced only when the command succeeds).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Trace format.")
@click.option("--events", required=True, type=click.IntRange(min=0), metavar="N",
              help="Number of events.")
@click.option("--working-set", required=True, type=click.IntRange(min=1), metavar="PAGES",
              help="Pages the process uses.")
@click.option("--skew", type=click.FloatRange(min=0), default=1.0, show_default=True, metavar="S",
              help="Zipf exponent of the accesses over the working set (0: uniform).")
@click.option("--mix", metavar="KIND=W,...", help="Content mix over zero, fill, text, random, file "
              "[default: zero=0.15,fill=0.05,text=0.55,random=0.25].")
@click.option("--files-from", metavar="DIR", type=click.Path(exists=True),
              help="Files for file pages (a folder, walked, or one file).")
@click.option("--free-rate", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True, metavar="R", help="Chance that an event frees a swapped-out page.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Random seed: the same options and seed give the same bytes.")
@click.option("--vpn-base", type=NUMBER, default="0x7f0000000", show_default=True, metavar="N",
              help="First VPN of the working set.")
@click.option("--pattern", type=click.Choice(["steady", "ramp", "sawtooth"]), default="steady",
              show_default=True, help="How the number of swapped-out pages moves over time.")
@click.option("--peak", type=click.IntRange(min=1), metavar="PAGES",
              help="Most pages swapped out at once [default: half the working set].")
@click.option("--page-size", type=click.Choice([str(s) for s in TRACE_PAGE_SIZES]), default="4096",
              show_default=True, help="Page size of the trace.")
@click.option("--workload", type=click.Choice(WORKLOADS),
              help="Write an access trace of this workload (read/write events) instead of "
                   "swap events: zipf, scan, phases or leaky.")
@click.option("--write-ratio", type=click.FloatRange(0, 1), default=0.3, show_default=True, metavar="R",
              help="With --workload: chance that an access after the first is a write.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=100_000.0, show_default=True,
              metavar="N", help="With --workload: accesses per second of trace time (timestamps).")
@click.option("--page-contents", type=click.Choice(["seeded", "pool"]), default="seeded",
              show_default=True, help="How text and random pages are made: seeded (text:SEED, "
              "random:SEED, generated from the seed) or pool (ptext:SEED, prandom:SEED, slices "
              "of precomputed pools: the same compressibility, ~30x cheaper to replay).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@no_progress_option
@pass_app
def synth(app: App, output: str, fmt: str, events: int, working_set: int, skew: float, mix: str | None,
          files_from: str | None, free_rate: float, seed: int, vpn_base: int, pattern: str,
          peak: int | None, page_size: str, workload: str | None, write_ratio: float, rate: float,
          page_contents: str, as_json: bool, no_progress: bool) -> None:
    """Write a synthetic trace of a process with a working set of PAGES pages whose accesses
    follow a Zipf law (--skew), swapping out up to --peak pages at once in a --pattern over time.

    Every out is of a page not swapped out and every in of one that is, so the trace replays
    cleanly; the same options and --seed give byte-identical files.

    With --workload, writes an access trace instead (--events accesses over --working-set
    pages): what the process touches, for `ghostswap replay` under memory limits to decide what
    is swapped. See ghostswap-trace(1) for the four workloads.
    """
    from ghostswap_cli.replay.synth import parse_mix, synthesize

    try:
        weights = parse_mix(mix) if mix is not None else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--mix") from None
    pool = page_contents == "pool"
    if workload is not None:
        _synth_workload(app, output, fmt, workload, events, working_set, skew, mix, weights, seed,
                        vpn_base, int(page_size), write_ratio, rate, files_from, pool, as_json,
                        no_progress)
        return
    options = [f"--events {events}", f"--working-set {working_set}", f"--skew {skew:g}",
               f"--pattern {pattern}", f"--seed {seed}", f"--vpn-base 0x{vpn_base:x}"]
    options += [f"--peak {peak}"] if peak else []
    options += [f"--mix {mix}"] if mix else []
    options += [f"--files-from {files_from}"] if files_from else []
    options += [f"--free-rate {free_rate:g}"] if free_rate else []
    options += ["--page-contents pool"] if pool else []
    comments = ["synthetic trace: ghostswap trace synth " + " ".join(options)]
    result = _write_synthetic(
        app, output, fmt, int(page_size), comments, no_progress, as_json,
        lambda w, update: synthesize(
            w, events=events, working_set=working_set, skew=skew, mix=weights,
            files_from=files_from, free_rate=free_rate, seed=seed, vpn_base=vpn_base,
            pattern=pattern, peak=peak, pool=pool, progress=lambda done: update(done, events),
        ),
    )
    if result is None:
        return
    ops = result.ops
    app.terminal.out(
        f"{output}: {result.events} events (out {ops['out']}, in {ops['in']}, free {ops['free']}), "
        f"peak {result.peak_swapped} pages swapped out, first at event {result.peak_event}",
        nl=True,
    )
    if fmt == "text" and result.files:
        out_dir = os.path.realpath(os.path.dirname(os.path.abspath(output)))
        outside = sorted({os.path.dirname(f) for f in result.files
                          if os.path.commonpath([os.path.realpath(f), out_dir]) != out_dir})
        for d in outside:
            app.terminal.warning(f"file pages come from {d}, outside the trace's folder: "
                                 f"read the trace with --allow-dir {d}")


def _write_synthetic(app: App, output: str, fmt: str, page_size: int, comments: list[str],
                     no_progress: bool, as_json: bool, make: Callable[..., Any]) -> Any:
    """Run ``make(writer, update)`` into ``output`` with the progress bar and the errors of
    ``trace synth``; prints the JSON form and returns None when --json asked for it."""
    try:
        with _progress(app, not no_progress, "synth") as update, \
                open_trace_writer(output, fmt, page_size, comments=comments) as w:
            result = make(w, update)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except (GhostswapError, OSError) as e:
        _fail(app, e)
    if as_json:
        app.terminal.out(json.dumps(dict(output=output, format=fmt, **result.to_dict()), indent=2), nl=True)
        return None
    return result


def _synth_workload(app: App, output: str, fmt: str, workload: str, events: int, pages: int, skew: float,
                    mix: str | None, weights: dict[str, float] | None, seed: int, vpn_base: int,
                    page_size: int, write_ratio: float, rate: float, files_from: str | None,
                    pool: bool, as_json: bool, no_progress: bool) -> None:
    from ghostswap_cli.replay.workloads import synthesize_workload

    if files_from:
        raise click.UsageError("--files-from does not go with --workload (workload pages are "
                               "zero, fill, text or random)")
    options = [f"--workload {workload}", f"--events {events}", f"--working-set {pages}",
               f"--skew {skew:g}", f"--write-ratio {write_ratio:g}", f"--rate {rate:g}",
               f"--seed {seed}", f"--vpn-base 0x{vpn_base:x}"] + ([f"--mix {mix}"] if mix else [])
    options += ["--page-contents pool"] if pool else []
    comments = ["synthetic access trace: ghostswap trace synth " + " ".join(options)]
    result = _write_synthetic(
        app, output, fmt, page_size, comments, no_progress, as_json,
        lambda w, update: synthesize_workload(w, workload, pages=pages, events=events, skew=skew,
                                              write_ratio=write_ratio, seed=seed, mix=weights,
                                              vpn_base=vpn_base, rate=rate, pool=pool,
                                              progress=lambda done: update(done, events)),
    )
    if result is None:
        return
    app.terminal.out(f"{output}: {workload} workload, {result.events} accesses ({result.reads} reads, "
                     f"{result.writes} writes) to {result.pages} pages over "
                     f"{result.duration_ns / 1e9:.3f} s", nl=True)


# --- convert -------------------------------------------------------------------------------------


@trace.command(context_settings=CONTEXT, short_help="Convert a trace between text and binary.")
@click.argument("input_path", metavar="IN", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", metavar="OUT", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Format of OUT [default: the other one than IN's].")
@allow_dir_option
@no_progress_option
@pass_app
def convert(app: App, input_path: str, output: str, fmt: str | None, allow_dirs: tuple[str, ...],
            no_progress: bool) -> None:
    """Convert IN to OUT. To binary, file: pages are stored raw; to text, raw pages are written
    as hex: unless they are zero or same-filled, and seeded pages stay seeds."""
    try:
        with open_trace(input_path, allow_dirs=allow_dirs) as src:
            target = fmt or ("binary" if src.format == "text" else "text")
            with _progress(app, not no_progress, "convert") as update:
                n = convert_trace(src, output, target,
                                  progress=lambda r: update(r.bytes_read, r.size))
    except (GhostswapError, OSError) as e:
        _fail(app, e)
    app.terminal.out(f"{output}: {n} events, {target} format", nl=True)


# --- info ----------------------------------------------------------------------------------------


def _human(nbytes: int) -> str:
    return size_to_human_string(nbytes, space=True, three_letter=True)


def render_info(s: TraceSummary) -> str:
    """The plain-text report of ``ghostswap trace info``."""
    kinds = ", ".join(f"{k} {v}" for k, v in s.kinds.items()) or "none"
    unit = "line" if s.format == "text" else "record"
    rows = [
        ("trace", s.path),
        ("format", f"{s.format}{' (captured from a live process)' if s.flags & TF_CAPTURED else ''}"),
        ("page size", str(s.page_size)),
        ("events", f"{s.events} (out {s.ops['out']}, in {s.ops['in']}, free {s.ops['free']})"),
        ("unique pages", str(s.unique_pages)),
        ("contents", kinds),
        ("peak swapped", f"{s.peak_swapped} pages ({_human(s.peak_bytes)})"
         + (f", first at {unit} {s.peak_position}" if s.peak_swapped else "")),
        ("swapped at end", f"{s.swapped_at_end} pages"),
        ("swapped out", f"{_human(s.out_bytes)} in all"),
        ("file size", f"{s.file_bytes} bytes ({_human(s.file_bytes)})"),
    ]
    if s.version >= 2:
        rows[3] = ("events", f"{s.events} (read {s.ops['read']}, write {s.ops['write']}, out {s.ops['out']}, "
                             f"in {s.ops['in']}, free {s.ops['free']})")
        rows.insert(1, ("version", "2 (access events)"))
    if s.accesses and not s.ops["out"]:  # nothing swapped by the trace itself: the kernel decides
        rows = [r for r in rows if r[0] not in ("peak swapped", "swapped at end", "swapped out")]
    if s.accesses:
        rows.append(("accesses", f"{s.accesses} ({s.ops['read']} reads, {s.ops['write']} writes) to "
                                 f"{s.unique_pages} pages ({_human(s.unique_pages * s.page_size)})"))
        if s.first_t_ns is not None and s.last_t_ns is not None:
            span = (s.last_t_ns - s.first_t_ns) / 1e9
            rows.append(("time span", f"{span:.6g} s" + (f" ({s.accesses / span:.0f} accesses/s)" if span else "")))
        total = sum(s.reuse_distance.values())
        rows.append(("reuse distance", "distinct other pages since the page's last access "
                                       "(an LRU of M pages hits below M)"))
        for name, count in s.reuse_distance.items():
            rows.append((f"  {name}", f"{count} ({100 * count / total:.1f}%)"))
    if s.invalid_out or s.invalid_in:
        rows.append(("invalid", f"{s.invalid_out} out of a page already out, "
                                f"{s.invalid_in} in of a page not out"))
    if s.free_not_swapped:
        rows.append(("free resident", f"{s.free_not_swapped} frees of pages not swapped out"))
    width = max(len(k) for k, _ in rows) + 2
    return "".join(f"{k + ':':<{width}}{v}\n" for k, v in rows)


@trace.command(context_settings=CONTEXT, short_help="Describe a trace.")
@click.argument("trace_path", metavar="TRACE", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@allow_dir_option
@no_progress_option
@pass_app
def info(app: App, trace_path: str, as_json: bool, allow_dirs: tuple[str, ...], no_progress: bool) -> None:
    """Read TRACE once and print its format, page size, events by op, unique pages, content
    kinds, the peak of pages swapped out at once, and sizes. Checks every event on the way."""
    try:
        with open_trace(trace_path, allow_dirs=allow_dirs) as r, \
                _progress(app, not no_progress, "info") as update:
            s = summarize(r, progress=lambda rd: update(rd.bytes_read, rd.size))
    except (GhostswapError, OSError) as e:
        _fail(app, e)
    if as_json:
        app.terminal.out(json.dumps(s.to_dict(), indent=2), nl=True)
    else:
        app.terminal.out(render_info(s))


# --- capture -------------------------------------------------------------------------------------


@trace.command(context_settings=CONTEXT, short_help="Capture a trace from a live process.")
@click.option("--pid", required=True, type=click.IntRange(min=1), help="Process to read.")
@click.option("-o", "--output", required=True, metavar="FILE", type=click.Path(dir_okay=False),
              help="The binary trace to write.")
@click.option("--max-pages", type=click.IntRange(min=1), metavar="N", help="Stop after N pages.")
@click.option("--maps-filter", type=click.Choice(["anon", "all"]), default="anon", show_default=True,
              help="anon: private anonymous memory (heap, stacks); all: every readable mapping.")
@click.option("--order", type=click.Choice(["out-in", "interleave"]), default="out-in",
              show_default=True,
              help="out-in: all pages out, then all in; interleave: one mapping at a time.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@no_progress_option
@pass_app
def capture(app: App, pid: int, output: str, max_pages: int | None, maps_filter: str, order: str,
            as_json: bool, no_progress: bool) -> None:
    """Read the memory of process PID through /proc/PID/maps, /proc/PID/pagemap and
    /proc/PID/mem and write a binary trace that swaps every present page out and back in, with
    its real contents. Needs ptrace access to the process (root, or the same user when
    kernel.yama.ptrace_scope allows it)."""
    from ghostswap_cli.replay.capture import capture as do_capture

    try:
        with _progress(app, not no_progress, f"capture {pid}") as update:
            r = do_capture(pid, output, max_pages=max_pages, maps_filter=maps_filter, order=order,
                           progress=update)
    except (GhostswapError, OSError) as e:
        _fail(app, e)
    if as_json:
        app.terminal.out(json.dumps(dict(output=output, **r.to_dict()), indent=2), nl=True)
        return
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(r.mappings_skipped.items())) or "none"
    app.terminal.out(
        f"{output}: {r.pages} pages ({_human(r.pages * r.page_size)}) of process {pid} from "
        f"{r.mappings_selected} of {r.mappings} mappings, {r.events} events, "
        f"peak {r.peak_swapped} pages\n"
        f"pages: {r.zero_pages} zero, {r.same_filled_pages} same-filled, "
        f"{r.not_present_pages} not present (skipped), {r.unreadable_pages} unreadable (skipped)\n"
        f"mappings skipped: {skipped}\n"
    )
    if r.truncated:
        app.terminal.warning(f"stopped at --max-pages {max_pages}")


# record and import live in their own module (real processes, valgrind, damo)
from ghostswap_cli.cli.trace_record import register as _register_record  # noqa: E402

_register_record(trace)

__all__ = ("trace", "render_info")
