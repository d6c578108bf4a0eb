"""Start-up of the commands people run to look, alone (the same measurement as the scale figure
of ``python -m benchmarks``, without the long replays): ``--help``, ``cat /proc/swaps``,
``swapshow`` and ``swapon --show`` on a machine with MAX_SWAPFILES ghost areas, and ``--help``
through pip's console-script stub, each a fresh process, against ``python3 -c pass`` in the same
run (the commands take turns). Wall and CPU time, absolute and over the bare interpreter.

usage: python -m benchmarks.startup [--work DIR] [--before TREE]
(prints a Markdown section for RESULTS.md). ``--before TREE`` also runs every command on another
source tree (e.g. ``git archive`` of the commit before a change, unpacked), the two trees taking
turns within each round, and prints the two side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.run import (
    HERE,
    STARTUP_RUNS,
    _max_devices,
    machine_info,
    max_devices_state,
    startup_timings,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("--before", type=Path, default=None,
                    help="another source tree to time in the same run, side by side")
    args = ap.parse_args(argv)
    if args.before is not None:
        return _compare(args.before.resolve(), args.work)
    info = machine_info()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=args.work) as tmp, contextlib.redirect_stdout(sys.stderr):
        res = _max_devices(Path(tmp))  # (its progress line to stderr: stdout is the section)
    load1 = os.getloadavg()
    print(f"## Start-up (issue #18)\n\n`python -m benchmarks.startup`. Machine: {info.get('cpu')}, "
          f"{info.get('cpus')} CPUs shared with other developers' jobs, load average "
          f"{load0[0]:.1f} at start and {load1[0]:.1f} at end. {res['max_swapfiles']} active ghost "
          f"areas; each command a fresh `python3 -m ghostswap_cli ...` with bytecode cached, "
          f"median of {STARTUP_RUNS} runs, the commands taking turns. Target: under 100 ms for "
          "--help, cat /proc/swaps and swapshow on the development machine; on a loaded machine "
          "the CPU time over the bare interpreter is the figure that compares.\n")
    print("| command | wall median (ms) | fastest (ms) | over the bare interpreter (ms) | "
          "CPU median (ms) | CPU over the bare interpreter (ms) |")
    print("|---|---|---|---|---|---|")
    for name, v in res["startup"].items():
        print(f"| `{name}` | {v['median_ms']} | {v['min_ms']} | {v['over_bare_ms']} | "
              f"{v['cpu_median_ms']} | {v['cpu_over_bare_ms']} |")
    return 0


def _compare(before: Path, work: Path | None) -> int:
    info = machine_info()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=work) as tmp, contextlib.redirect_stdout(sys.stderr):
        state, n = max_devices_state(Path(tmp))
        res = startup_timings(state, Path(tmp), {"before": before, "after": HERE.parent})
    load1 = os.getloadavg()
    print(f"## Start-up (issue #18)\n\n`python -m benchmarks.startup --before TREE`. Machine: "
          f"{info.get('cpu')}, {info.get('cpus')} CPUs shared with other developers' jobs, load "
          f"average {load0[0]:.1f} at start and {load1[0]:.1f} at end. {n} active ghost areas; "
          f"each command a fresh `python3 -m ghostswap_cli ...` with bytecode cached, median of "
          f"{STARTUP_RUNS} runs, the commands and the two trees (*before*: {before.name}, *after*: "
          "this tree) taking turns. Target: under 100 ms for --help, cat /proc/swaps and "
          "swapshow on the development machine; on a loaded machine the CPU time over the bare "
          "interpreter is the figure that compares.\n")
    print("| command | before: wall median (ms) | after: wall median (ms) | before: CPU over bare "
          "(ms) | after: CPU over bare (ms) | after: fastest wall (ms) |")
    print("|---|---|---|---|---|---|")
    for name, b in res["before"].items():
        a = res["after"][name]
        print(f"| `{name}` | {b['median_ms']} | **{a['median_ms']}** | {b['cpu_over_bare_ms']} | "
              f"**{a['cpu_over_bare_ms']}** | {a['min_ms']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
