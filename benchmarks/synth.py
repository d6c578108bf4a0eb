"""Page synthesis: seeded pages (``text:``/``random:``) against pool pages (``ptext:``/``prandom:``).

    python -m benchmarks.synth [--quick] [--reps N] [--work DIR] [--no-write]

Two figures, each a ratio of measurements taken side by side in this run:

* the cost of making one 4 KiB page of each kind, distinct seeds (as a synthetic trace has
  them: the seeded pages' LRU cache never hits), CPU time, median of --reps;
* a synthetic replay (``trace synth`` model, 200k events over a 20k-page working set, binary,
  lz4, ``--compress-ahead off``) of the same trace written with ``--page-contents seeded`` and
  ``--page-contents pool``: events per CPU second and per wall second, median of --reps.

Writes the "Page synthesis" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from benchmarks.run import HERE, fresh_machine, machine_info, timed_replay

SECTION = "## Page synthesis (issue #18)"
PAGE = 4096


def write_section(path: Path, section: str, lines: list[str]) -> None:
    """Replace the ``section`` of RESULTS.md (or add it at the end), leaving the rest as it is."""
    text = path.read_text() if path.exists() else ""
    start = text.find(section + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    else:
        end = text.find("\n## ", start + len(section))
        rest = text[end + 1:] if end >= 0 else ""
        text = text[:start] + "\n".join(lines) + "\n" + ("\n" + rest if rest else "")
    path.write_text(text)


def page_costs(n: int, reps: int) -> dict[str, float]:
    from ghostswap_cli.codec.trace import pool_random_page, pool_text_page, random_page, text_page

    makers = {"text:SEED": text_page.__wrapped__, "random:SEED": random_page.__wrapped__,
              "ptext:SEED": pool_text_page, "prandom:SEED": pool_random_page}
    t0 = time.process_time()
    pool_text_page(0, PAGE), pool_random_page(0, PAGE)  # build the pools (once per process)
    build = time.process_time() - t0
    out: dict[str, list[float]] = {k: [] for k in makers}
    for _ in range(reps):
        for name, make in makers.items():  # interleaved, so each sees the same load
            base = 1 << 40
            c = time.process_time()
            for s in range(base, base + n):
                make(s, PAGE)
            out[name].append((time.process_time() - c) / n * 1e6)
    res = {k: round(statistics.median(v), 3) for k, v in out.items()}
    res["pool build (ms)"] = round(build * 1e3, 1)
    return res


def replay_rates(work: Path, events: int, reps: int) -> dict[str, dict[str, float]]:
    from ghostswap_cli.codec.trace import open_trace_writer
    from ghostswap_cli.replay.synth import synthesize

    traces = {}
    for name, pool in (("seeded", False), ("pool", True)):
        p = work / f"synth-{name}-{events}.gstrace"
        with open_trace_writer(p, "binary") as w:
            synthesize(w, events=events, working_set=20_000, seed=7, pool=pool)
        traces[name] = p
    runs: dict[str, dict[str, list[float]]] = {n: {"cpu": [], "wall": []} for n in traces}
    state = work / "state-synth"
    for _ in range(reps):
        for name, trace in traces.items():
            fresh_machine(state, work)
            c = time.process_time()
            wall, rep = timed_replay(state, trace, "lz4", None, ahead="off")
            runs[name]["cpu"].append(time.process_time() - c)
            runs[name]["wall"].append(wall)
            assert rep["events"] == events
    return {n: {"cpu_s": round(statistics.median(r["cpu"]), 3),
                "wall_s": round(statistics.median(r["wall"]), 3),
                "events_per_cpu_s": round(events / statistics.median(r["cpu"])),
                "events_per_s": round(events / statistics.median(r["wall"]))}
            for n, r in runs.items()}


def render(info: dict[str, str], costs: dict[str, float], rates: dict, events: int, reps: int,
           load_end: str) -> list[str]:
    s, p = rates["seeded"], rates["pool"]
    lines = [
        SECTION,
        "",
        f"`python -m benchmarks.synth` ({info.get('date', '')}; {info.get('cpu', '')}, Python "
        f"{info.get('python', '')}; load average at start {info.get('load average at start')}, "
        f"at end {load_end}; the machine is shared, so times are CPU times, medians of {reps}).",
        "",
        "Cost of one 4 KiB page, distinct seeds (as in a synthetic trace), CPU time:",
        "",
        "| content | us per page | vs text:SEED |",
        "|---|---|---|",
    ]
    base = costs["text:SEED"]
    for k in ("text:SEED", "random:SEED", "ptext:SEED", "prandom:SEED"):
        lines.append(f"| `{k}` | {costs[k]} | {round(costs[k] / base, 3)} |")
    lines += [
        "",
        f"The pools (4 MiB of text, 4 MiB of random bytes, 64 KiB tails) are built once per "
        f"process on first use: {costs['pool build (ms)']} ms here.",
        "",
        f"A synthetic replay (`trace synth` model, {events} events over 20000 pages, binary, lz4, "
        "`--compress-ahead off`), the same events written with each `--page-contents`:",
        "",
        "| --page-contents | CPU s | events per CPU s | wall s | events per s |",
        "|---|---|---|---|---|",
        f"| seeded (`text:`/`random:`) | {s['cpu_s']} | {s['events_per_cpu_s']} | {s['wall_s']} | "
        f"{s['events_per_s']} |",
        f"| pool (`ptext:`/`prandom:`) | {p['cpu_s']} | {p['events_per_cpu_s']} | {p['wall_s']} | "
        f"{p['events_per_s']} |",
        "",
        f"Pool contents: **{round(s['cpu_s'] / p['cpu_s'], 2)}x** the events per CPU second.",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.synth", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    events = 50_000 if args.quick else 200_000
    costs = page_costs(5_000 if args.quick else 20_000, args.reps)
    print("  page costs (us):", costs, flush=True)
    rates = replay_rates(args.work, events, args.reps)
    print("  replays:", rates, flush=True)
    lines = render(info, costs, rates, events, args.reps,
                   " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("\n".join(lines))
    if not args.no_write:
        write_section(HERE / "RESULTS.md", SECTION, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
