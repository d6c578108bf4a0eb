"""Item 2: mkswap must not rewrite or truncate an area the simulated kernel has active.

Before: ``mkswap --file --size 4M real.swap`` over an active 16 MiB area exited 0, shrank the
file to 4 MiB and wrote a new header under the swapped-out pages. After: util-linux's
``check_mount()`` answer (``is mounted; will not make swapspace``, exit 1) when the area is
named as /proc/swaps lists it, and the kernel's ETXTBSY for the first write when it is named
by another path; the file keeps its bytes. swaplabel still works (util-linux allows it).
"""

from __future__ import annotations

import hashlib
import os

from relhelp import swap_out


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_mkswap_file_size_refuses_active_area(area, state_dir, run_cli):
    swap_out(state_dir, range(100), zswap=False)
    before = _digest(area)
    r = run_cli("mkswap", "--file", "--size", "4M", str(area))
    assert r.exit_code == 1
    assert r.stderr == f"mkswap: error: {area} is mounted; will not make swapspace\n"
    assert area.stat().st_size == 16 << 20 and _digest(area) == before
    r = run_cli("mkswap", str(area))
    assert r.exit_code == 1 and "is mounted; will not make swapspace" in r.stderr
    assert _digest(area) == before


def test_mkswap_other_name_gets_text_file_busy(area, state_dir, run_cli, monkeypatch):
    before = _digest(area)
    monkeypatch.chdir(area.parent)
    r = run_cli("mkswap", area.name)
    assert (r.exit_code, r.stderr) == (1, "mkswap: unable to erase bootbits sectors\n")
    r = run_cli("mkswap", "--file", "--size", "4M", area.name)
    assert r.exit_code == 1
    assert r.stderr == f"mkswap: couldn't allocate swap file {area.name}: Text file busy\n"
    link = area.parent / "other-name"
    os.link(area, link)
    r = run_cli("mkswap", "-f", str(link))
    assert r.exit_code == 1 and _digest(area) == before


def test_swaplabel_on_active_area_still_allowed(area, run_cli):
    r = run_cli("swaplabel", "-L", "busy", str(area))
    assert r.exit_code == 0, r.stderr
    assert run_cli("swaplabel", str(area)).stdout.startswith("LABEL: busy")


def test_mkswap_after_swapoff_works(area, run_cli):
    assert run_cli("swapoff", str(area)).exit_code == 0
    r = run_cli("mkswap", "--file", "--size", "4M", str(area))
    assert r.exit_code == 0, r.stderr
    assert area.stat().st_size == 4 << 20
