"""ghostswap swaplabel: print, change, refuse as util-linux does; ghost swapfiles accepted."""

from __future__ import annotations

import pytest

from .images import UUID_A, UUID_B, snapshot, swap_page, write_image


def swapfile(path, *, page=None, size=40960):
    page = page if page is not None else swap_page(4096, last_page=size // 4096 - 1)
    write_image(path, (size, {0: page}), fill=b"\0")
    return path


def test_print(run_cli, tmp_path):
    f = swapfile(tmp_path / "s", page=swap_page(4096, label=b"hello", uuid=bytes.fromhex(UUID_A.replace("-", ""))))
    r = run_cli("swaplabel", f)
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"LABEL: hello\nUUID:  {UUID_A}\n", "")


def test_print_nothing_without_label_and_uuid(run_cli, tmp_path):
    r = run_cli("swaplabel", swapfile(tmp_path / "s"))
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")


def test_dirty_padding_hides_label_and_uuid(run_cli, tmp_path):
    page = swap_page(4096, label=b"x", uuid=b"\1" * 16, padding=bytes(128) + b"\1" + bytes(339))
    r = run_cli("swaplabel", swapfile(tmp_path / "s", page=page))
    assert (r.exit_code, r.stdout) == (0, "")


def test_change_both(run_cli, tmp_path):
    f = swapfile(tmp_path / "s")
    r = run_cli("swaplabel", "-L", "new", "-U", UUID_B, f)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    data = f.read_bytes()
    assert data[1036:1052] == bytes.fromhex(UUID_B.replace("-", ""))
    assert data[1052:1068] == b"new".ljust(16, b"\0")
    assert run_cli("swaplabel", f).stdout == f"LABEL: new\nUUID:  {UUID_B}\n"


def test_long_label_and_bad_uuid_are_warnings(run_cli, tmp_path):
    f = swapfile(tmp_path / "s", page=swap_page(4096, uuid=b"\7" * 16))
    r = run_cli("swaplabel", "-L", "abcdefghijklmnopqrst", "-U", "bad", f)
    assert r.exit_code == 0
    assert r.stderr == (
        "swaplabel: failed to parse UUID: bad\n"
        "swaplabel: label is too long. Truncating it to 'abcdefghijklmno'\n"
    )
    data = f.read_bytes()
    assert data[1052:1068] == b"abcdefghijklmno\0" and data[1036:1052] == b"\7" * 16


def test_ghost_is_accepted(run_cli, tmp_path):
    g = tmp_path / "ghost"
    assert run_cli("mkswap", "--ghost", "-s", "64M", "-L", "g", "-U", UUID_A, g).exit_code == 0
    assert run_cli("swaplabel", g).stdout == f"LABEL: g\nUUID:  {UUID_A}\n"
    assert run_cli("swaplabel", "-L", "renamed", g).exit_code == 0
    assert run_cli("swaplabel", g).stdout == f"LABEL: renamed\nUUID:  {UUID_A}\n"
    assert g.stat().st_size == 4096


@pytest.mark.parametrize(
    "name,size,page",
    [
        ("small", 40959, swap_page(4096)),
        ("short", 8192, swap_page(4096, last_page=16383)),  # two pages: neither a ghost nor 40 KiB
        ("zeros", 40960, bytes(4096)),
        ("version2", 40960, swap_page(4096, version=2)),
        ("empty", 40960, swap_page(4096, last_page=0)),
        ("suspend", 40960, swap_page(4096, magic=b"S1SUSPEND")),
    ],
)
def test_not_a_valid_swap_partition(run_cli, tmp_path, name, size, page):
    f = tmp_path / name
    write_image(f, (size, {0: page}), fill=b"\0")
    before = snapshot(f)
    r = run_cli("swaplabel", "-L", "x", f)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"swaplabel: {f}: not a valid swap partition\n")
    assert snapshot(f) == before


def test_version_0(run_cli, tmp_path):
    f = swapfile(tmp_path / "v0", page=swap_page(4096, magic=b"SWAP-SPACE"))
    before = snapshot(f)
    r = run_cli("swaplabel", "-L", "x", f)
    assert (r.exit_code, r.stderr) == (1, f"swaplabel: {f}: unsupported swap version '0'\n")
    assert snapshot(f) == before


def test_missing_and_directory(run_cli, tmp_path):
    r = run_cli("swaplabel", tmp_path / "missing")
    assert (r.exit_code, r.stderr) == (
        1, f"swaplabel: {tmp_path / 'missing'}: unable to probe device: No such file or directory\n")
    r = run_cli("swaplabel", tmp_path)
    assert (r.exit_code, r.stderr) == (1, f"swaplabel: {tmp_path}: unable to probe device: Invalid argument\n")


def test_usage(run_cli):
    r = run_cli("swaplabel")
    assert (r.exit_code, r.stderr) == (
        1, "swaplabel: no device specified\nTry 'ghostswap swaplabel --help' for more information.\n")
    r = run_cli("swaplabel", "-X")
    assert (r.exit_code, r.stderr) == (
        1, "swaplabel: invalid option -- 'X'\nTry 'ghostswap swaplabel --help' for more information.\n")
    r = run_cli("swaplabel", "-V")
    assert r.exit_code == 0 and r.stdout.startswith("swaplabel from ghostswap ")


def test_subprocess(run_ghostswap, tmp_path):
    f = swapfile(tmp_path / "s")
    r = run_ghostswap("swaplabel", "-L", "viaproc", f)
    assert (r.returncode, r.stderr) == (0, b"")
    r = run_ghostswap("swaplabel", f)
    assert (r.returncode, r.stdout) == (0, b"LABEL: viaproc\n")
