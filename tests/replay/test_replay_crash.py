"""A replay killed at any point leaves a state that opens, adds up, and gives every page back;
a malformed trace stops with its position and changes nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from helpers import ghost_swapfile, machine, real_swapfile, set_param, swapon

from ghostswap_cli.codec.trace import open_trace_writer
from ghostswap_cli.kernel.check import check_state, verify_pages
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay.synth import synthesize

from .conftest import PAGE, mixed_pages, write_trace


def snapshot(state) -> dict:
    """Everything a user can see of the state, plus the page-by-page check."""
    with open_kernel(state, write=False) as k:
        from ghostswap_cli.kernel.procfs import list_files, read_file

        files = {p: read_file(k, p) for p in list_files()}
    with open_kernel(state) as k:  # verify_pages needs the slot maps; nothing is changed
        check = verify_pages(k)
        problems = check_state(k)
        rows = {
            t: sorted(k.db.execute(f"SELECT * FROM {t}").fetchall())  # noqa: S608
            for t in ("swap_info", "clusters", "ptes", "zswap_entries", "counters", "params")
        }
        raise_to_rollback = rows
    return {"files": files, "corrupt": check.corrupt, "missing": check.missing,
            "checked": check.checked, "problems": problems, "rows": raise_to_rollback}


def _prepare(tmp_path, state):
    machine(state, ram=str(128 << 20))
    # a small ghost in front: the overflow lands on the real file, on disk and by writeback
    swapon(state, ghost_swapfile(tmp_path / "ghost.swap", 2 << 20), prio=5)
    swapon(state, real_swapfile(tmp_path / "real.swap", 16 << 20))
    set_param(state, "/sys/module/zswap/parameters/max_pool_percent", "1")


def test_sigkill_at_random_points_leaves_a_consistent_state(tmp_path, state_dir):
    _prepare(tmp_path, state_dir)
    trace = tmp_path / "churn.gstrace"
    with open_trace_writer(trace, format="binary") as w:
        synthesize(w, events=80000, working_set=3000, seed=11, free_rate=0.05,
                   mix={"zero": 0.1, "text": 0.5, "random": 0.2, "fill": 0.2})
    env = dict(os.environ, GHOSTSWAP_STATE=str(state_dir))
    rnd = random.Random(2026)
    kills = 0
    for round_ in range(40):  # until 20 replays were killed mid-way
        if kills == 20:
            break
        commit_every = rnd.choice(["0", "97", "500"])
        # half the replays also fork a compress-ahead process, which must not outlive the
        # replay's lock (the cat below would hang)
        ahead = rnd.choice(["on", "off"])
        proc = subprocess.Popen(
            [sys.executable, "-m", "ghostswap_cli", "replay", "--no-progress",
             "--commit-every", commit_every, "--compress-ahead", ahead, str(trace)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        time.sleep(rnd.uniform(0.25, 1.2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        # a reader in another process sees a table that adds up
        out = subprocess.run([sys.executable, "-m", "ghostswap_cli", "cat", "/proc/swaps"],
                             env=env, capture_output=True, text=True, check=False, timeout=60)
        assert out.returncode == 0, out.stderr
        with open_kernel(state_dir, write=False) as k:
            used = {si.path: si.inuse_pages * 4 for si in k.active()}
        for line in out.stdout.splitlines()[1:]:
            fields = line.split()
            assert int(fields[3]) == used[fields[0]], (round_, line)
        snap = snapshot(state_dir)
        assert snap["problems"] == [], (round_, snap["problems"][:5])
        assert snap["corrupt"] == [] and snap["missing"] == [], round_
    assert kills == 20, f"only {kills} of 40 replays were still running when killed"


def _state_unchanged_after(run_cli, state, trace, expected_error):
    before = snapshot(state)
    r = run_cli("replay", "--no-progress", trace)
    assert r.exit_code != 0
    assert expected_error in r.stderr, r.stderr
    said = [line for line in r.stderr.splitlines() if "from earlier replays" not in line]
    assert len(said) == 1 and "Traceback" not in r.stderr
    assert snapshot(state) == before


@pytest.fixture
def busy_state(tmp_path, state_dir, real_pages, run_cli):
    _prepare(tmp_path, state_dir)
    first = write_trace(tmp_path / "first.gstrace", mixed_pages(real_pages, 600), ins=False)
    assert run_cli("replay", "--no-progress", first).exit_code == 0
    return state_dir


def test_bad_line_stops_with_its_number_and_changes_nothing(tmp_path, busy_state, run_cli):
    trace = tmp_path / "bad.trace"
    lines = ["ghostswap-trace 1"] + [f"out {0x9000 + i:#x} text:{i}" for i in range(300)]
    lines += ["in 0x9000", "out 0x9001 bogus:1", "in 0x9002"]
    trace.write_text("\n".join(lines) + "\n")
    _state_unchanged_after(run_cli, busy_state, trace, f"{trace}:line 303:")


def test_unknown_event_stops_with_its_line(tmp_path, busy_state, run_cli):
    trace = tmp_path / "bad.trace"
    trace.write_text("ghostswap-trace 1\nout 0x9000 zero\nout 0x9001 text:5\nswap 0x9000\n")
    _state_unchanged_after(run_cli, busy_state, trace, f"{trace}:line 4:")


def test_wrong_page_size_stops_with_its_line(tmp_path, busy_state, run_cli):
    trace = tmp_path / "bad.trace"
    trace.write_text("ghostswap-trace 1\nout 0x9000 text:1\nout 0x9001 hex:" + "ab" * 100 + "\n")
    _state_unchanged_after(run_cli, busy_state, trace, f"{trace}:line 3:")


def test_truncated_binary_record_stops_with_its_number(tmp_path, busy_state, real_pages, run_cli):
    trace = write_trace(tmp_path / "t.gstrace", mixed_pages(real_pages, 400, seed=4), ins=False,
                        base=0x9000)
    data = trace.read_bytes()
    trace.write_bytes(data[: len(data) - PAGE // 2])
    _state_unchanged_after(run_cli, busy_state, trace, f"{trace}:record 400:")


def test_trace_page_size_must_match_the_kernel(tmp_path, busy_state, run_cli):
    trace = tmp_path / "big.trace"
    trace.write_text("ghostswap-trace 1\npage-size 16384\nout 0x9000 zero\n")
    _state_unchanged_after(run_cli, busy_state, trace, "does not match the kernel's PAGE_SIZE 4096")
