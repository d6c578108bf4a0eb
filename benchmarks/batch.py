"""Batch compression and ``--compress-ahead``: every mode, measured side by side.

    python -m benchmarks.batch [--quick] [--reps N] [--work DIR] [--no-write]

Two figures:

* library calls: compressing a batch of 512 real 4 KiB pages (a replay batch's swap-outs) one
  call per page against every batch call the libraries offer. zstd has one that makes the same
  bytes (``multi_compress_to_buffer``); lz4's Python binding has none: ``lz4.block`` takes one
  buffer per call (``map`` over it only moves the loop into C), and ``lz4.frame`` makes frames
  (a header, 64 KiB blocks at the least), not the bare per-page blocks zswap stores, so its
  numbers are for reference only. CPU time per page, interleaved, median of --reps.
* replays of the replay benchmark's trace (real pages; N/2 swap-outs, then N/2 swap-ins;
  200k events) in every mode: inline one call per page (``--compress-ahead off``, batch off),
  inline with the batch call (zstd), ahead (``on``), and ``auto``, whose probe's choice and
  ratio are shown. Against the raw loop (compress + decompress the same pages), wall and CPU.

Writes the "Batch compression and compress-ahead" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from pathlib import Path

from benchmarks.run import (
    HERE,
    fresh_machine,
    machine_info,
    raw_loop,
    timed_replay,
    write_out_in_trace,
)
from benchmarks.synth import write_section
from ghostswap_cli.replay.realpages import machine_pages, mixed

SECTION = "## Batch compression and compress-ahead (issue #18)"
BATCH = 512


def call_costs(pages: list[bytes], reps: int) -> dict[str, float]:
    import lz4.block
    import lz4.frame
    import zstandard

    lz4c = functools.partial(lz4.block.compress, store_size=False)
    z = {lv: zstandard.ZstdCompressor(level=lv, write_content_size=True, write_checksum=False)
         for lv in (1, 3)}
    batches = [pages[i : i + BATCH] for i in range(0, len(pages), BATCH)]

    def per_page(f):
        def run():
            for b in batches:
                for p in b:
                    f(p)
        return run

    def mapped(f):
        def run():
            for b in batches:
                list(map(f, b))
        return run

    def multi(c):
        def run():
            for b in batches:
                [s.tobytes() for s in c.multi_compress_to_buffer(b, threads=0)]
        return run

    def frame_batch():
        for b in batches:
            lz4.frame.compress(b"".join(b), block_linked=False, store_size=False)

    modes = {
        "lz4: one lz4.block call per page": per_page(lz4c),
        "lz4: map(lz4.block) over the batch": mapped(lz4c),
        "lz4: lz4.frame per page (frames, not zswap's blocks)": per_page(
            functools.partial(lz4.frame.compress, store_size=False)),
        "lz4: one lz4.frame per batch (64 KiB blocks, not per page)": frame_batch,
        "zstd-1: one call per page": per_page(z[1].compress),
        "zstd-1: multi_compress_to_buffer per batch": multi(z[1]),
        "zstd-3: one call per page": per_page(z[3].compress),
        "zstd-3: multi_compress_to_buffer per batch": multi(z[3]),
    }
    times: dict[str, list[float]] = {k: [] for k in modes}
    for _ in range(reps):
        for name, run in modes.items():
            c = time.process_time()
            run()
            times[name].append((time.process_time() - c) / len(pages) * 1e6)
    return {k: round(statistics.median(v), 3) for k, v in times.items()}


#: (name, --compress-ahead, batch_compress, compressors)
MODES = (
    ("inline, one call per page", "off", "off", ("lz4", "zstd")),
    ("inline, batch call", "off", "auto", ("zstd",)),
    ("ahead (on)", "on", "auto", ("lz4", "zstd")),
    ("auto", "auto", "auto", ("lz4", "zstd")),
)


def replays(work: Path, n: int, reps: int) -> list[dict]:
    pages = mixed(machine_pages(n), n)
    trace = write_out_in_trace(work / f"batch-{n}.gstrace", pages)
    state = work / "state-batch"
    rows = []
    for compressor, level in (("lz4", None), ("zstd", 1)):
        raw: list[float] = []
        t: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        chose: list[str] = []
        for _ in range(reps):
            raw.append(raw_loop(pages, compressor, level))
            for name, ahead, batch, which in MODES:
                if compressor not in which:
                    continue
                fresh_machine(state, work)
                c = time.process_time()
                wall, rep = timed_replay(state, trace, compressor, level, ahead, batch)
                cpu.setdefault(name, []).append(time.process_time() - c)
                t.setdefault(name, []).append(wall)
                if name == "auto":
                    chose.append(rep["compress_ahead"])
        r = statistics.median(raw)
        for name in t:
            rows.append({"compressor": compressor + (f"-{level}" if level else ""), "mode": name,
                         "events": 2 * n, "wall_s": round(statistics.median(t[name]), 3),
                         "cpu_s": round(statistics.median(cpu[name]), 3),
                         "raw_s": round(r, 3), "raw_ratio": round(r / statistics.median(t[name]), 3),
                         "chose": chose if name == "auto" else []})
            print(f"  {rows[-1]}", flush=True)
    return rows


def _short(choice: str) -> str:
    if "auto chose inline" in choice:
        return "inline (ahead " + choice.split("ahead took ")[1].split("x")[0] + "x)"
    if "auto chose ahead" in choice:
        return "ahead (" + choice.split("ahead took ")[1].split("x")[0] + "x)"
    if "ended during the probe" in choice:
        return "ended in the probe"
    return choice.split(",")[0]


def render(info: dict[str, str], costs: dict[str, float], rows: list[dict], reps: int,
           load_end: str) -> list[str]:
    lines = [
        SECTION,
        "",
        f"`python -m benchmarks.batch` ({info.get('date', '')}; {info.get('cpu', '')}, "
        f"{info.get('cpus')} CPUs, Python {info.get('python', '')}, lz4 {info.get('lz4')}, "
        f"zstandard {info.get('zstandard')}; load average at start "
        f"{info.get('load average at start')}, at end {load_end}; the machine is shared with "
        f"other developers, so wall times are noisy; medians of {reps}).",
        "",
        f"Library calls, {BATCH} real 4 KiB pages per batch, CPU time per page (interleaved):",
        "",
        "| call | us per page |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in costs.items()]
    lz_loop = costs["lz4: one lz4.block call per page"]
    lz_map = costs["lz4: map(lz4.block) over the batch"]
    z1 = costs["zstd-1: one call per page"] / costs["zstd-1: multi_compress_to_buffer per batch"]
    z3 = costs["zstd-3: one call per page"] / costs["zstd-3: multi_compress_to_buffer per batch"]
    lines += [
        "",
        f"zstd's batch call: **{z1:.2f}x** (level 1) and **{z3:.2f}x** (level 3) the pages per "
        f"CPU second of one call per page. lz4 has no batch call that makes zswap's bytes: `map` "
        f"over `lz4.block.compress` is {lz_loop / lz_map:.2f}x a Python loop (the call overhead "
        "is a few percent of a 4 KiB compression), and frames are another format; so lz4 stays "
        "one call per page, inside zswap_store.",
        "",
        "Replays of the replay benchmark's trace (real pages, N/2 swap-outs then N/2 swap-ins), "
        "every mode; *auto* shows what its probe chose and ahead's time per event over inline's "
        "that it measured (each repetition):",
        "",
        "| events | compressor | mode | wall (s) | CPU (s) | raw loop (s) | raw / replay (wall) "
        "| auto chose |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['events']} | {r['compressor']} | {r['mode']} | {r['wall_s']} | "
                     f"{r['cpu_s']} | {r['raw_s']} | {r['raw_ratio']} | "
                     f"{'; '.join(_short(c) for c in r['chose']) or '-'} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    pages = [p for p in machine_pages(8192) if any(p)]
    costs = call_costs(pages, 2 * args.reps + 1)
    print("  calls (us/page):", costs, flush=True)
    rows = replays(args.work, 20_000 if args.quick else 100_000, args.reps)
    lines = render(info, costs, rows, args.reps, " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("\n".join(lines))
    if not args.no_write:
        write_section(HERE / "RESULTS.md", SECTION, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
