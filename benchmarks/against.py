"""This tree against another one, in one run: replay/raw ratios and bytes per stored page.

    git -C . archive <commit> | tar -x -C /tmp/old
    python -m benchmarks.against /tmp/old [--events 200000] [--reps 3] [--memory-pages 1000000]

Each measurement runs in a fresh process with one tree first on ``sys.path``; the trees take
turns (old, new, old, new...) so that both see the same share of the machine's other load.
The replay is the replay benchmark's: N/2 swap-outs of real pages from files on this machine,
then N/2 swap-ins, timed as the whole persisted operation, beside the raw loop that compresses
and decompresses the same pages (:func:`benchmarks.run.raw_loop`), in the same process. Modes:
*inline* (``--compress-ahead off``, no batching) and *default* (``--compress-ahead auto``).
Memory: the memory benchmark's child (:data:`benchmarks.run.MEMORY_CHILD`), run on each tree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

REPLAY_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from benchmarks.run import fresh_machine, raw_loop, timed_replay
from benchmarks.run import machine_pages, mixed
work = Path(sys.argv[2]); trace = Path(sys.argv[3]); n = int(sys.argv[4])
compressor, level = sys.argv[5], (int(sys.argv[6]) or None)
pages = mixed(machine_pages(n), n)
out = {"raw": raw_loop(pages, compressor, level)}
for name, ahead in (("inline", "off"), ("default", "auto")):
    state = work / "state-against"
    fresh_machine(state, work)
    c0 = time.process_time()
    out[name], rep = timed_replay(state, trace, compressor, level, ahead, "off" if ahead == "off" else "auto")
    out[name + "_cpu"] = time.process_time() - c0
    if name == "default":
        out["chose"] = rep["compress_ahead"].split(",")[0]
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.against", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("other", type=Path, help="the other tree (e.g. a git archive of main)")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--memory-pages", type=int, default=1_000_000, help="0: skip memory")
    ap.add_argument("--work", type=Path, default=HERE / "work")
    args = ap.parse_args(argv)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE.parent))
    from benchmarks.run import machine_pages, mixed, write_out_in_trace

    trees = {"before": args.other.resolve(), "after": HERE.parent}
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    n = args.events // 2
    trace = write_out_in_trace(work / f"against-{args.events}.gstrace",
                               mixed(machine_pages(n), n))
    res: dict = {"events": args.events, "reps": args.reps, "replay": {}, "memory": {}}
    for compressor, level in (("lz4", 0), ("zstd", 1)):
        runs: dict[str, list[dict]] = {t: [] for t in trees}
        for _ in range(args.reps):
            for tree, path in trees.items():
                out = subprocess.run(
                    [sys.executable, "-c", REPLAY_CHILD, str(path), str(work), str(trace), str(n),
                     compressor, str(level)], capture_output=True, text=True, check=True)
                runs[tree].append(json.loads(out.stdout.strip().splitlines()[-1]))
        name = compressor + (f"-{level}" if level else "")
        for tree, rs in runs.items():
            row = {key: round(statistics.median(r[key] for r in rs), 3)
                   for key in ("raw", "inline", "default", "inline_cpu")}
            row["raw/inline"] = round(statistics.median(r["raw"] / r["inline"] for r in rs), 3)
            row["raw/default"] = round(statistics.median(r["raw"] / r["default"] for r in rs), 3)
            row["default chose"] = rs[-1]["chose"]
            res["replay"].setdefault(name, {})[tree] = row
            print(f"{name} {tree}: {row}", flush=True)
    trace.unlink(missing_ok=True)
    if args.memory_pages:
        from benchmarks.run import MEMORY_CHILD

        for tree, path in trees.items():
            out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(work),
                                  str(args.memory_pages), str(path)],
                                 capture_output=True, text=True, check=True)
            d = json.loads(out.stdout.strip().splitlines()[-1])
            d["overhead_per_page"] = round((d["rss_delta"] - d["payload"]) / d["stored"], 1)
            d["parts"] = {k: round(v, 1) for k, v in d["parts"].items()}
            d["parts"]["the rest"] = round(d["overhead_per_page"] - sum(d["parts"].values()), 1)
            res["memory"][tree] = d
            print(f"memory {tree}: {d['overhead_per_page']} bytes/page beyond the payload, "
                  f"{d['parts']}", flush=True)
            import shutil

            shutil.rmtree(work / "state-mem", ignore_errors=True)
            (work / "mem.swap").unlink(missing_ok=True)
    res["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at end: {res['load average at end']}")
    (work / "against.json").write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
