"""Eight processes run swapon, swapoff and cat against one state for 30 seconds: no lost
update, no "database is locked", and a table that adds up at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from helpers import ghost_swapfile, machine, real_swapfile

from ghostswap_cli.kernel.check import check_state
from ghostswap_cli.kernel.machine import open_kernel

WORKER = textwrap.dedent("""
    import json, os, random, subprocess, sys, time
    seed, seconds, files = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    rnd = random.Random(seed)
    outcomes = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        f = rnd.choice(files)
        op = rnd.choice(["swapon", "swapoff", "cat", "swapshow", "swapon-p"])
        if op == "swapon":
            args = ["swapon", f]
        elif op == "swapon-p":
            args = ["swapon", "-p", str(rnd.randrange(0, 20)), f]
        elif op == "swapoff":
            args = ["swapoff", f]
        elif op == "cat":
            args = ["cat", "/proc/swaps"]
        else:
            args = ["swapshow", "--proc"]
        p = subprocess.run([sys.executable, "-m", "ghostswap_cli", *args],
                           capture_output=True, text=True)
        err = p.stderr.strip()
        key = f"{args[0]} exit {p.returncode}"
        if p.returncode not in (0,):
            key += ": " + (err.split(": ")[-1] if err else "")
        if "Traceback" in err or "locked" in err:
            key = "UNEXPECTED " + err[-300:]
        if op in ("cat", "swapshow") and p.returncode == 0:
            names = [line.split()[0] for line in p.stdout.splitlines()[1:]]
            if len(names) != len(set(names)):
                key = "UNEXPECTED duplicate row: " + p.stdout
        outcomes[key] = outcomes.get(key, 0) + 1
    print(json.dumps(outcomes))
""")

EXPECTED = {
    "swapon exit 0", "swapon exit 255: Device or resource busy",
    "swapoff exit 0", "swapoff exit 4: Invalid argument",
    "cat exit 0", "swapshow exit 0",
}


def test_eight_processes_for_thirty_seconds_leave_a_consistent_table(tmp_path, state_dir):
    machine(state_dir)
    files = [
        real_swapfile(tmp_path / "r1.swap", 4 << 20),
        real_swapfile(tmp_path / "r2.swap", 4 << 20),
        ghost_swapfile(tmp_path / "g1.swap", 64 << 20),
        ghost_swapfile(tmp_path / "g2.swap", 1 << 40),
    ]
    for f in files:
        os.chmod(f, 0o600)
    env = dict(os.environ, GHOSTSWAP_STATE=str(state_dir))
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(i), "30", *map(str, files)],
                         env=env, stdout=subprocess.PIPE, text=True)
        for i in range(8)
    ]
    totals: dict[str, int] = {}
    for w in workers:
        out, _ = w.communicate(timeout=300)
        assert w.returncode == 0
        for key, n in json.loads(out).items():
            totals[key] = totals.get(key, 0) + n
    unexpected = {k: v for k, v in totals.items() if k not in EXPECTED}
    assert not unexpected, unexpected
    assert totals.get("swapon exit 0", 0) > 5 and totals.get("swapoff exit 0", 0) > 5, totals
    with open_kernel(state_dir) as k:
        assert check_state(k) == []
        active = k.active()
        assert len({(si.dev, si.ino) for si in active}) == len(active)
        assert k.total_swap_pages == sum(si.pages for si in active)
        assert k.nr_real_swapfiles() == sum(1 for si in active if not si.is_ghost)
        rows = k.db.execute("SELECT COUNT(*) FROM swap_info").fetchone()[0]
        assert rows == len(active)
        # default priorities stay contiguous from -2 however the areas came and went
        defaults = sorted((si.prio for si in active if si.prio < 0), reverse=True)
        assert defaults == list(range(-2, -2 - len(defaults), -1))
        assert k.counters["least_priority"] == -1 - len(defaults)
