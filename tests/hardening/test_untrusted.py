"""Untrusted input end to end: traces that name files outside their folder, symbolic links in
the state directory, the modes of what the state directory holds, and sizes declared huge."""

from __future__ import annotations

import os
import sqlite3
import stat
import tracemalloc
from pathlib import Path

import pytest
from conftest import build
from helpers import ghost_swapfile, machine

from ghostswap_cli.codec.trace import REFUSE_MESSAGE, random_page, text_page
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.swapfile import sys_swapon


def rows(state: Path) -> dict:
    conn = sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
                for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


# --- traces naming files outside the allowed directories -----------------------------------


@pytest.fixture
def busy(state_dir: Path, tmp_path: Path):
    """A state with pages swapped out, and a trace folder two levels down."""
    b = build(state_dir, tmp_path, n=40)
    folder = tmp_path / "traces" / "deep"
    folder.mkdir(parents=True)
    (folder / "own.bin").write_bytes(b"o" * 4096)
    return b, folder


@pytest.mark.parametrize("spec", ["../../etc/shadow", "/etc/shadow", "/etc/passwd",
                                  "../../../../../../../../etc/shadow",
                                  "sub/../../../outside.bin"])
def test_replay_refuses_files_outside_the_trace_folder(busy, run_cli, spec):
    b, folder = busy
    (folder.parent.parent / "outside.bin").write_bytes(b"x" * 4096)
    trace = folder / "evil.trace"
    trace.write_text("ghostswap-trace 1\nout 0x100 zero\n"
                     f"out 0x101 file:{spec}:0\nin 0x100\n")
    before = rows(b.state)
    r = run_cli("--state", b.state, "replay", "--no-progress", trace)
    assert r.exit_code == 1
    assert r.stderr == f"ghostswap: {trace}:line 3: {REFUSE_MESSAGE.format(path=spec)}\n"
    assert r.stdout == ""
    assert rows(b.state) == before  # the swap-out before the bad line is rolled back


def test_a_symlink_out_of_the_folder_is_refused_through_the_cli(busy, run_cli):
    b, folder = busy
    (folder / "innocent.bin").symlink_to("/etc/passwd")
    trace = folder / "link.trace"
    trace.write_text("ghostswap-trace 1\nout 0x100 file:innocent.bin:0\n")
    r = run_cli("--state", b.state, "replay", "--no-progress", trace)
    assert r.exit_code == 1
    assert r.stderr == (f"ghostswap: {trace}:line 2: "
                        f"{REFUSE_MESSAGE.format(path='innocent.bin')}\n")


def test_allow_dir_is_the_way_in(busy, run_cli, tmp_path):
    b, folder = busy
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "lib.bin").write_bytes(b"l" * 4096)
    trace = folder / "ok.trace"
    trace.write_text("ghostswap-trace 1\nout 0x100 file:../../shared/lib.bin:0\nin 0x100\n")
    assert run_cli("--state", b.state, "replay", "--no-progress", trace).exit_code == 1
    r = run_cli("--state", b.state, "replay", "--no-progress", "--allow-dir", shared, trace)
    assert r.exit_code == 0, r.stderr
    assert "corrupt pages     0" in r.stdout


def test_inside_the_folder_is_read(busy, run_cli):
    b, folder = busy
    trace = folder / "own.trace"
    trace.write_text("ghostswap-trace 1\nout 0x100 file:own.bin:0\nin 0x100\n")
    r = run_cli("--state", b.state, "replay", "--no-progress", trace)
    assert r.exit_code == 0, r.stderr


# --- symbolic links in the state directory -------------------------------------------------

REFUSE_LINK = "refusing to use a symbolic link in the state directory"


def _commands(state: Path) -> list[list[str]]:
    return [["--state", str(state), *args] for args in (
        ["cat", "/proc/swaps"], ["swapshow"], ["kernel", "show"], ["kernel", "fsck"],
        ["kernel", "init", "--force"], ["kernel", "reset", "--force"], ["dmesg"])]


def test_a_symlinked_state_directory_is_refused(run_cli, tmp_path):
    real = tmp_path / "real-state"
    machine(real)
    link = tmp_path / "link-state"
    link.symlink_to(real)
    before = rows(real)
    for args in _commands(link):
        r = run_cli(*args)
        assert r.exit_code != 0, args
        assert r.stderr == f"ghostswap: {link}: {REFUSE_LINK}\n", (args, r.stderr)
    assert rows(real) == before


@pytest.mark.parametrize("name", ["state.db", "zswap.pool", "lock", "state.db-wal"])
def test_a_symlinked_file_in_the_state_is_refused(run_cli, tmp_path, name):
    state = tmp_path / "state"
    machine(state)
    with open_kernel(state) as k:  # make the pool file exist
        _ = k.arena
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    target = state / name
    if target.exists():
        target.unlink()
    target.symlink_to(victim)
    for args in _commands(state):
        r = run_cli(*args)
        assert r.exit_code != 0, args
        assert r.stderr == f"ghostswap: {target}: {REFUSE_LINK}\n", (args, r.stderr)
    # reset without --force refuses too (it calls such a state unreadable)
    assert run_cli("--state", state, "kernel", "reset").exit_code != 0
    assert victim.read_bytes() == b"precious"


# --- modes -------------------------------------------------------------------------------


def test_state_is_private_whatever_the_umask(run_cli, tmp_path, busy=None):
    old = os.umask(0)
    try:
        state = tmp_path / "parent" / "state"
        assert run_cli("--state", state, "kernel", "init").exit_code == 0
        trace = tmp_path / "t.trace"
        trace.write_text("ghostswap-trace 1\nout 0x1 text:1\n")
        swap = tmp_path / "g.swap"
        assert run_cli("mkswap", "-q", "--ghost", "-s", "1M", swap).exit_code == 0
        assert run_cli("--state", state, "swapon", swap).exit_code == 0
        assert run_cli("--state", state, "replay", "--no-progress", trace).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    for name in ("state.db", "zswap.pool", "lock", "state.db-wal", "state.db-shm"):
        if (state / name).exists():
            assert stat.S_IMODE(os.stat(state / name).st_mode) == 0o600, name
    assert (state / "zswap.pool").exists() and (state / "state.db").exists()


# --- sizes declared huge -----------------------------------------------------------------


def test_a_16_tib_ghost_and_thousands_of_swap_outs_stay_small(tmp_path):
    """Memory follows what is used, not what is declared: swapon of a ghost whose header says
    2^32 pages (16 TiB, last_page 2^32 - 1) and 3000 swap-outs (compressed and raw) allocate
    well under 4 MiB of Python memory (the pool's bytes live in the mmap'd file)."""
    state = tmp_path / "state"
    machine(state)
    ghost = ghost_swapfile(tmp_path / "huge.swap", 1 << 44)
    pages = [text_page(i, 4096) if i % 2 else random_page(i, 4096) for i in range(3000)]
    tracemalloc.start()
    try:
        with open_kernel(state) as k:
            si = sys_swapon(k, str(ghost), 0)
            assert si.max == 0xFFFFFFFF and si.pages == 0xFFFFFFFE
            for i, page in enumerate(pages):
                k.mm.swap_out(0x10000 + i, page)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes"
    with open_kernel(state, write=False) as k:
        k.load_all()
        si = k.active()[0]
        assert si.inuse_pages == 3000
        assert si.slots.nr_clusters_touched <= 8  # 3000 slots: a handful of 512-slot clusters


def test_last_page_near_2_32_on_a_small_real_file_is_refused_cheaply(run_cli, tmp_path):
    from ghostswap_cli.codec.swap_header import ByteOrder, SwapHeader, build_swap_header

    page = build_swap_header(SwapHeader(page_size=4096, byteorder=ByteOrder.LITTLE, version=1,
                                        last_page=0xFFFFFFFE, nr_badpages=0))
    f = tmp_path / "liar.swap"
    f.write_bytes(page + bytes(4096 * 3))
    os.chmod(f, 0o600)
    machine(tmp_path / "state")
    tracemalloc.start()
    try:
        r = run_cli("--state", tmp_path / "state", "swapon", f)
        _c, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.exit_code != 0
    assert "Invalid argument" in r.stderr
    assert peak < 8 << 20
    log = run_cli("--state", tmp_path / "state", "dmesg").stdout
    assert "Swap area shorter than signature indicates" in log
    probe = run_cli("probe", f)
    assert "Traceback" not in probe.stderr
