"""Item 3: removing the file of an active area.

Before: ``rm`` of an active swap file made /proc/swaps list ``path (deleted)`` with a bare
space, which swapoff's parser rejected (``swapoff: /proc/swaps: parse error at line 2 --
ignored``, exit 0), the area stayed active for ever, and its pages on disk were gone.
After: the state keeps a hard link to every active swap file (the kernel keeps the open file),
so the area stays usable; /proc/swaps prints ``path\\040(deleted)`` as seq_file_path escapes
d_path; libmount's parser strips the suffix, and swapoff by that name or ``-a`` brings every
page back with its bytes.
"""

from __future__ import annotations

import pytest
from relhelp import swap_out

from ghostswap_cli.kernel.machine import open_kernel


@pytest.mark.parametrize("how", ["name", "all"])
def test_swapoff_after_rm_brings_every_page_back(area, state_dir, run_cli, how):
    pages = swap_out(state_dir, range(200), zswap=False)
    area.unlink()
    swaps = run_cli("cat", "/proc/swaps").stdout.splitlines()
    assert swaps[1].startswith(f"{area}\\040(deleted) ")
    r = run_cli("swapon", "--show=NAME", "--noheadings")
    assert (r.stdout, r.stderr) == (f"{area}\n", "")
    r = run_cli("swapoff", *((str(area),) if how == "name" else ("-a",)))
    assert (r.exit_code, r.stderr) == (0, "")
    assert run_cli("cat", "/proc/swaps").stdout.count("\n") == 1
    with open_kernel(state_dir, write=False) as k:
        mm = k.mm
        assert mm.stats.corrupt_pages == 0 and k.counters["corrupt_pages"] == 0
        assert all(mm.lookup(v)[0] != 0 for v in pages)
    assert not any((state_dir / "held").iterdir())  # the link went with the area


def test_area_stays_usable_after_rm(area, state_dir, run_cli):
    swap_out(state_dir, range(50), zswap=False)
    area.unlink()
    more = swap_out(state_dir, range(50, 100), zswap=False)  # written to the removed file
    with open_kernel(state_dir) as k:
        for v, data in more.items():
            assert k.mm.swap_in(v) == data
    r = run_cli("kernel", "fsck", "--verify")
    assert r.exit_code == 0, r.stdout


def test_swaps_parser_accepts_every_row_the_kernel_prints(state_dir, short_dir, run_cli):
    from helpers import machine, real_swapfile, swapon

    machine(state_dir)
    names = ["with space", "tab\there", "back\\slash", "new\nline"]
    paths = [real_swapfile(short_dir / n, 1 << 20) for n in names]
    swapon(state_dir, *paths)
    paths[0].unlink()
    r = run_cli("swapon", "--show=NAME", "--noheadings", "--raw")
    assert r.stderr == ""
    assert r.exit_code == 0 and r.stdout.count("\n") == len(names)
    r = run_cli("swapoff", "-a")
    assert (r.exit_code, r.stderr) == (0, "")
