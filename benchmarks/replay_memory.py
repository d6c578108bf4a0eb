"""Peak memory of ``ghostswap replay`` per distinct page (issue #13, item 12).

For each content kind, writes a binary trace that swaps out N distinct pages (``zero``: zero
pages, which the swap layer keeps as a bit; ``fill``: distinct same-filled pages, which zswap
keeps as an entry without payload; ``text``: distinct compressible pages, which zswap
compresses into its pool), replays it in a fresh process onto a fresh machine with one large
ghost swapfile, and prints the peak RSS beside that of the same replay of a 1-page trace, and
the difference per page. The replay includes opening the state and committing it, as the
command does. For ``text`` the pool file is a mapping, so RSS includes the compressed payload:
the per-page figure is also given without it (the compressor's output per page; the pool
rounds each object up to its 16-byte granule).

Optionally the same with another tree (``--against DIR``, e.g. an export of the main branch)
for a before/after in the same run.

    python3 -m benchmarks.replay_memory [--pages N] [--text-pages N] [--kinds zero,fill,text]
                                        [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

SETUP = """\
import sys
from pathlib import Path
from ghostswap_cli.cli.demo import make_swapfile
from ghostswap_cli.kernel.machine import open_kernel, reset_state
from ghostswap_cli.kernel.procfs import write_file
from ghostswap_cli.kernel.swapfile import sys_swapon
state, swapfile, size, zswap = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
reset_state(state, {"backing_rotational": "0", "backing_discard": "0", "ram": str(256 << 30)},
            keep_machine=False)
make_swapfile(swapfile, size, 4096, ghost=True, label="big")
with open_kernel(state) as k:
    write_file(k, "/sys/module/zswap/parameters/enabled", zswap)
    write_file(k, "/sys/module/zswap/parameters/max_pool_percent", "100")
    sys_swapon(k, str(swapfile), 0)
"""

REPLAY = """\
import sys
from ghostswap_cli.cli import main
try:
    main(["--state", sys.argv[1], "replay", sys.argv[2], "--no-progress", "--compress-ahead",
          "off", "--json"])
except SystemExit as e:
    if e.code:
        raise
# VmHWM, not ru_maxrss: that one starts from the RSS of the process that forked this one
with open("/proc/self/status") as f:
    print(next(line.split()[1] for line in f if line.startswith("VmHWM:")), file=sys.stderr)
"""

# record heads (``word >> 52``): op out (0) with content kind zero (2), fill (3), text (5)
CODE = {"zero": 2 << 8, "fill": 3 << 8, "text": 5 << 8}
SEEDED = ("fill", "text")


def write_trace(path: Path, pages: int, kind: str, stride: int = 1) -> None:
    """Swap-outs of ``pages`` distinct pages of ``kind``, at VPNs 0, stride, 2*stride..."""
    header = b"\x89GSTRACE" + (1).to_bytes(2, "little") + bytes(2) + (4096).to_bytes(4, "little")
    step = 1 << 20
    with open(path, "wb") as f:
        f.write(header)
        for lo in range(0, pages, step):
            v = np.arange(lo, min(lo + step, pages), dtype=np.uint64)
            head = (v * np.uint64(stride)) | np.uint64(CODE[kind] << 52)
            if kind in SEEDED:
                # fill: the 64-bit word the page repeats; text: the seed (both distinct)
                rec = np.empty((len(v), 2), dtype="<u8")
                rec[:, 0] = head
                rec[:, 1] = v + np.uint64(0x0101010101010101 if kind == "fill" else 1)
                f.write(rec.tobytes())
            else:
                f.write(head.astype("<u8").tobytes())


def run(tree: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    # cwd too: `python -c` puts the current directory first on sys.path
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tree, check=True)


def replay_peak(tree: Path, d: Path, trace: Path, pages: int, kind: str) -> dict:
    state, swapfile = d / "state", d / "big.swap"
    shutil.rmtree(state, ignore_errors=True)
    swapfile.unlink(missing_ok=True)
    slots = max(pages, 1) + 1024
    run(tree, SETUP, str(state), str(swapfile), str(slots * 4096 + 4096),
        "N" if kind == "zero" else "Y")
    start = time.perf_counter()
    r = run(tree, REPLAY, str(state), str(trace))
    secs = time.perf_counter() - start
    report = json.loads(r.stdout)
    if report["swapped_out"] != pages or report["no_swap_space"] or report["stayed_resident"]:
        raise SystemExit(f"{trace}: the replay did not store every page: {report}")
    out = {"peak_kib": int(r.stderr.split()[-1]), "seconds": secs,
           "payload": report["zswap_accepted_bytes"]}
    shutil.rmtree(state, ignore_errors=True)
    swapfile.unlink(missing_ok=True)
    return out


ACCOUNT = """\
import json, sys, tracemalloc
from pathlib import Path
from ghostswap_cli.codec.trace import open_trace
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace
state, trace = Path(sys.argv[1]), sys.argv[2]
with open_trace(trace) as reader, open_kernel(state) as k:
    k.load_all()
    _ = k.zswap
    tracemalloc.start(1)
    base = tracemalloc.take_snapshot()
    start = tracemalloc.get_traced_memory()[0]
    replay_trace(k, reader, ReplayOptions(compress_ahead="off"))
    held = tracemalloc.get_traced_memory()[0]
    snap = tracemalloc.take_snapshot()
    tracemalloc.reset_peak()
    k.save()
    commit = tracemalloc.get_traced_memory()[1] - held
    lines = {}
    for st in snap.compare_to(base, "filename"):
        name = st.traceback[0].filename.split("ghostswap_cli/")[-1]
        lines[name] = lines.get(name, 0) + st.size_diff
print(json.dumps({"held": held - start, "commit": commit, "by_file": lines}))
"""

# where the traced bytes of a replay are, by the file that allocated them
STRUCTURES = (
    ("kernel/mm.py", "page table (PTE + CRC32, 512-entry pages)"),
    ("kernel/cluster.py", "swap slots (swap_map, loc, ref, 512-slot clusters)"),
    ("kernel/zswap.py", "zswap entry arrays"),
    ("kernel/machine.py", "slots written to disk, until the commit"),
    ("kernel/arena.py", "pool arena bookkeeping"),
    ("codec/trace.py", "trace reader (its page caches, the batch in hand)"),
)


def account(tree: Path, d: Path, trace: Path, pages: int, kind: str) -> None:
    """Where the bytes go: tracemalloc in one process, by the module that allocated them."""
    state, swapfile = d / "state", d / "big.swap"
    shutil.rmtree(state, ignore_errors=True)
    swapfile.unlink(missing_ok=True)
    run(tree, SETUP, str(state), str(swapfile), str((pages + 1024) * 4096 + 4096),
        "N" if kind == "zero" else "Y")
    got = json.loads(run(tree, ACCOUNT, str(state), str(trace)).stdout)
    shutil.rmtree(state, ignore_errors=True)
    swapfile.unlink(missing_ok=True)
    by_file = got["by_file"]
    print(f"  {kind}, {pages} pages, traced by tracemalloc (bytes per page):")
    rest = got["held"]
    for path, what in STRUCTURES:
        size = sum(v for k, v in by_file.items() if k.endswith(path))
        rest -= size
        if abs(size) >= pages / 20:
            print(f"    {size / pages:6.1f}  {what}")
    print(f"    {rest / pages:6.1f}  the rest")
    print(f"    {got['held'] / pages:6.1f}  held after the replay; the commit's peak above it "
          f"{got['commit'] / pages:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=10_000_000, help="zero and fill pages")
    ap.add_argument("--text-pages", type=int, default=1_000_000,
                    help="text pages (each puts ~1.8 KB into the pool file)")
    ap.add_argument("--kinds", default="zero,fill,text")
    ap.add_argument("--stride", type=int, default=1, help="VPN step between pages")
    ap.add_argument("--against", type=Path, help="another tree to measure the same way")
    ap.add_argument("--dir", type=Path, help="where to put traces and state (default: a temp dir)")
    ap.add_argument("--account", action="store_true",
                    help="also say where the bytes go (tracemalloc, by module; slower)")
    args = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average at start "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    trees = [("this tree", REPO)] + ([("against", args.against)] if args.against else [])
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        d = Path(tmp)
        for kind in args.kinds.split(","):
            pages = args.text_pages if kind == "text" else args.pages
            small, big = d / f"small-{kind}.gstrace", d / f"big-{kind}.gstrace"
            write_trace(small, 1, kind, args.stride)
            write_trace(big, pages, kind, args.stride)
            for name, tree in trees:
                base = replay_peak(tree, d, small, 1, kind)
                got = replay_peak(tree, d, big, pages, kind)
                per = (got["peak_kib"] - base["peak_kib"]) * 1024 / pages
                payload = got["payload"] / pages
                extra = (f", {per - payload:.1f} beyond the {payload:.1f} bytes of compressed "
                         "payload" if payload else "")
                print(f"{name}: {kind}: {pages} distinct pages: peak RSS "
                      f"{got['peak_kib'] / 1024:.0f} MiB (1-page trace "
                      f"{base['peak_kib'] / 1024:.0f} MiB), {per:.1f} bytes per page{extra}, "
                      f"{got['seconds']:.1f} s", flush=True)
                if args.account:
                    account(tree, d, big, pages, kind)
            big.unlink()
    print("# load average at end " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
