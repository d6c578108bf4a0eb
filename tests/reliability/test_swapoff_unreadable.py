"""Item 1: swapoff must not bring back corrupt pages silently.

Before: bytes flipped in the zswap pool, or the swap file truncated under its pages, and
``swapoff -a`` exited 0 with no message and no log line; the pages came back with other bytes
and ``kernel fsck`` said clean. After: swapoff reads every page first; if one cannot be read
back with its bytes it fails with EIO (``swapoff: X: swapoff failed: Input/output error``,
status 4; 32 with --all), changes nothing, the area stays active, each page is logged in the
kernel's words (zswap's decompression error, the read error) and ``kernel fsck`` names the
slots; ``fsck --repair`` recovers what can be read and lists the rest; ``swapoff --force``
drops them, saying how many.
"""

from __future__ import annotations

import json
import os

import pytest
from relhelp import swap_out

from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.mm import PTE_PRESENT


def _flip_pool(state_dir, every: int = 5000) -> None:
    with open(state_dir / "zswap.pool", "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        for off in range(4096, size, every):
            f.seek(off)
            b = f.read(8)
            f.seek(off)
            f.write(bytes(x ^ 0xFF for x in b))


def _swapped(state_dir) -> int:
    with open_kernel(state_dir, write=False) as k:
        return k.mm.swapped_pages


@pytest.mark.parametrize("damage", ["pool", "truncate"])
def test_swapoff_fails_with_eio_and_changes_nothing(area, state_dir, run_cli, damage):
    pages = swap_out(state_dir, range(300), zswap=damage == "pool")
    if damage == "pool":
        _flip_pool(state_dir)
    else:
        os.truncate(area, 3 << 20)  # slots are taken from 512 on: 768 and up are cut off
    before = run_cli("cat", "/proc/swaps").stdout
    r = run_cli("swapoff", str(area))
    assert (r.exit_code, r.stderr) == (4, f"swapoff: {area}: swapoff failed: Input/output error\n")
    r = run_cli("swapoff", "-a")
    assert (r.exit_code, r.stderr) == (32, f"swapoff: {area}: swapoff failed: Input/output error\n")
    assert run_cli("cat", "/proc/swaps").stdout == before  # still active, nothing changed
    assert _swapped(state_dir) == len(pages)
    log = run_cli("dmesg").stdout
    word = "Decompression error from zswap (0:" if damage == "pool" else "Read-error on swap-device ("
    assert word in log
    assert f"ghostswap: swapoff {area}: " in log and "cannot be read back" in log
    # fsck names the slots, repair keeps every page that reads back and lists the others
    r = run_cli("kernel", "fsck")
    assert r.exit_code in (1, 4) and "cannot be read back with its bytes" in r.stdout
    r = run_cli("kernel", "fsck", "--repair", "--json")
    assert r.exit_code & 4, r.stdout
    lost = json.loads(r.stdout)["lost_pages"]
    assert lost
    assert run_cli("kernel", "fsck", "--verify").exit_code == 0
    r = run_cli("swapoff", "-a")
    assert (r.exit_code, r.stderr) == (0, "")
    with open_kernel(state_dir, write=False) as k:
        back = [v for v in pages if k.mm.lookup(v)[0] == PTE_PRESENT]
        assert len(back) + len(lost) == len(pages)
        assert k.counters["corrupt_pages"] >= len(lost)


def test_swapoff_force_drops_them_saying_how_many(area, state_dir, run_cli):
    pages = swap_out(state_dir, range(300), zswap=True)
    _flip_pool(state_dir)
    r = run_cli("swapoff", "--force", str(area))
    assert (r.exit_code, r.stderr) == (0, "")
    log = run_cli("dmesg").stdout.splitlines()
    dropped = [line for line in log if "dropped" in line]
    assert len(dropped) == 1 and "that cannot be read back" in dropped[0]
    n = int(dropped[0].split("dropped ")[1].split()[0])
    with open_kernel(state_dir, write=False) as k:
        gone = [v for v in pages if k.mm.lookup(v)[0] == 0]
        assert len(gone) == n > 0
        assert k.counters["corrupt_pages"] == n
    assert run_cli("kernel", "show", "--json").exit_code == 0
    assert f'"corrupt_pages": {n}' in run_cli("kernel", "show", "--json").stdout


def test_intact_pages_swapoff_cleanly(area, state_dir, run_cli):
    swap_out(state_dir, range(300), zswap=True)
    r = run_cli("swapoff", "-a")
    assert (r.exit_code, r.stderr) == (0, "")
    assert "cannot be read back" not in run_cli("dmesg").stdout
