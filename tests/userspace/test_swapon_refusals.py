"""Areas swapon must refuse: util-linux's message and exit status, the kernel's log line (or
its silence), and the swap table left as it was."""

from __future__ import annotations

import errno
import os

import pytest

from ghostswap_cli.codec.swap_header import ByteOrder
from ghostswap_cli.errors import KernelError
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.swapfile import sys_swapoff, sys_swapon
from ghostswap_cli.uapi import MAX_SWAP_BADPAGES

from .test_swapon import (
    PAGE,
    header_page,
    init_kernel,
    log_texts,
    make_ghost,
    make_swapfile,
    proc_swaps,
    table,
    write_area,
)

SIZE = 64 * PAGE


def refused(run_cli, state_dir, path, *, kernel_line: str | None, user_line: str,
            args: tuple[str, ...] = (), stderr_before: str = "") -> None:
    """swapon ``path`` fails with ``user_line`` (status 255), the kernel logs ``kernel_line``
    (None: nothing), and the table does not change."""
    before_table, before_log = proc_swaps(state_dir), log_texts(state_dir)
    r = run_cli("swapon", *args, path)
    assert r.exit_code == 255, r.stderr
    assert r.stdout == (f"swapon {path}\n" if "-v" in args and kernel_line else "")
    assert r.stderr == f"{stderr_before}swapon: {user_line}\n"
    assert proc_swaps(state_dir) == before_table
    new = log_texts(state_dir)[len(before_log):]
    assert new == ([kernel_line] if kernel_line is not None else [])


@pytest.fixture
def kernel(run_cli):
    init_kernel(run_cli)


def test_no_signature(run_cli, state_dir, tmp_path, kernel):
    f = write_area(tmp_path / "zeros", SIZE, None)
    # util-linux stops before the syscall ...
    refused(run_cli, state_dir, f, kernel_line=None, user_line=f"{f}: read swap header failed")
    # ... the kernel's own refusal, reached directly
    with open_kernel(state_dir) as k:
        n = len(k.log_lines())
        with pytest.raises(KernelError) as e:
            sys_swapon(k, str(f), 0)
        assert e.value.errno == errno.EINVAL
        assert [x.text for x in k.log_lines()[n:]] == ["Unable to find swap-space signature"]
        assert k.active() == []


def test_old_swap_space_signature(run_cli, state_dir, tmp_path, kernel):
    page = bytearray(PAGE)
    page[PAGE - 10:] = b"SWAP-SPACE"
    f = write_area(tmp_path / "v0", SIZE, bytes(page))
    refused(run_cli, state_dir, f, kernel_line=None, user_line=f"{f}: read swap header failed")


def test_wrong_version(run_cli, state_dir, tmp_path, kernel):
    f = write_area(tmp_path / "v2", SIZE, header_page(63, version=2))
    refused(run_cli, state_dir, f, kernel_line="Unable to handle swap header version 2",
            user_line=f"{f}: swapon failed: Invalid argument")


def test_last_page_zero(run_cli, state_dir, tmp_path, kernel):
    f = write_area(tmp_path / "empty", SIZE, header_page(0))
    refused(run_cli, state_dir, f, kernel_line="Empty swap-file",
            user_line=f"{f}: swapon failed: Invalid argument")


def test_header_larger_than_file(run_cli, state_dir, tmp_path, kernel):
    f = write_area(tmp_path / "short", 2 * PAGE, header_page(15))
    refused(run_cli, state_dir, f, kernel_line="Swap area shorter than signature indicates",
            user_line=f"{f}: swapon failed: Invalid argument",
            args=("-v",), stderr_before=(
                f"swapon: {f}: found signature [pagesize=4096, signature=swap]\n"
                f"swapon: {f}: pagesize=4096, swapsize=65536, devsize=8192\n"
                f"swapon: {f}: last_page 0x00010000 is larger than actual size of swapspace\n"))


def test_bad_pages_on_a_regular_file(run_cli, state_dir, tmp_path, kernel):
    # the kernel refuses without a word: bad pages are for block devices
    f = write_area(tmp_path / "bad", SIZE, header_page(63, badpages=(5, 6)))
    refused(run_cli, state_dir, f, kernel_line=None, user_line=f"{f}: swapon failed: Invalid argument")


def test_too_many_bad_pages(run_cli, state_dir, tmp_path, kernel):
    # a byte-swapped header whose count overflows the list: rejected before anything is logged
    page = bytearray(header_page(63, byteorder=ByteOrder.BIG))
    page[1032:1036] = (MAX_SWAP_BADPAGES(PAGE) + 1).to_bytes(4, "big")
    f = write_area(tmp_path / "toomany", SIZE, bytes(page))
    refused(run_cli, state_dir, f, kernel_line=None, user_line=f"{f}: swapon failed: Invalid argument")
    # and a native one: the count alone makes it fail, still silently
    page = bytearray(header_page(63))
    page[1032:1036] = (MAX_SWAP_BADPAGES(PAGE) + 1).to_bytes(4, "little")
    g = write_area(tmp_path / "toomany2", SIZE, bytes(page))
    refused(run_cli, state_dir, g, kernel_line=None, user_line=f"{g}: swapon failed: Invalid argument")


def test_sparse_swapfile(run_cli, state_dir, tmp_path, kernel):
    f = write_area(tmp_path / "sparse", 256 * PAGE, header_page(255), sparse=True)
    st = f.stat()
    assert st.st_blocks * 512 < st.st_size
    refused(run_cli, state_dir, f, kernel_line=None,
            user_line=f"{f}: skipping - it appears to have holes.")
    # with the userspace check bypassed, the kernel finds the hole itself
    with open_kernel(state_dir) as k:
        n = len(k.log_lines())
        with pytest.raises(KernelError) as e:
            sys_swapon(k, str(f), 0)
        assert e.value.errno == errno.EINVAL
        assert [x.text for x in k.log_lines()[n:]] == [f"swapon: file {f} has unallocated extents"]
        assert k.active() == []


def test_page_size_mismatch_reaches_the_kernel(run_cli, state_dir, tmp_path, kernel):
    f = make_swapfile(tmp_path / "8k", 32 * 8192, page_size=8192)
    refused(run_cli, state_dir, f, kernel_line="Unable to find swap-space signature",
            user_line=f"{f}: swapon failed: Invalid argument",
            stderr_before=f"swapon: {f}: swap format pagesize does not match. "
                          "(Use --fixpgsz to reinitialize it.)\n")


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_already_active(run_cli, state_dir, tmp_path, kernel, how):
    f = make_swapfile(tmp_path / "swap", SIZE)
    assert run_cli("swapon", f).exit_code == 0
    other = f
    if how == "symlink":
        other = tmp_path / "link"
        os.symlink(f, other)
    elif how == "hardlink":
        other = tmp_path / "hard"
        os.link(f, other)
    # a symlink is resolved to the real name first, as util-linux canonicalizes paths
    shown = f if how != "hardlink" else other
    refused(run_cli, state_dir, other, kernel_line=None,
            user_line=f"{shown}: swapon failed: Device or resource busy")
    assert table(state_dir) == [(str(f), "file", -2)]


def test_already_active_ghost(run_cli, state_dir, tmp_path, kernel):
    g = make_ghost(tmp_path / "g")
    assert run_cli("swapon", g).exit_code == 0
    refused(run_cli, state_dir, g, kernel_line=None,
            user_line=f"{g}: swapon failed: Device or resource busy")


def test_swapoff_of_inactive_file(run_cli, state_dir, tmp_path, kernel):
    f = make_swapfile(tmp_path / "swap", SIZE)
    before = proc_swaps(state_dir)
    r = run_cli("swapoff", f)
    assert (r.exit_code, r.stdout, r.stderr) == (4, "", f"swapoff: {f}: swapoff failed: Invalid argument\n")
    assert proc_swaps(state_dir) == before
    with open_kernel(state_dir) as k, pytest.raises(KernelError) as e:
        sys_swapoff(k, str(f))
    assert e.value.errno == errno.EINVAL


def test_more_than_max_swapfiles(run_cli, state_dir, tmp_path, kernel):
    with open_kernel(state_dir, write=False) as k:
        limit = k.max_swapfiles
    files = [make_ghost(tmp_path / f"g{i:02d}", 1 << 20) for i in range(limit + 1)]
    r = run_cli("swapon", *files[:limit])
    assert (r.exit_code, r.stderr) == (0, "")
    assert len(table(state_dir)) == limit
    refused(run_cli, state_dir, files[limit], kernel_line=None,
            user_line=f"{files[limit]}: swapon failed: Operation not permitted")
    # one off, and the slot is free again (the lowest type is reused)
    assert run_cli("swapoff", files[3]).exit_code == 0
    assert run_cli("swapon", files[limit]).exit_code == 0
    assert table(state_dir)[3][0] == str(files[limit])


def test_ghost_under_the_mainline_personality(run_cli, state_dir, tmp_path):
    init_kernel(run_cli, "--personality", "mainline")
    g = make_ghost(tmp_path / "ghost", 64 << 20)
    refused(run_cli, state_dir, g, kernel_line="Swap area shorter than signature indicates",
            user_line=f"{g}: swapon failed: Invalid argument")


def test_missing_file(run_cli, state_dir, tmp_path, kernel):
    f = tmp_path / "nope"
    refused(run_cli, state_dir, f, kernel_line=None,
            user_line=f"cannot open {f}: No such file or directory")


def test_one_failure_does_not_stop_the_others(run_cli, state_dir, tmp_path, kernel):
    good = make_ghost(tmp_path / "good")
    bad = write_area(tmp_path / "bad", SIZE, None)
    r = run_cli("swapon", bad, good)
    assert r.exit_code == 255
    assert r.stderr == f"swapon: {bad}: read swap header failed\n"
    assert table(state_dir) == [(str(good), "ghost", -2)]
