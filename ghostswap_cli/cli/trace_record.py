"""``ghostswap trace record`` and ``ghostswap trace import``: access traces of real programs,
live or from valgrind lackey and damo (man ghostswap-trace(1))."""

from __future__ import annotations

import json
import re

import click

from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.codec.trace import FORMATS, TRACE_PAGE_SIZES, open_trace_writer
from ghostswap_cli.errors import GhostswapError

CONTEXT = {"help_option_names": ["-h", "--help"]}
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


class _Time(click.ParamType):
    """A duration: a number of seconds, or with a unit (``100ms``, ``2s``, ``500us``, ``1m``)."""

    name = "TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]*)\s*", str(value))
        if m is None or m.group(2) not in ("", *_UNITS):
            self.fail(f"{value!r} is not a time (a number of seconds, or with a unit: "
                      "us, ms, s, m, h)", param, ctx)
        seconds = float(m.group(1)) * _UNITS.get(m.group(2), 1.0)
        if seconds <= 0:
            self.fail(f"{value!r} must be above zero", param, ctx)
        return seconds


TIME = _Time()


def _fail(app: App, e: GhostswapError | OSError) -> None:
    from ghostswap_cli.cli.trace import _fail as trace_fail

    trace_fail(app, e)


# --- record --------------------------------------------------------------------------------------


def _sources_report(app: App, as_json: bool) -> None:
    from ghostswap_cli.replay.record_sources import SOURCES, probe_sources

    probes = probe_sources(None)
    if as_json:
        app.terminal.out(json.dumps({n: {"available": ok, "reason": why or None}
                                     for n, (ok, why) in probes.items()}, indent=2), nl=True)
        return
    for name in SOURCES:
        ok, why = probes[name]
        app.terminal.out(f"{name:<13} {'available' if ok else 'not available: ' + why}", nl=True)
    app.terminal.out("(pagemap-scan also needs ptrace access to the process recorded)", nl=True)


@click.command(context_settings={**CONTEXT, "ignore_unknown_options": False},
               short_help="Record an access trace of a running program.")
@click.option("-p", "--pid", type=click.IntRange(min=1), help="Record this running process.")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False),
              help="The trace to write (with a text trace, FILE.pages holds the page contents).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Trace format (text: contents stored once per distinct page in FILE.pages; "
                   "binary: every write's page inline, no header comments).")
@click.option("-i", "--interval", type=TIME, default="100ms", show_default=True,
              help="Time between samples.")
@click.option("-d", "--duration", type=TIME, help="Stop recording after TIME [default: when the "
              "process exits, or Ctrl-C].")
@click.option("--source", type=click.Choice(["auto", "pagemap-scan", "page-idle", "damon", "soft-dirty",
                                            "hash"]),
              default="auto", show_default=True,
              help="Where accesses and writes come from (auto: the best the kernel has).")
@click.option("--maps-filter", type=click.Choice(["anon", "all"]), default="anon", show_default=True,
              help="anon: private anonymous memory (what swap holds); all: every readable mapping.")
@click.option("--list-sources", is_flag=True, help="Say which sources this machine has, and why "
              "not the others, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[-- COMMAND [ARGS]...]")
@pass_app
def record(app: App, pid: int | None, output: str | None, fmt: str, interval: float,
           duration: float | None, source: str, maps_filter: str, list_sources: bool, as_json: bool,
           command: tuple[str, ...]) -> None:
    """Sample a process every --interval and write an access trace: per interval, the pages it
    accessed (read events) and wrote (write events, with the bytes read from /proc/PID/mem), and
    the pages it unmapped (free events), all with timestamps.

    Either run COMMAND (recorded from its first instruction to its exit) or attach to --pid
    (recorded until it exits, --duration passes or Ctrl-C; it runs on afterwards). The source is
    named on stderr and in the trace header. Needs ptrace access to the process.
    """
    if list_sources:
        _sources_report(app, as_json)
        return
    if output is None:
        raise click.UsageError("Missing option '-o' / '--output'.")
    if (pid is None) == (not command):
        raise click.UsageError("give either --pid PID or -- COMMAND [ARGS]...")
    from ghostswap_cli.replay.record import record as do_record
    from ghostswap_cli.replay.record_target import Target

    def announce(choice: object) -> None:
        app.terminal.info(f"recording with source {choice.description}")  # type: ignore[attr-defined]
        for note in choice.notes:  # type: ignore[attr-defined]
            app.terminal.info(f"  not used: {note}")
        if choice.reads_invisible:  # type: ignore[attr-defined]
            app.terminal.warning("reads of pages already in memory are invisible to this source "
                                 "(needs page idle tracking or DAMON vaddr); accesses are writes "
                                 "and first touches")

    try:
        target = Target.start(command) if command else Target.attach(pid)  # type: ignore[arg-type]
        r = do_record(target, output, fmt=fmt, interval_s=interval, duration_s=duration,
                      source=source, maps_filter=maps_filter, on_source=announce,
                      comments=[f"command: {' '.join(command)}"] if command else None)
    except (GhostswapError, OSError) as e:
        _fail(app, e)
    if as_json:
        app.terminal.out(json.dumps(dict(output=output, **r.to_dict()), indent=2), nl=True)
        return
    lines = [
        f"{output}: {r.samples} samples over {r.recorded_s:.3g} s, {r.reads} reads, {r.writes} writes, "
        f"{r.frees} frees of {r.distinct_pages} pages"
        + (f"; {r.distinct_contents} distinct pages in {r.pages_file}" if r.pages_file else ""),
        f"source: {r.source_description}",
        f"overhead: {r.sample_ms_mean:.2f} ms per sample (max {r.sample_ms_max:.2f}), "
        f"{r.sampling_s:.3g} s sampling in all, target stopped {r.stopped_ms:.1f} ms"
        + (f", {r.late_samples} samples longer than the interval" if r.late_samples else ""),
    ]
    if r.target_wall_s is not None:
        lines.append(f"process {r.pid} ran {r.target_wall_s:.3g} s, exit status {r.exit_status}")
    elif r.ended == "duration":
        lines.append(f"process {r.pid} runs on (recording stopped after --duration)")
    app.terminal.out("\n".join(lines), nl=True)


# --- import --------------------------------------------------------------------------------------


def _sniff(path: str) -> str:
    from ghostswap_cli.replay.damo_import import looks_like_damo

    if looks_like_damo(path):
        return "damo"
    return "lackey"


@click.command("import", context_settings=CONTEXT, short_help="Import a trace from valgrind lackey or damo.")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, metavar="FILE", type=click.Path(dir_okay=False),
              help="The access trace to write.")
@click.option("--from", "kind", type=click.Choice(["auto", "lackey", "damo"]), default="auto",
              show_default=True, help="What INPUT is (auto: a damo record if damo can read it, "
              "else a lackey log).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Trace format.")
@click.option("--contents", "contents", metavar="TRACE", type=click.Path(exists=True, dir_okay=False),
              help="Take written pages' bytes from this trace (trace record or trace capture of "
                   "the same process), by address.")
@click.option("--mix", metavar="KIND=W,...", help="Contents of written pages not in --contents, "
              "over zero, fill, text, random [default: zero=0.15,fill=0.05,text=0.55,random=0.25].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the --mix contents.")
@click.option("--instructions", is_flag=True, help="lackey: count instruction fetches (I lines) "
              "as reads too (program text; left out by default).")
@click.option("--page-size", type=click.Choice([str(s) for s in TRACE_PAGE_SIZES]), default="4096",
              show_default=True, help="Page size of the trace.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
def import_(app: App, input_path: str, output: str, kind: str, fmt: str, contents: str | None,
            mix: str | None, seed: int, instructions: bool, page_size: str, as_json: bool) -> None:
    """Convert INPUT into an access trace. A valgrind lackey log (valgrind --tool=lackey
    --trace-mem=yes) becomes one read or write per run of accesses to a page, in order; a damo
    record (damo record) becomes, per snapshot, a read of every page of each region DAMON saw
    accessed. Lackey and DAMON give addresses, not data: written pages take their bytes from
    --contents where it has them, else from the --mix (same --seed, same bytes)."""
    from ghostswap_cli.replay.lackey import MixContents, SnapshotContents, import_lackey
    from ghostswap_cli.replay.synth import parse_mix

    try:
        weights = parse_mix(mix) if mix is not None else None
        mixer = MixContents(weights, seed)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--mix") from None
    comments = [f"imported by ghostswap trace import from {input_path}"]
    try:
        what = _sniff(input_path) if kind == "auto" else kind
        snapshot = SnapshotContents(contents) if contents else None
        comments.append(f"from: {what}" + (f", contents from {contents}" if contents else
                                             f", contents synthesised (--mix {mix or 'default'}, --seed {seed})"))
        with open_trace_writer(output, fmt, int(page_size), comments=comments) as w:
            if what == "damo":
                from ghostswap_cli.replay.damo_import import import_damo

                res = import_damo(input_path, w, snapshot=snapshot, mix=mixer)
            else:
                res = import_lackey(input_path, w, snapshot=snapshot, mix=mixer,
                                    instructions=instructions)
            events = w.events
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except (GhostswapError, OSError) as e:
        _fail(app, e)
    if as_json:
        app.terminal.out(json.dumps(dict(output=output, source=what, events=events,
                                         **res.to_dict()), indent=2), nl=True)
        return
    d = res.to_dict()
    line = (f"{output}: {events} events ({d['reads']} reads, {d['writes']} writes) to "
            f"{d['distinct_pages']} pages from {what} {input_path}")
    app.terminal.out(line, nl=True)
    if what == "lackey":
        app.terminal.out(
            f"lackey: {d['lines']} lines, {d['accesses']} accesses used, "
            f"{d['skipped_instructions']} instruction fetches left out; written pages: "
            f"{d['contents_from_snapshot']} from --contents, {d['contents_synthesised']} synthesised",
            nl=True)
    else:
        app.terminal.out(f"damo: {d['records']} records, {d['snapshots']} snapshots, {d['regions']} "
                         f"regions; first touches written: {d['contents_from_snapshot']} from "
                         f"--contents, {d['contents_synthesised']} synthesised", nl=True)


def register(group: click.Group) -> None:
    group.add_command(record)
    group.add_command(import_, "import")


__all__ = ("record", "import_", "register")
