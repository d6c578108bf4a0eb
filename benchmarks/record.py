"""``trace record`` on this machine: which sources it has, how exact each is, what it costs.

Run ``python -m benchmarks.record`` from the repository root. Two programs:

- *known subset*: maps 16 MiB, writes known bytes to a quarter of the first half and reads every
  fifth page of the second half, 20 rounds 50 ms apart; scored per source (precision and recall
  of the accessed and written sets over the run, and per sample);
- *dict walk*: builds a 400,000-entry dict and walks it three times (CPU and memory bound).

Each is timed without recording and with each available source, three times, median reported:
the overhead the target sees is the ratio of its wall times. ``--oracle`` adds the sources
this machine lacks, measured in the kernel oracle's real Linux 6.1. The section goes into
``benchmarks/RESULTS.md`` between markers, so ``python -m benchmarks`` keeps it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import HERE, machine_info
from ghostswap_cli.replay.record import record
from ghostswap_cli.replay.record_eval import SourceScore, read_samples, score
from ghostswap_cli.replay.record_sources import SOURCES, probe_sources
from ghostswap_cli.replay.record_target import Target

BEGIN, END = "<!-- record: begin -->", "<!-- record: end -->"
PAGES = 4096
KNOWN = f"""
import ctypes, json, mmap, os, sys, time
PAGE = mmap.PAGESIZE
pages = {PAGES}
buf = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
buf.madvise(mmap.MADV_NOHUGEPAGE)
open(sys.argv[1], "w").write(json.dumps(ctypes.addressof(ctypes.c_char.from_buffer(buf))))
w, r = range(0, pages // 2, 4), range(pages // 2, pages, 5)
for rnd in range(20):
    for i in w:
        buf[i * PAGE:(i + 1) * PAGE] = ((b"page %06d round %04d|" % (i, rnd)) * 200)[:PAGE]
    s = sum(buf[i * PAGE] for i in r)
    time.sleep(0.05)
os._exit(0)
"""
DICT_WALK = """
import os
d = {i: ("value %d " % i) * 4 for i in range(400_000)}
for _ in range(3):
    n = sum(len(v) for v in d.values())
os._exit(0)
"""


def _plain(script: Path, arg: Path) -> float:
    t = time.monotonic()
    subprocess.run([sys.executable, str(script), str(arg)], check=True)
    return time.monotonic() - t


def _recorded(script: Path, arg: Path, out: Path, source: str) -> tuple[float, dict]:
    target = Target.start([sys.executable, str(script), str(arg)])
    r = record(target, out, source=source)
    return r.target_wall_s or 0.0, r.to_dict()


def run(repeat: int) -> dict:
    probes = probe_sources(None)
    here = [s for s in SOURCES if probes[s][0]]
    res: dict = {"sources": {s: {"available": ok, "reason": why} for s, (ok, why) in probes.items()},
                 "scores": [], "overhead": []}
    with tempfile.TemporaryDirectory(prefix="gs-record-") as d:
        work = Path(d)
        for name, text in (("known subset", KNOWN), ("dict walk", DICT_WALK)):
            script = work / f"{name.replace(' ', '_')}.py"
            script.write_text(text)
            info = work / "info.json"
            plain = statistics.median(_plain(script, info) for _ in range(repeat))
            row = {"program": name, "plain_s": plain, "sources": {}}
            for source in here:
                runs = [_recorded(script, info, work / f"{source}.trace", source) for _ in range(repeat)]
                walls = [w for w, _ in runs]
                last = runs[-1][1]
                row["sources"][source] = {
                    "wall_s": statistics.median(walls), "samples": last["samples"],
                    "sample_ms_mean": last["sample_ms_mean"], "stopped_ms": last["stopped_ms"],
                    "sampling_s": last["sampling_s"]}
                print(f"{name}: {source}: {statistics.median(walls):.3f} s vs {plain:.3f} s plain",
                      flush=True)
                if name == "known subset":
                    lo = json.loads(info.read_text()) // 4096
                    written = {lo + i for i in range(0, PAGES // 2, 4)}
                    touched = written | {lo + i for i in range(PAGES // 2, PAGES, 5)}
                    sc = score(source, read_samples(work / f"{source}.trace", lo, lo + PAGES),
                               touched, written)
                    res["scores"].append(sc.__dict__)
            res["overhead"].append(row)
    return res


def render(info: dict, res: dict) -> str:
    lines = [BEGIN, "## trace record: sources, exactness and overhead", "",
             f"Reproduce with `python -m benchmarks.record` (measured {info['date']} on "
             f"{info['cpus']} CPUs, kernel {info['kernel']}, load average at start "
             f"{info['load average at start']}; the machine is shared, so timings are noisy).", "",
             "| source | here | why not |", "|---|---|---|"]
    for s, v in res["sources"].items():
        lines.append(f"| {s} | {'yes' if v['available'] else 'no'} | {v['reason'] or ''} |")
    lines += ["", "Known-subset program (16 MiB; 512 pages written every round, 410 only read): "
              "precision and recall of the trace's accessed and written sets over the run, and the "
              "mean share of the read and written pages each sample saw.", "",
              "| " + " | ".join(SourceScore.HEADER.split()) + " |",
              "|" + "---|" * len(SourceScore.HEADER.split())]
    for sc in res["scores"]:
        lines.append("| " + " | ".join(SourceScore(**sc).row().split()) + " |")
    lines += ["", "Target wall time, median of three, without and with recording (100 ms interval):",
              "", "| program | plain (s) | source | recorded (s) | **ratio** | samples | ms/sample | "
              "target stopped (ms) |", "|---|---|---|---|---|---|---|---|"]
    for row in res["overhead"]:
        for source, v in row["sources"].items():
            lines.append(f"| {row['program']} | {row['plain_s']:.3f} | {source} | {v['wall_s']:.3f} | "
                         f"**{v['wall_s'] / row['plain_s']:.2f}** | {v['samples']} | "
                         f"{v['sample_ms_mean']:.1f} | {v['stopped_ms']:.1f} |")
    if res.get("oracle"):
        lines += ["", "The sources this machine lacks, on a real Linux 6.1 (Debian 12's kernel under qemu, "
                  "`benchmarks/oracle/record-sources.sh`; the same program with 256 pages, 30 rounds "
                  "300 ms apart, 500 ms interval, as emulation runs Python about 20 times slower):", "",
                  "```", res["oracle"].rstrip("\n"), "```"]
    lines += ["", END, ""]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + text + old[old.index(END) + len(END) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.record", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    ap.add_argument("--oracle", action="store_true", help="also record in the kernel oracle's "
                    "real Linux 6.1 (benchmarks/oracle/record-sources.sh, about 3 minutes)")
    args = ap.parse_args(argv)
    info = machine_info()
    res = run(args.repeat)
    if args.oracle:
        p = subprocess.run(["bash", str(HERE / "oracle" / "record-sources.sh")], capture_output=True,
                           text=True, check=False, timeout=1800)
        res["oracle"] = p.stdout if p.returncode == 0 else f"(the oracle run failed: {p.stderr.strip()})"
    text = render(info, res)
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
