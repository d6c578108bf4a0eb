#!/usr/bin/env python3
"""Soak: N concurrent ghostswap processes against one state for M minutes, then fsck.

    python benchmarks/soak.py --workers 8 --minutes 10 [--state DIR] [--seed S] [--json]

Every operation is a real ``python -m ghostswap_cli`` subprocess, so the processes contend
for the state's lock and database exactly as users' commands would. The workers take turns
through three roles (with 8 workers: 3 replayers, 3 cyclers, 2 readers):

replay   replays small synthetic traces (``ghostswap trace synth``, made at setup) in a loop,
         every other one compressing ahead in a second process (``--compress-ahead on``).
         Each replayer has its own VPN range, so the traces never touch each other's pages;
         its pages land on whatever areas are active at the time (on purpose: swapoff by a
         cycler brings them back into RAM, and a later swap-in of such a page is counted as
         "not swapped out", which is no error).
cycle    enables and disables its own real swap file and its own ghost, in a loop, and also
         one real file shared by all cyclers, on purpose: only one of them can have it on at a
         time, so the others see swapon's EBUSY and swapoff's EINVAL.
read     ``cat /proc/swaps``, ``swapshow``, ``cat /proc/meminfo``, ``kernel show --json`` and
         ``dmesg`` in a loop.

Two areas stay on for the whole run (a 16 MiB ghost at priority 10 in front of a 64 MiB real
file at priority 5), so replays always find slots; the ghost overflows onto the real file.

At the end: ``kernel fsck --verify`` (every swapped-out page is read and checked against its
CRC32), the kernel's ``corrupt_pages`` counter (pages that came back wrong during the run),
then a summary: operations by kind, errors by kind (only EBUSY, EINVAL and ENOMEM refusals
are expected), pages lost, and fsck's verdict. Exit status 0 when there was no unexpected
error, no page was lost and fsck found the state clean; 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# stderr endings of refusals a concurrent user must expect (util-linux's words)
EXPECTED = {
    "Device or resource busy": "EBUSY",
    "Invalid argument": "EINVAL",
    "Cannot allocate memory": "ENOMEM",
}
LOCK_NOTE = "waiting for the state lock"


class Soak:
    def __init__(self, work: Path, state: Path, workers: int, seconds: float, seed: int):
        self.work = work
        self.state = state
        self.workers = workers
        self.seconds = seconds
        self.seed = seed
        self.ops: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.unexpected: list[str] = []
        self.lock = threading.Lock()
        fstab = work / "fstab"
        fstab.write_text("")
        # the commands run this checkout's code, as the fsck at the end does, not an older
        # installed copy
        path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
        self.env = dict(os.environ, GHOSTSWAP_STATE=str(state), LIBMOUNT_FSTAB=str(fstab),
                        NO_COLOR="1", PYTHONPATH=path)

    # -- running one command -----------------------------------------------------------------
    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([sys.executable, "-m", "ghostswap_cli", *map(str, args)],
                           env=self.env, capture_output=True, text=True, timeout=600)
        if check and p.returncode != 0:
            raise SystemExit(f"soak setup: ghostswap {' '.join(map(str, args))}: {p.stderr}")
        return p

    def op(self, kind: str, *args: str, ok: tuple[int, ...] = (0,)) -> None:
        p = self.cli(*args)
        err = "\n".join(line for line in p.stderr.splitlines() if LOCK_NOTE not in line)
        with self.lock:
            self.ops[kind] += 1
            if p.returncode in ok and "Traceback" not in err:
                return  # (a warning on stderr, such as the lock wait, is no error)
            refusal = next((name for text, name in EXPECTED.items()
                            if err.strip().endswith(text)), None)
            if refusal and "Traceback" not in err and err.count("\n") == 0:
                self.errors[f"{kind}: {refusal}"] += 1
                return
            self.errors[f"{kind}: UNEXPECTED exit {p.returncode}"] += 1
            if len(self.unexpected) < 20:
                self.unexpected.append(f"ghostswap {' '.join(map(str, args))}: exit "
                                       f"{p.returncode}: {(err or p.stdout)[-400:]}")

    # -- setup -------------------------------------------------------------------------------
    def setup(self) -> None:
        w = self.work
        self.cli("kernel", "init", "--force", "--ram", "1G", "--backing-rotational", "0",
                 "--backing-discard", "0", check=True)
        self.cli("mkswap", "-q", "--ghost", "-s", "16M", w / "base-ghost.swap", check=True)
        self.cli("mkswap", "-q", "-F", "-s", "64M", w / "base-real.swap", check=True)
        self.cli("swapon", "-p", "10", w / "base-ghost.swap", check=True)
        self.cli("swapon", "-p", "5", w / "base-real.swap", check=True)
        self.cli("mkswap", "-q", "-F", "-s", "8M", w / "shared.swap", check=True)
        self.roles = [("replay", "cycle", "read")[i % 3] for i in range(self.workers)]
        for i, role in enumerate(self.roles):
            if role == "replay":
                for j in range(3):
                    self.cli("trace", "synth", "-o", w / f"w{i}-{j}.trace", "--events", "600",
                             "--working-set", "300", "--peak", "150", "--seed",
                             str(self.seed * 1000 + i * 10 + j), "--vpn-base",
                             str(0x1000000 * (i + 1)), "--free-rate", "0.02", check=True)
            elif role == "cycle":
                self.cli("mkswap", "-q", "-F", "-s", "8M", w / f"w{i}-real.swap", check=True)
                self.cli("mkswap", "-q", "--ghost", "-s", "1G", w / f"w{i}-ghost.swap",
                         check=True)

    # -- the workers -------------------------------------------------------------------------
    def worker(self, i: int, role: str, end: float) -> None:
        rnd = random.Random(self.seed * 7919 + i)
        w = self.work
        j = 0
        while time.monotonic() < end:
            if role == "replay":
                # every other replay forks its compress-ahead process, under the same contention
                self.op("replay", "replay", "--no-progress", "--compress-ahead",
                        ("on", "off")[j % 2], w / f"w{i}-{j % 3}.trace")
            elif role == "cycle":
                own = [w / f"w{i}-real.swap", w / f"w{i}-ghost.swap"]
                for path in own:
                    self.op("swapon", "swapon", "-p", str(rnd.randrange(0, 8)), path)
                self.op("swapon", "swapon", w / "shared.swap")
                self.op("read", "cat", "/proc/swaps")
                for path in own:
                    self.op("swapoff", "swapoff", path)
                self.op("swapoff", "swapoff", w / "shared.swap")
            else:
                args = rnd.choice([("cat", "/proc/swaps"), ("swapshow",),
                                   ("cat", "/proc/meminfo"), ("kernel", "show", "--json"),
                                   ("dmesg",)])
                self.op("read", *args)
            j += 1

    def run(self) -> dict:
        self.setup()
        start = time.monotonic()
        end = start + self.seconds
        threads = [threading.Thread(target=self.worker, args=(i, role, end), daemon=True)
                   for i, role in enumerate(self.roles)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        fsck = self.cli("kernel", "fsck", "--verify", "--json")
        try:
            report = json.loads(fsck.stdout)
        except json.JSONDecodeError:
            report = {"error": fsck.stderr.strip() or "no report", "verify": None,
                      "problems": []}
        verify = report.get("verify") or {}
        from ghostswap_cli.kernel.machine import open_kernel

        with open_kernel(self.state, write=False) as k:
            corrupt_during = k.counters.get("corrupt_pages", 0)
            swapped = k.mm.swapped_pages
            areas = len(k.active())
        lost = len(verify.get("corrupt", [])) + len(verify.get("missing", [])) + corrupt_during
        return {
            "workers": self.workers,
            "roles": dict(collections.Counter(self.roles)),
            "seconds": round(elapsed, 1),
            "operations": sum(self.ops.values()),
            "operations_by_kind": dict(sorted(self.ops.items())),
            "errors_by_kind": dict(sorted(self.errors.items())),
            "unexpected": self.unexpected,
            "pages_swapped_out_at_end": swapped,
            "pages_verified": verify.get("checked", 0),
            "pages_lost": lost,
            "corrupt_pages_during_run": corrupt_during,
            "active_areas_at_end": areas,
            "fsck_exit": fsck.returncode,
            "fsck_problems": [p["text"] for p in report.get("problems", [])][:20],
            "fsck_error": report.get("error"),
        }


def render(r: dict) -> str:
    lines = [
        f"soak: {r['workers']} workers ({', '.join(f'{n} {k}' for k, n in r['roles'].items())})"
        f" for {r['seconds']} s",
        f"operations        {r['operations']} ("
        + ", ".join(f"{k} {n}" for k, n in r["operations_by_kind"].items()) + ")",
        "errors            " + (", ".join(f"{k} {n}" for k, n in r["errors_by_kind"].items())
                                or "none"),
        f"pages swapped out {r['pages_swapped_out_at_end']} at the end, "
        f"{r['pages_verified']} verified by fsck",
        f"pages lost        {r['pages_lost']} ({r['corrupt_pages_during_run']} came back "
        f"corrupt during the run)",
        f"fsck --verify     exit {r['fsck_exit']}"
        + ("" if r["fsck_exit"] == 0 else f": {r['fsck_error'] or r['fsck_problems']}"),
    ]
    for u in r["unexpected"]:
        lines.append(f"unexpected        {u}")
    return "\n".join(lines) + "\n"


def verdict(r: dict) -> int:
    bad = any("UNEXPECTED" in k for k in r["errors_by_kind"])
    return 1 if bad or r["pages_lost"] or r["fsck_exit"] != 0 else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=8, help="concurrent workers [8]")
    p.add_argument("--minutes", type=float, default=10.0, help="duration [10]")
    p.add_argument("--state", type=Path, help="state directory (default: a fresh temporary "
                   "one; an existing one is replaced)")
    p.add_argument("--seed", type=int, default=1, help="seed of traces and choices [1]")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if args.workers < 1 or args.minutes <= 0:
        p.error("--workers and --minutes must be positive")
    work = Path(tempfile.mkdtemp(prefix="ghostswap-soak-"))
    state = args.state or work / "state"
    if args.state:
        args.keep = True  # the state names the swap files made here: keep them with it
        print(f"soak: swap files and traces in {work}", file=sys.stderr)
    try:
        soak = Soak(work, state, args.workers, args.minutes * 60, args.seed)
        result = soak.run()
        result["state"] = str(state)
        print(json.dumps(result, indent=2) if args.json else render(result), end="")
        return verdict(result)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
