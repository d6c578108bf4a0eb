"""ghostswap swapoff: util-linux's messages and SWAPOFF_EX_* exit bits, LABEL/UUID lookup,
--all, and ENOMEM when the simulated RAM cannot take the pages back."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostswap_cli.kernel.machine import open_kernel

from .test_swapon import (
    UUID_GHOST,
    UUID_REAL,
    init_kernel,
    make_ghost,
    make_swapfile,
    proc_swaps,
    table,
)


@pytest.fixture
def kernel(run_cli):
    init_kernel(run_cli)


@pytest.fixture
def no_fstab(tmp_path, monkeypatch) -> Path:
    """An empty fstab, so the host's /etc/fstab never takes part."""
    f = tmp_path / "fstab.empty"
    f.write_text("")
    monkeypatch.setenv("LIBMOUNT_FSTAB", str(f))
    return f


def fill(state: Path, pages: int, *, ram_pages: int | None = None) -> None:
    """Swap out ``pages`` zero pages (they land on the active areas), then optionally shrink
    the simulated RAM so that swapoff cannot bring them back."""
    with open_kernel(state) as k:
        for vpn in range(pages):
            k.mm.swap_out(0x10000 + vpn, bytes(k.page_size))
        if ram_pages is not None:
            k.machine["ram"] = str(ram_pages * k.page_size)


def test_bad_usage(run_cli, kernel):
    r = run_cli("swapoff")
    assert (r.exit_code, r.stdout) == (16, "")
    assert r.stderr == "swapoff: bad usage\nTry 'ghostswap swapoff --help' for more information.\n"


@pytest.mark.parametrize("args, message", [
    (("--bogus",), "unrecognized option '--bogus'"),
    (("-x",), "invalid option -- 'x'"),
    (("-L",), "option requires an argument -- 'L'"),
    (("--all=yes",), "option '--all' doesn't allow an argument"),
])
def test_usage_errors_exit_16(run_cli, kernel, args, message):
    r = run_cli("swapoff", *args)
    assert r.exit_code == 16
    assert r.stderr == f"swapoff: {message}\nTry 'ghostswap swapoff --help' for more information.\n"


def test_help_and_version(run_cli):
    r = run_cli("swapoff", "-h")
    assert r.exit_code == 0 and "LABEL=<label>" in r.stdout and "--all" in r.stdout
    r = run_cli("swapoff", "-V")
    assert r.exit_code == 0 and r.stdout.startswith("swapoff from ghostswap ")


def test_verbose_and_success(run_cli, state_dir, tmp_path, kernel, no_fstab):
    f = make_swapfile(tmp_path / "swap", 1 << 20)
    assert run_cli("swapon", f).exit_code == 0
    r = run_cli("swapoff", "-v", f)
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"swapoff {f}\n", "")
    assert table(state_dir) == []


def test_failures_are_or_ed(run_cli, state_dir, tmp_path, kernel, no_fstab):
    f = make_swapfile(tmp_path / "swap", 1 << 20)
    g = make_ghost(tmp_path / "ghost")
    assert run_cli("swapon", g).exit_code == 0
    missing = tmp_path / "missing"
    r = run_cli("swapoff", f, missing, g)
    assert r.exit_code == 4
    assert r.stderr == (
        f"swapoff: {f}: swapoff failed: Invalid argument\n"
        f"swapoff: {missing}: swapoff failed: No such file or directory\n"
    )
    assert table(state_dir) == []


def test_relative_path_is_reported_as_given(run_cli, state_dir, tmp_path, kernel, no_fstab, monkeypatch):
    g = make_ghost(tmp_path / "ghost")
    assert run_cli("swapon", g).exit_code == 0
    monkeypatch.chdir(tmp_path)
    r = run_cli("swapoff", "-v", "ghost")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "swapoff ghost\n", "")
    r = run_cli("swapoff", "ghost")
    assert (r.exit_code, r.stderr) == (4, "swapoff: ghost: swapoff failed: Invalid argument\n")


def test_by_label_and_uuid(run_cli, state_dir, tmp_path, kernel, no_fstab):
    f = make_swapfile(tmp_path / "swap", 1 << 20, label="real", uuid=UUID_REAL)
    g = make_ghost(tmp_path / "ghost", label="ghost", uuid=UUID_GHOST)
    assert run_cli("swapon", f, g).exit_code == 0
    # a ghost's header is read too (util-linux cannot: libblkid skips files under 40 KiB)
    r = run_cli("swapoff", "-v", "-L", "ghost")
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"swapoff {g}\n", "")
    r = run_cli("swapoff", "-v", f"UUID={UUID_REAL}")
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"swapoff UUID={UUID_REAL}\n", "")
    assert table(state_dir) == []
    assert run_cli("swapon", g).exit_code == 0
    assert run_cli("swapoff", "-U", UUID_GHOST, 'LABEL="nothing"').exit_code == 255
    assert table(state_dir) == []


def test_cannot_find(run_cli, state_dir, tmp_path, kernel, no_fstab):
    g = make_ghost(tmp_path / "ghost", label="ghost")
    assert run_cli("swapon", g).exit_code == 0
    r = run_cli("swapoff", "-L", "nope")
    assert (r.exit_code, r.stderr) == (255, "swapoff: cannot find the device for nope\n")
    r = run_cli("swapoff", "LABEL=nope", "PARTLABEL=ghost")
    assert r.exit_code == 255
    assert r.stderr == ("swapoff: cannot find the device for LABEL=nope\n"
                        "swapoff: cannot find the device for PARTLABEL=ghost\n")
    assert table(state_dir) == [(str(g), "ghost", -2)]


def test_all_is_quiet(run_cli, state_dir, tmp_path, kernel, no_fstab):
    files = [make_ghost(tmp_path / f"g{i}") for i in range(3)]
    assert run_cli("swapon", *files).exit_code == 0
    r = run_cli("swapoff", "-a", "-v")
    # last row of /proc/swaps first
    assert (r.exit_code, r.stdout, r.stderr) == (0, "".join(f"swapoff {f}\n" for f in reversed(files)), "")
    assert proc_swaps(state_dir).count("\n") == 1
    r = run_cli("swapoff", "-a")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")


def test_all_then_fstab(run_cli, state_dir, tmp_path, kernel, monkeypatch):
    g = make_ghost(tmp_path / "ghost", label="g")
    inactive = make_ghost(tmp_path / "inactive")
    fstab = tmp_path / "fstab"
    fstab.write_text(
        f"# comment\n{g} none swap sw 0 0\n{inactive} none swap sw 0 0\n"
        "UUID=00000000-1111-2222-3333-444444444444 none swap sw 0 0\n"
        "/dev/root / ext4 defaults 0 1\n"
    )
    monkeypatch.setenv("LIBMOUNT_FSTAB", str(fstab))
    assert run_cli("swapon", g).exit_code == 0
    r = run_cli("swapoff", "-a", "-v")
    # the fstab entries that were not active are tried quietly; an unknown UUID is still said
    assert r.exit_code == 0
    assert r.stdout == (f"swapoff {g}\nswapoff {inactive}\n"
                        "swapoff UUID=00000000-1111-2222-3333-444444444444\n")
    assert r.stderr == "swapoff: cannot find the device for UUID=00000000-1111-2222-3333-444444444444\n"
    assert table(state_dir) == []


def test_enomem(run_cli, state_dir, tmp_path, kernel, no_fstab):
    g = make_ghost(tmp_path / "ghost", 4 << 20)
    assert run_cli("swapon", g).exit_code == 0
    fill(state_dir, 200, ram_pages=100)
    before = proc_swaps(state_dir)
    assert "\t\t800\t\t" in before  # 200 pages in use
    r = run_cli("swapoff", g)
    assert (r.exit_code, r.stderr) == (2, f"swapoff: {g}: swapoff failed: Cannot allocate memory\n")
    assert proc_swaps(state_dir) == before
    # with --all the failure is still reported (ENOMEM is never quiet) and all failed
    r = run_cli("swapoff", "-a")
    assert (r.exit_code, r.stderr) == (32, f"swapoff: {g}: swapoff failed: Cannot allocate memory\n")


def test_all_some_failed(run_cli, state_dir, tmp_path, kernel, no_fstab):
    full = make_ghost(tmp_path / "full", 4 << 20)
    assert run_cli("swapon", full).exit_code == 0
    fill(state_dir, 200, ram_pages=100)
    empty = make_ghost(tmp_path / "empty")
    assert run_cli("swapon", empty).exit_code == 0
    r = run_cli("swapoff", "-a")
    assert (r.exit_code, r.stderr) == (64, f"swapoff: {full}: swapoff failed: Cannot allocate memory\n")
    assert table(state_dir) == [(str(full), "ghost", -2)]


def test_swapoff_brings_pages_back(run_cli, state_dir, tmp_path, kernel, no_fstab):
    g = make_ghost(tmp_path / "ghost", 4 << 20)
    assert run_cli("swapon", g).exit_code == 0
    fill(state_dir, 50)
    r = run_cli("swapoff", g)
    assert (r.exit_code, r.stderr) == (0, "")
    with open_kernel(state_dir, write=False) as k:
        assert k.active() == []
        assert k.mm.present_pages == 50


def test_subprocess_exit_status(run_ghostswap, tmp_path, run_cli, kernel):
    p = run_ghostswap("swapoff", tmp_path / "nothing")
    assert p.returncode == 4
    assert p.stderr.decode() == f"swapoff: {tmp_path / 'nothing'}: swapoff failed: No such file or directory\n"
