"""Item 4: a pool file one byte short.

Before: ``kernel fsck`` and ``fsck --repair`` exited 8 ("cannot rebuild: live extent out of
range", advising ``kernel reset --force``) although every page but one was intact, and swapoff
advised that repair, which could not work. After: fsck reports the short pool (exit 1), the
repair keeps every page whose bytes are all there, names the one that was cut (exit 5), and
swapoff then works.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3

from helpers import set_param

from ghostswap_cli.kernel.arena import _STATE_HEADER, GRANULE_SHIFT
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.mm import PTE_PRESENT


def test_pool_one_byte_short_is_repaired_with_one_page_lost(area, state_dir, run_cli):
    # half random pages: ~2 KiB objects, so the pool grows past its first MiB
    rnd = random.Random(13)
    pages = {v: rnd.randbytes(2048) + b"\xff" * 2048 for v in range(1000)}
    set_param(state_dir, "/sys/module/zswap/parameters/enabled", "Y")
    with open_kernel(state_dir) as k:
        for v, data in pages.items():
            k.mm.swap_out(v, data)
    db = sqlite3.connect(state_dir / "state.db")
    blob = db.execute("SELECT data FROM blobs WHERE name='arena'").fetchone()[0]
    db.close()
    end = _STATE_HEADER.unpack_from(blob)[4] << GRANULE_SHIFT
    os.truncate(state_dir / "zswap.pool", end - 1)
    r = run_cli("swapoff", "-a")
    assert r.exit_code == 1 and "run `ghostswap kernel fsck --repair`" in r.stderr  # now it works
    r = run_cli("kernel", "fsck")
    assert r.exit_code == 1 and "reset --force" not in r.stdout + r.stderr
    r = run_cli("kernel", "fsck", "--repair", "--json")
    report = json.loads(r.stdout)
    assert report["error"] is None, report
    assert r.exit_code == 5, (report["repairs"], report["lost_pages"], report["problems"])
    assert len(report["lost_pages"]) == 1  # the object that ended in the missing byte
    assert run_cli("kernel", "fsck", "--verify").exit_code == 0
    r = run_cli("swapoff", "-a")
    assert (r.exit_code, r.stderr) == (0, "")
    with open_kernel(state_dir, write=False) as k:
        back = sum(1 for v in pages if k.mm.lookup(v)[0] == PTE_PRESENT)
    assert back == len(pages) - 1
