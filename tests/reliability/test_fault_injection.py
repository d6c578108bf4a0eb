"""Fault injection (issue #13, "must show" 2): kill or fail the process at every state write of
swapon, swapoff, replay, reset and repair, then check that nothing was lost or altered.

How: ``ghostswap_cli/faults.py`` numbers the state writes a command makes (every write
statement and commit of the state database, growing the pool file, every page written to a
swap file, the link kept to a swap file). A run with ``GHOSTSWAP_FAULT_COUNT`` learns how many
a command reaches; then the command is run once per point and per action with
``GHOSTSWAP_FAULT=N:ACTION``: ``kill`` (the process SIGKILLs itself there: what the file system
has stays, as when a process dies), ``enospc`` and ``eio`` (the write fails there as on a full or
failing disk: an OSError raised at that point by our own code, since SQLite's own writes cannot
be made to fail without privileges or LD_PRELOAD; a tmpfs or loop file system would need
mounting, and RLIMIT_FSIZE gives EFBIG, which SQLite reports as an I/O error of any kind).

After every run, from a fresh copy of the same starting state:

* a failed command (enospc, eio) said so in one line without a traceback and exited non-zero;
* ``kernel fsck --verify`` finds the state consistent, or ``--repair`` makes it so without
  losing a page (every page was intact before the run);
* every page still swapped out reads back with exactly the bytes that were swapped out, and a
  final swapoff brings every page back with its checksum (it fails with EIO otherwise).

Run it with ``python3 -m pytest -m slow tests/reliability/test_fault_injection.py -s``; the
numbers of points and runs are printed at the end of each scenario.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ghost_swapfile, machine, real_swapfile, swapon
from relhelp import swap_out

from ghostswap_cli.faults import ACTIONS
from ghostswap_cli.kernel.check import read_page
from ghostswap_cli.kernel.cluster import LOC_KIND
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.mm import PTE_PRESENT
from ghostswap_cli.kernel.repair import fsck
from ghostswap_cli.kernel.swapfile import sys_swapoff
from ghostswap_cli.uapi import SWAPFILE_CLUSTER, SWP_OFFSET_MASK, SWP_TYPE_SHIFT

pytestmark = pytest.mark.slow

N_PAGES = 240


REPO = Path(__file__).resolve().parents[2]


def _run(state: Path, args: list[str], env: dict[str, str], cwd: Path):
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    full = dict(os.environ, GHOSTSWAP_STATE=str(state), PYTHONPATH=path, **env)
    return subprocess.run([sys.executable, "-m", "ghostswap_cli", *args], capture_output=True,
                          text=True, env=full, cwd=cwd, timeout=300, check=False)


def _base(root: Path, scenario: str) -> tuple[Path, dict[int, bytes], list[str]]:
    """The starting state of a scenario, its pages, and the command to break."""
    state = root / "base"
    machine(state)
    real = real_swapfile(root / "real.swap", 8 << 20)
    ghost = ghost_swapfile(root / "ghost.swap", 64 << 20)
    swapon(state, real)
    pages = swap_out(state, range(0, N_PAGES // 2), zswap=False)  # on the real file
    pages |= swap_out(state, range(N_PAGES // 2, N_PAGES), zswap=True)  # in the pool
    if scenario == "swapon":
        return state, pages, ["swapon", "-p", "7", str(ghost)]
    if scenario == "swapoff":
        return state, pages, ["swapoff", "-a"]
    if scenario == "reset":
        return state, pages, ["kernel", "reset"]
    if scenario == "replay":
        trace = root / "t.trace"
        lines = ["ghostswap-trace 1"]
        lines += [f"out {0x10000 + i:#x} text:{i}" for i in range(120)]
        # incompressible: zswap rejects them, so they are written to the swap file
        lines += [f"out {0x20000 + i:#x} random:{i}" for i in range(24)]
        lines += [f"in {0x10000 + i:#x}" for i in range(0, 120, 3)]
        lines += [f"in {v:#x}" for v in range(0, N_PAGES, 7)]
        trace.write_text("\n".join(lines) + "\n")
        return state, pages, ["replay", "--no-progress", str(trace)]
    if scenario == "repair":
        # a counter that does not add up: the repair rewrites the derived state
        import sqlite3

        db = sqlite3.connect(state / "state.db", isolation_level=None)
        db.execute("UPDATE counters SET value = value + 5 WHERE name = 'nr_present_pages'")
        db.close()
        return state, pages, ["kernel", "fsck", "--repair"]
    raise AssertionError(scenario)


def _count(state: Path, args: list[str], tmp: Path, cwd: Path) -> list[str]:
    work = tmp / "count"
    shutil.copytree(state, work, ignore=shutil.ignore_patterns("held"))
    out = tmp / "count.txt"
    r = _run(work, args, {"GHOSTSWAP_FAULT_COUNT": str(out)}, cwd)
    assert r.returncode == (1 if args[:2] == ["kernel", "fsck"] else 0), r.stderr
    shutil.rmtree(work)
    n, *names = out.read_text().split()
    assert len(names) == int(n)
    return names


def _check(state: Path, pages: dict[int, bytes], may_be_fresh: bool = False) -> str:
    """Consistent (or repaired without loss), every swapped-out page with its bytes; returns
    what was needed: 'clean' or 'repaired'. ``may_be_fresh``: the command (reset) may have
    completed, and then no page is left."""
    report = fsck(state, verify=True)
    outcome = "clean"
    if report.error is not None or report.problems:
        outcome = "repaired"
        fixed = fsck(state, repair=True, verify=True)
        assert fixed.error is None, fixed.error
        assert fixed.lost == [] and fixed.lost_records == [] and not fixed.unrepaired, (
            report.problems, fixed.repairs)
    with open_kernel(state) as k:
        mm = k.mm
        assert k.counters["corrupt_pages"] == 0
        if may_be_fresh and not k.active() and not mm.table:
            return outcome + " (reset done)"
        fds: dict[str, int] = {}
        for vpn, data in pages.items():
            pte, _csum = mm.lookup(vpn)
            if pte in (0, PTE_PRESENT):
                assert pte == PTE_PRESENT, f"page {vpn:#x} is gone"
                continue
            si = k.swap_info_for_type(pte >> SWP_TYPE_SHIFT)
            off = pte & SWP_OFFSET_MASK
            c = si.slots.clusters[off // SWAPFILE_CLUSTER]
            j = off % SWAPFILE_CLUSTER
            got = read_page(k, si, off, c.loc[j], c.ref[j], fds)
            assert got == data, f"page {vpn:#x} ({c.loc[j] & LOC_KIND}) has other bytes"
        for fd in fds.values():
            os.close(fd)
        for si in list(k.active()):
            sys_swapoff(k, si.path)  # EIO if any page does not come back with its CRC
        assert mm.stats.corrupt_pages == 0
    return outcome


@pytest.mark.parametrize("scenario", ["swapon", "swapoff", "replay", "reset", "repair"])
def test_fault_at_every_state_write(scenario, tmp_path):
    root = tmp_path / "files"
    root.mkdir()
    base, pages, args = _base(root, scenario)
    names = _count(base, args, tmp_path, root)
    points = len(names)
    assert points > 0
    outcomes: dict[str, int] = {}
    runs = 0
    for n in range(1, points + 1):
        for action in ACTIONS:
            work = tmp_path / f"run-{n}-{action}"
            shutil.copytree(base, work, ignore=shutil.ignore_patterns("held"))
            r = _run(work, args, {"GHOSTSWAP_FAULT": f"{n}:{action}"}, root)
            runs += 1
            assert "Traceback" not in r.stderr, (n, action, r.stderr)
            if action == "kill":
                assert r.returncode == -9, (n, r.returncode, r.stderr)
            elif names[n - 1] == "link" and r.returncode == 0:
                pass  # no link kept to the swap file: the area works while its name lasts
            else:
                assert r.returncode != 0, (n, action, r.stdout)
                said = [line for line in r.stderr.splitlines() if line.strip()]
                assert 1 <= len(said) <= 2, (n, action, r.stderr)
                cause = "No space left on device" if action == "enospc" else "Input/output error"
                assert cause in r.stderr, (n, action, r.stderr)
                assert "reset --force" not in r.stderr, (n, action, r.stderr)
            outcome = _check(work, pages, may_be_fresh=scenario == "reset")
            outcomes[f"{action} {outcome}"] = outcomes.get(f"{action} {outcome}", 0) + 1
            shutil.rmtree(work)
    kinds = {k: names.count(k) for k in sorted(set(names))}
    print(f"\n{scenario}: {points} injection points {kinds}, {runs} runs: {outcomes}")
    assert runs == points * len(ACTIONS)
