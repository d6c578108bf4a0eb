"""Items 5-8, 10 and 11: errors about the state directory, each in its own words.

Before: a full disk, an I/O error, a read-only file system and a lock held elsewhere were all
"state database is unreadable ... run `ghostswap kernel reset --force`" (destructive advice for a
full disk); ``--state some/file/sub`` ended in a NotADirectoryError traceback on every command,
a state directory the user may not write (``kernel reset --force``) in a PermissionError one,
a FIFO given as a trace blocked for ever, a non-UTF-8 file name crashed swapon; a failed
``kernel reset`` left a half-built machine; ``GHOSTSWAP_STATE=/`` made /state.db and an empty
value silently meant the default; a read-only copy of a state could not even be read.
After: one line naming the file and the cause, only safe advice, non-zero exit, state as before.

Full disk and I/O errors are made by ghostswap's own fault point at the failing write
(``GHOSTSWAP_FAULT``, ghostswap_cli/faults.py): a real ENOSPC needs a small file system that a
test cannot mount without privileges. Read-only and permission failures are real: as a normal
user the state is chmod-ed; as root (which modes do not stop) the files are made immutable with
chattr +i where the file system supports it, and the test is skipped with that reason where not.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import machine

REPO = Path(__file__).resolve().parents[2]
READERS = [["cat", "/proc/swaps"], ["swapshow"], ["kernel", "show"], ["dmesg"],
           ["swapon", "--show"]]
EVERY = READERS + [["kernel", "fsck"], ["kernel", "reset", "--force"], ["swapoff", "-a"],
                   ["swapon", "/nonexistent"], ["write", "/sys/module/zswap/parameters/enabled",
                                                "N"]]


def gs(*args, env=None, cwd=None, timeout=120):
    full = dict(os.environ, PYTHONPATH=str(REPO))
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "ghostswap_cli", *map(str, args)], env=full,
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def one_line(r) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    assert getattr(r, "returncode", getattr(r, "exit_code", 0)) != 0
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def _snapshot(state: Path) -> dict:
    db = sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True)
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall())
                for t in ("meta", "params", "counters", "swap_info", "blobs")}
    finally:
        db.close()


# --- item 6 ---------------------------------------------------------------------------------

def test_state_under_a_file_is_one_line(tmp_path, run_cli):
    (tmp_path / "file").write_text("")
    for args in EVERY:
        r = run_cli("--state", tmp_path / "file" / "sub", *args)
        line = one_line(r)
        assert "file/sub: Not a directory" in line and "reset --force" not in line, args
    line = one_line(gs("--state", tmp_path / "file" / "sub", "swapoff", "-a"))  # a process too
    assert "file/sub: Not a directory" in line


def test_fifo_as_trace_is_refused_at_once(tmp_path, state_dir, run_cli):
    fifo = tmp_path / "t.fifo"
    os.mkfifo(fifo)
    for args in (["trace", "info", fifo], ["replay", fifo], ["trace", "convert", fifo,
                                                              tmp_path / "o.trace"]):
        r = run_cli(*args)
        assert one_line(r).endswith("cannot read: a trace must be a regular file (this is a FIFO)")


def test_non_utf8_names_are_shown_octal_escaped(tmp_path, state_dir, run_cli):
    name = os.fsdecode(b"bad\xffname.swap")
    path = str(tmp_path / name)
    assert run_cli("mkswap", "-q", "--file", "--size", "1M", path).exit_code == 0
    r = gs("swapon", path, env={"GHOSTSWAP_STATE": str(state_dir)})  # a real process's stdio
    assert (r.returncode, r.stderr) == (0, "")
    swaps = gs("cat", "/proc/swaps", env={"GHOSTSWAP_STATE": str(state_dir)}).stdout
    assert f"{tmp_path}/bad\\377name.swap " in swaps
    assert "bad\\xffname.swap" in run_cli("dmesg").stdout  # dmesg's escape for the log
    r = run_cli("swapoff", "-a")  # the escaped /proc/swaps name reads back to the file
    assert (r.exit_code, r.stderr) == (0, "")
    assert run_cli("cat", "/proc/swaps").stdout.count("\n") == 1


def _make_unwritable(path: Path) -> None:
    """Files and directory the running user cannot change (see the module docstring)."""
    if os.geteuid() != 0:
        for p in [*path.rglob("*"), path]:
            p.chmod(stat.S_IMODE(p.stat().st_mode) & ~0o222)
        return
    if shutil.which("chattr") is None:
        pytest.skip("root ignores file modes and chattr is not installed")
    r = subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True, check=False)
    if r.returncode:
        pytest.skip(f"root ignores file modes and this file system has no chattr +i: {r.stderr}")


def _make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True, check=False)
    else:
        for p in [path, *path.rglob("*")]:
            p.chmod(stat.S_IMODE(p.stat().st_mode) | 0o200)


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """A copy of a state with an active area, that this process cannot write (item 10)."""
    tmp_path = tmp_path_factory.mktemp("frozen")
    state = tmp_path / "state"
    machine(state)
    swap = tmp_path / "a.swap"
    assert gs("mkswap", "-q", "--file", "--size", "1M", swap).returncode == 0
    assert gs("--state", state, "swapon", swap).returncode == 0
    before = _snapshot(state)
    _make_unwritable(state)
    yield state, swap
    _make_writable(state)
    assert _snapshot(state) == before


def test_reset_of_an_unwritable_state_is_one_line(frozen):
    state, _ = frozen
    line = one_line(gs("--state", state, "kernel", "reset", "--force"))
    assert "reset --force" not in line
    assert ("Permission denied" in line or "Operation not permitted" in line), line


def test_read_only_state_can_be_read(frozen, run_cli):
    state, swap = frozen
    for args in READERS:
        r = run_cli("--state", state, *args)
        assert (r.exit_code, r.stderr) == (0, ""), args
        if args[0] in ("cat", "swapshow", "swapon"):
            assert str(swap) in r.stdout, args


def test_read_only_state_refuses_writes_safely(frozen):
    state, swap = frozen
    line = one_line(gs("--state", state, "swapoff", swap))
    assert "reset --force" not in line and str(state) in line


# --- item 7 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("action,cause", [("enospc", "No space left on device"),
                                          ("eio", "Input/output error")])
def test_full_or_failing_disk_gets_its_own_message(state_dir, tmp_path, action, cause):
    env = {"GHOSTSWAP_STATE": str(state_dir)}
    machine(state_dir)
    swap = tmp_path / "a.swap"
    assert gs("mkswap", "-q", "--file", "--size", "1M", swap).returncode == 0
    before = _snapshot(state_dir)
    r = gs("swapon", swap, env={**env, "GHOSTSWAP_FAULT": f"2:{action}"})  # 1 is the link
    line = one_line(r)
    assert line.startswith(f"swapon: {state_dir}/state.db: {cause}; ")
    assert "reset --force" not in line
    if action == "enospc":
        assert "free some space" in line and "nothing was changed" in line
    else:
        assert "copy the state directory somewhere safe" in line
    assert _snapshot(state_dir) == before


@pytest.mark.slow
def test_database_locked_elsewhere_says_so(state_dir, tmp_path):
    machine(state_dir)
    holder = sqlite3.connect(state_dir / "state.db", isolation_level=None, timeout=1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        r = gs("write", "/sys/module/zswap/parameters/enabled", "N",
               env={"GHOSTSWAP_STATE": str(state_dir)}, timeout=120)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    line = one_line(r)
    assert "locked by another process" in line and "reset --force" not in line


# --- item 5 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("point", [4, 14])
def test_failed_reset_leaves_the_machine_as_it_was(state_dir, tmp_path, point, run_cli):
    machine(state_dir, ram=str(1 << 30))
    swap = tmp_path / "a.swap"
    env = {"GHOSTSWAP_STATE": str(state_dir)}
    assert run_cli("mkswap", "-q", "--file", "--size", "1M", swap).exit_code == 0
    assert run_cli("swapon", swap).exit_code == 0
    before = _snapshot(state_dir)
    r = gs("kernel", "reset", env={**env, "GHOSTSWAP_FAULT": f"{point}:enospc"})
    assert "No space left on device" in one_line(r)
    assert _snapshot(state_dir) == before  # boot time, RAM, compressor, area: all kept
    assert run_cli("kernel", "reset").exit_code == 0
    assert "1048576 kB" in run_cli("kernel", "show").stdout  # RAM kept by a good reset


# --- item 8 ---------------------------------------------------------------------------------

def test_system_directories_are_refused(run_cli):
    for value in ["/", "/etc", "/usr", "/tmp", os.path.expanduser("~")]:
        r = run_cli("dmesg", env={"GHOSTSWAP_STATE": value})
        assert "refusing to use" in one_line(r), value
    assert not os.path.exists("/state.db")


def test_empty_state_is_refused(tmp_path, run_cli):
    assert "GHOSTSWAP_STATE is set but empty" in one_line(gs("dmesg", env={"GHOSTSWAP_STATE": ""}))
    r = run_cli("--state", "", "dmesg")
    assert r.exit_code == 2 and "the state directory is empty" in r.stderr


def test_another_users_state_directory_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can make a directory that belongs to another user")
    d = tmp_path / "theirs"
    d.mkdir()
    os.chown(d, 65534, 65534)
    line = one_line(gs("--state", d, "dmesg"))
    assert "belongs to uid 65534, not to you" in line
    assert not (d / "state.db").exists()


# --- item 11 --------------------------------------------------------------------------------

def _documented(page: str) -> set[int]:
    import re

    text = (REPO / "man" / page).read_text()
    part = text.split(".SH EXIT STATUS", 1)[1].split("\n.SH ", 1)[0]
    return {int(n) for n in re.findall(r"^\.B (\d+)$", part, re.M)}


def test_every_fsck_exit_status_is_in_the_man_page(tmp_path, state_dir, run_cli):
    seen = {run_cli("kernel", "fsck", "--bogus").exit_code}
    seen.add(run_cli("--state", tmp_path / "none", "kernel", "fsck").exit_code)  # 8
    machine(state_dir)
    seen.add(run_cli("kernel", "fsck").exit_code)  # 0
    swap = tmp_path / "a.swap"
    assert run_cli("mkswap", "-q", "--file", "--size", "1M", swap).exit_code == 0
    assert run_cli("swapon", swap).exit_code == 0
    from relhelp import swap_out

    swap_out(state_dir, range(40), zswap=False)
    os.truncate(swap, 4096 * 2)  # pages past slot 1 are gone
    seen.add(run_cli("kernel", "fsck").exit_code)  # 1
    seen.add(run_cli("kernel", "fsck", "--repair").exit_code)  # 5
    assert seen == {0, 1, 5, 8, 16}, seen
    assert seen <= _documented("ghostswap-kernel.1")
