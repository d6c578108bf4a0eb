"""Item 12, second half: a replay holds what the stored pages need, and no more.

What a swapped-out page needs in the simulator: its PTE (8 bytes) and the CRC32 of its bytes
(4), in 512-entry PTE pages; its slot's swap_map byte, location byte and reference (6), in
512-slot clusters; a zswap entry (the entry arrays) and its compressed payload unless the page
is zero (the zeromap). Before: the commit at the end of a replay built a list of every dirty
page-table, cluster and zswap-index record before handing it to SQLite, about 12 more bytes
per zero page (32 in all) and 36 more per zswap page at the peak; and every page written to
a real swap file was an int object in a list until the commit (about 36 bytes). Now the rows
are generated as SQLite takes them and the written slots are one word each.

The first half of item 12, ``trace info``, is measured here the same way, as the slope of its
peak RSS between two trace sizes: tests/reliability/test_trace_info_memory.py reads a child's
``ru_maxrss``, which starts from the peak of the process that forked it (exec keeps it), so in
a pytest process bigger than ``trace info``'s own peak both of its figures are pytest's.

benchmarks/replay_memory.py measures 10 million pages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
from helpers import ghost_swapfile, machine, real_swapfile, set_param, swapon

from ghostswap_cli.codec.trace import C_ZERO, open_trace, open_trace_writer, trace_header
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace

REPO = Path(__file__).resolve().parents[2]
PS = 4096

REPLAY = """\
import sys
from ghostswap_cli.cli import main
try:
    main(["--state", sys.argv[1], "replay", sys.argv[2], "--no-progress", "--compress-ahead",
          "off"])
except SystemExit as e:
    if e.code:
        raise
# VmHWM, not ru_maxrss: that one starts from the peak of the process that forked this one
with open("/proc/self/status") as f:
    print(next(line.split()[1] for line in f if line.startswith("VmHWM:")), file=sys.stderr)
"""


TRACE_INFO = REPLAY.replace(
    '"--state", sys.argv[1], "replay", sys.argv[2], "--no-progress", "--compress-ahead",\n'
    '          "off"', '"trace", "info", sys.argv[1]')
assert TRACE_INFO != REPLAY


def _zero_trace(path: Path, pages: int, stride: int = 3) -> Path:
    """A binary trace of ``pages`` distinct zero-page swap-outs, written at once with numpy."""
    words = np.arange(pages, dtype="<u8") * np.uint64(stride) | np.uint64(C_ZERO << 52)
    path.write_bytes(trace_header.build(dict(version=1, flags=0, page_size=PS))
                     + words.tobytes())
    return path


def _trace(path: Path, pages: int, kind: str = "zero") -> Path:
    with open_trace_writer(path, "binary") as w:
        for v in range(pages):
            w.out(v, "zero" if kind == "zero" else f"fill:0x{v + 0x0101010101010101:016x}")
    return path


def _machine(tmp: Path, name: str, slots: int, *, real: bool = False, zswap: bool = True) -> Path:
    state = tmp / f"state-{name}"
    machine(state, ram=str(64 << 30))
    size = (slots + 1) * PS
    swapfile = (real_swapfile if real else ghost_swapfile)(tmp / f"{name}.swap", size=size)
    set_param(state, "/sys/module/zswap/parameters/enabled", "Y" if zswap else "N")
    set_param(state, "/sys/module/zswap/parameters/max_pool_percent", "100")
    swapon(state, swapfile)
    return state


def _peak_kib(state: Path | None, trace: Path) -> int:
    """VmHWM of a replay of ``trace`` on ``state`` (None: of ``trace info`` on it)."""
    args = [REPLAY, str(state)] if state is not None else [TRACE_INFO]
    r = subprocess.run([sys.executable, "-c", *args, str(trace)],
                       capture_output=True, text=True, cwd=REPO, timeout=300, check=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    return int(r.stderr.split()[-1])


def test_replay_process_grows_by_what_the_stored_pages_need(tmp_path):
    """A replay of 400 000 distinct zero pages (open, replay, commit, as the command does)
    peaks at under 24 bytes per page above a 1-page replay: the page table and the slots need
    18. Before: 32."""
    n = 400_000
    small = _peak_kib(_machine(tmp_path, "small", 1024), _trace(tmp_path / "1.gstrace", 1))
    big = _peak_kib(_machine(tmp_path, "big", n + 1024), _trace(tmp_path / "n.gstrace", n))
    grown = (big - small) * 1024
    assert grown < 24 * n, f"{grown / n:.1f} bytes per page"


def _replay_traced(state: Path, trace: Path) -> tuple[int, int, int]:
    """(bytes the replay left allocated, peak of the commit above that, pages stored)."""
    with open_trace(trace) as reader, open_kernel(state) as k:
        k.load_all()
        _ = k.zswap
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            report = replay_trace(k, reader, ReplayOptions(compress_ahead="off"))
            held = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            k.save()
            commit_peak = tracemalloc.get_traced_memory()[1] - held
        finally:
            tracemalloc.stop()
        assert report.swapped_out == report.events and not report.stayed_resident
    return held - before, commit_peak, report.swapped_out


def test_commit_copies_no_record_per_page(tmp_path):
    """Committing the state of 50 000 zswap pages allocates under 10 bytes per page on top of
    what the replay holds (before: 36, a list of every dirty record)."""
    n = 50_000
    state = _machine(tmp_path, "fill", n + 1024)
    _held, commit_peak, stored = _replay_traced(state, _trace(tmp_path / "f.gstrace", n, "fill"))
    assert stored == n
    assert commit_peak < 10 * n, f"{commit_peak / n:.1f} bytes per page"


def test_pages_written_to_a_real_swapfile_cost_a_word_until_the_commit(tmp_path):
    """Distinct pages onto a real swap file with zswap off: each page more in the trace makes
    the replay hold under 32 more bytes (18 for the page table and the slots, 8 for the
    written slot's entry until the commit), the slope between 10 000 and 20 000 pages (which
    leaves out the trace reader's page cache); before, each written slot was an int object in
    a list (about 55 in all)."""
    held = {}
    for n in (10_000, 20_000):
        state = _machine(tmp_path, f"real{n}", n + 1024, real=True, zswap=False)
        held[n], commit_peak, stored = _replay_traced(
            state, _trace(tmp_path / f"r{n}.gstrace", n, "fill"))
        assert stored == n
        assert commit_peak < 10 * n, f"{commit_peak / n:.1f} bytes per page at the commit"
    slope = (held[20_000] - held[10_000]) / 10_000
    assert slope < 32, f"{slope:.1f} bytes per page"


def test_trace_info_process_grows_by_its_page_states(tmp_path):
    """``trace info`` on 1 200 000 distinct pages peaks under 40 bytes per page more than on
    600 000 (its page states are 8 bytes a page, doubled while a segment is copied by an
    insert; the batch of events in hand is the same in both). Before: two Python sets, about
    86 (and 16 is met only at millions of pages, where the batch's fixed cost is spread:
    benchmarks/trace_info_memory.py)."""
    a, b = 600_000, 1_200_000
    peak_a = _peak_kib(None, _zero_trace(tmp_path / "a.gstrace", a))
    peak_b = _peak_kib(None, _zero_trace(tmp_path / "b.gstrace", b))
    slope = (peak_b - peak_a) * 1024 / (b - a)
    assert slope < 40, f"{slope:.1f} bytes per page"
