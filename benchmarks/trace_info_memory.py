"""Peak memory of ``ghostswap trace info`` per distinct page (issue #13, item 12).

Writes a binary trace of N distinct pages (zero pages, every third VPN, so nothing but the
page states grows), runs ``trace info`` on it and on a 1-page trace in fresh processes, and
prints the peak RSS of each and the difference per page. Optionally the same with another
checkout (``--against DIR``, e.g. the main branch) for a before/after in the same run.

    python3 -m benchmarks.trace_info_memory [--pages N] [--against DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE = ("import sys; from ghostswap_cli.cli import main\n"
        "try:\n    main(['trace', 'info', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        # VmHWM, not ru_maxrss: a child's ru_maxrss starts from the peak of the process that
    # forked it (exec keeps it), so a big parent would hide what the command itself used
    "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr)")


def write_trace(path: Path, pages: int) -> None:
    sys.path.insert(0, str(REPO))
    from ghostswap_cli.codec.trace import open_trace_writer

    with open_trace_writer(path, "binary") as w:
        for v in range(pages):
            w.out(v * 3, "zero")


def peak_kib(tree: Path, trace: Path) -> tuple[int, float]:
    start = time.perf_counter()
    # cwd too: `python -c` puts the current directory first on sys.path
    r = subprocess.run([sys.executable, "-c", CODE, str(trace)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tree, check=True)
    return int(r.stderr.split()[-1]), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=10_000_000)
    ap.add_argument("--against", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        small, big = Path(d) / "small.gstrace", Path(d) / "big.gstrace"
        write_trace(small, 1)
        write_trace(big, args.pages)
        trees = [("this tree", REPO)] + ([("against", args.against)] if args.against else [])
        for name, tree in trees:
            base, _ = peak_kib(tree, small)
            peak, secs = peak_kib(tree, big)
            per = (peak - base) * 1024 / args.pages
            print(f"{name}: {args.pages} distinct pages: peak RSS {peak / 1024:.0f} MiB "
                  f"(1-page trace {base / 1024:.0f} MiB), {per:.1f} bytes per page, {secs:.1f} s")


if __name__ == "__main__":
    main()
