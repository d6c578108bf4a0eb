"""Start-up of the commands people run to look, alone (the same measurement as the scale figure
of ``python -m benchmarks``, without the long replays): ``--help``, ``cat /proc/swaps``,
``swapshow`` and ``swapon --show`` on a machine with MAX_SWAPFILES ghost areas, and ``--help``
through pip's console-script stub, each a fresh process, against ``python3 -c pass`` in the same
run (the commands take turns). Wall and CPU time, absolute and over the bare interpreter.

usage: python -m benchmarks.startup [--work DIR]   (prints a Markdown section for RESULTS.md)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.run import STARTUP_RUNS, _max_devices, machine_info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    args = ap.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
