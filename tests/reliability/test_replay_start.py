"""Items 13 and 14: what a replay starts from.

Item 13, before: a replay with no active swap area exited 0 with an all-zero report. After: it
is refused up front (exit 1, one line, nothing changed) unless ``--no-swap-ok``.

Item 14, before: pages left swapped out by an earlier replay silently changed the next one's
results. After: the replay warns, naming how many pages are left and where, and ``--fresh``
unmaps them first (as their process exiting would), so the second replay reports what the
first did.
"""

from __future__ import annotations

import json

from ghostswap_cli.kernel.machine import open_kernel

TRACE = "ghostswap-trace 1\n" + "".join(f"out {0x1000 + i:#x} random:{i}\n" for i in range(60)) \
    + "".join(f"out {0x2000 + i:#x} text:{i}\n" for i in range(200)) \
    + "".join(f"in {0x2000 + i:#x}\n" for i in range(0, 200, 2))


def _trace(tmp_path):
    t = tmp_path / "t.trace"
    t.write_text(TRACE)
    return t


def test_no_active_swap_is_refused(state_dir, tmp_path, run_cli):
    t = _trace(tmp_path)
    r = run_cli("replay", "--no-progress", t)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.startswith("ghostswap: no active swap area: ") and r.stderr.count("\n") == 1
    with open_kernel(state_dir, write=False) as k:
        assert k.mm.present_pages == 0 and k.counters["swap_out_nospace"] == 0
    r = run_cli("replay", "--no-progress", "--no-swap-ok", "--json", t)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["no_swap_space"] == 260


def test_second_replay_warns_and_fresh_repeats_the_first(area, tmp_path, run_cli):
    t = _trace(tmp_path)
    first = run_cli("replay", "--no-progress", "--json", t)
    assert first.exit_code == 0 and first.stderr == ""
    second = run_cli("replay", "--no-progress", "--json", t)
    assert second.exit_code == 0
    assert "pages swapped out" in second.stderr and "--fresh" in second.stderr
    assert json.loads(second.stdout)["implicit_swapins"] > 0  # the leftovers changed it
    fresh = run_cli("replay", "--no-progress", "--json", "--fresh", t)
    assert fresh.exit_code == 0 and fresh.stderr == ""
    a, b = json.loads(first.stdout), json.loads(fresh.stdout)
    for key in ("swapped_out", "swapped_in", "stored_pages", "zero_pages", "implicit_swapins",
                "written_back_pages", "corrupt_pages"):
        assert a[key] == b[key], key
