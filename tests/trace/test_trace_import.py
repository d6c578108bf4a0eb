"""``trace import``: valgrind lackey logs (one made here when valgrind and a C compiler exist)
and damo records (made with damo's own writer when the damo package is installed)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ghostswap_cli.codec.trace import OP_READ, OP_WRITE, open_trace, open_trace_writer
from ghostswap_cli.replay.lackey import LackeyResult, fold_pages, parse_lackey

VALGRIND = shutil.which("valgrind")
CC = shutil.which("cc") or shutil.which("gcc")
HAVE_DAMO = importlib.util.find_spec("damo") is not None
PS = 4096

# 64 pages filled, then every other page read three times; the buffer's address on stdout
PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    char *p = aligned_alloc(4096, 64 * 4096);
    printf("%p\n", (void *)p);
    fflush(stdout);
    memset(p, 0x41, 64 * 4096);
    long s = 0;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 64; i += 2)
            s += ((volatile char *)p)[i * 4096];
    return s == 0;
}
"""


def events(path: Path) -> list[tuple[int, int, object]]:
    with open_trace(path) as r:
        return list(r)


@pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed (apt-get install valgrind)")
@pytest.mark.skipif(CC is None, reason="no C compiler for the lackey test program")
def test_import_real_lackey_log(tmp_path: Path, run_ghostswap) -> None:
    src = tmp_path / "walk.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "walk"
    subprocess.run([CC, "-O1", "-o", exe, src], check=True)
    log = tmp_path / "lackey.log"
    p = subprocess.run([VALGRIND, "--tool=lackey", "--trace-mem=yes", f"--log-file={log}", exe],
                       capture_output=True, check=True, timeout=300)
    base = int(p.stdout.split()[0], 16) // PS
    out = tmp_path / "walk.trace"
    r = run_ghostswap("trace", "import", log, "-o", out, "--json")
    assert r.returncode == 0, r.stderr.decode()
    res = json.loads(r.stdout)
    assert res["source"] == "lackey" and res["skipped_instructions"] > 0
    evs = [(op, vpn) for op, vpn, _ in events(out) if base <= vpn < base + 64]
    written = {vpn for op, vpn in evs if op == OP_WRITE}
    assert written == set(range(base, base + 64))  # memset wrote every page
    # after the memset, each round reads the 32 even pages in order
    reads = [vpn - base for op, vpn in evs if op == OP_READ]
    assert reads[-96:] == list(range(0, 64, 2)) * 3
    # folded: one event per run of accesses to a page, so far fewer than lackey's lines
    assert res["events"] < res["accesses"] / 4


def test_lackey_folding_and_bad_lines(tmp_path: Path, run_cli) -> None:
    log = tmp_path / "l.log"
    log.write_text("==1== Lackey, an example Valgrind tool\n"
                   "I  00400000,3\n"
                   " L 00001ff8,16\n"     # straddles pages 1 and 2
                   " L 00002010,8\n"      # page 2 again: folded
                   " S 00002018,8\n"      # still page 2: the run becomes a write
                   " M 00005000,4\n"
                   "\n")
    res = LackeyResult()
    assert list(fold_pages(parse_lackey(log, res), PS, result=res)) == [(1, False), (2, True), (5, True)]
    assert res.skipped_instructions == 1 and res.accesses == 4
    with_i = list(fold_pages(parse_lackey(log), PS, instructions=True))
    assert with_i[0] == (0x400, False)

    bad = tmp_path / "bad.log"
    bad.write_text(" L 00001000,8\n S 00002000,8\n L zz,8\n")
    out = tmp_path / "bad.trace"
    r = run_cli("trace", "import", bad, "-o", out)
    assert r.exit_code == 1
    assert f"{bad}:line 3: not a lackey access line: ' L zz,8'" in r.stderr
    assert not out.exists()
    bad.write_text(" L 00001000,0\n")
    r = run_cli("trace", "import", bad, "-o", out, "--from", "lackey")
    assert r.exit_code == 1 and "line 1: access of 0 bytes" in r.stderr


def test_lackey_contents_from_snapshot_and_mix(tmp_path: Path, run_cli) -> None:
    log = tmp_path / "l.log"
    log.write_text(" S 00010000,8\n S 00020008,8\n L 00030000,8\n")
    snap = tmp_path / "snap.gstrace"
    page = bytes(range(256)) * 16
    with open_trace_writer(snap, "binary", PS) as w:
        w.out(0x10, page)
        w.in_(0x10)
    out = tmp_path / "c.trace"
    r = run_cli("trace", "import", log, "-o", out, "--contents", snap, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["contents_from_snapshot"] == 1 and res["contents_synthesised"] == 1
    evs = events(out)
    assert evs[0] == (OP_WRITE, 0x10, page)
    assert evs[1][:2] == (OP_WRITE, 0x20) and evs[2] == (OP_READ, 0x30, None)
    # a declared mix: the same seed gives the same trace, another seed another one
    a, b, c = (tmp_path / n for n in ("a.trace", "b.trace", "c2.trace"))
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        log.write_text("".join(f" S {0x10000 * i:08x},8\n" for i in range(1, 200)))
        assert run_cli("trace", "import", log, "-o", path, "--mix", "text=1,random=1",
                       "--seed", seed).exit_code == 0
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert "zero" not in a.read_text().split("page-size", 1)[1]  # the mix has no zero pages
    r = run_cli("trace", "import", log, "-o", a, "--mix", "file=1")
    assert r.exit_code == 2 and "--mix" in r.stderr


def _damo_record(path: Path, snapshots: list[list[tuple[int, int, int]]]) -> None:
    from ghostswap_cli.replay.damo_import import damo_modules

    with damo_modules() as recs:
        import _damon  # type: ignore[import-not-found]  # on sys.path inside damo_modules()

        rec = recs.DamonRecord(0, 0, _damon.DamonIntervals(5000, 100000, 1000000), None, 0, [])
        for k, regions in enumerate(snapshots):
            rs = [_damon.DamonRegion(s, e, n, _damon.unit_samples, 1, _damon.unit_aggr_intervals)
                  for s, e, n in regions]
            rec.snapshots.append(recs.DamonSnapshot(k * 100_000_000, (k + 1) * 100_000_000, rs, None))
        recs.write_json_compressed([rec], str(path))


@pytest.mark.skipif(not HAVE_DAMO, reason="the damo package is not installed (pip install damo)")
def test_import_damo_record(tmp_path: Path, run_cli) -> None:
    rec = tmp_path / "damon.data"
    hot, cold = (0x7F0000000000, 0x7F0000008000), (0x7F0000008000, 0x7F0000010000)
    # 20 samples per aggregation: the hot region (8 pages) accessed in all, the cold in none,
    # then a region of 8 pages accessed in 5 of 20 samples (a quarter of its pages read)
    warm = (0x7F0000010000, 0x7F0000018000)
    _damo_record(rec, [[(*hot, 20), (*cold, 0)], [(*hot, 20), (*cold, 0), (*warm, 5)]])
    out = tmp_path / "d.trace"
    r = run_cli("trace", "import", rec, "-o", out, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["source"] == "damo" and res["snapshots"] == 2 and res["records"] == 1
    with open_trace(out) as tr:
        evs = list(tr.timed())
    first = {vpn for op, vpn, _, t in evs if t == 100_000_000}
    second = {vpn for op, vpn, _, t in evs if t == 200_000_000}
    hot_vpns = set(range(hot[0] // PS, hot[1] // PS))
    assert first == hot_vpns
    assert second - hot_vpns <= set(range(warm[0] // PS, warm[1] // PS)) and len(second - hot_vpns) == 2
    assert not {vpn for _, vpn, _, _ in evs} & set(range(cold[0] // PS, cold[1] // PS))
    # first touches are writes (with contents), later ones reads
    assert all(op == OP_WRITE for op, vpn, _, t in evs if t == 100_000_000)
    assert all(op == OP_READ for op, vpn, _, t in evs if t == 200_000_000 and vpn in hot_vpns)


@pytest.mark.skipif(not HAVE_DAMO, reason="the damo package is not installed (pip install damo)")
def test_import_damo_garbage(tmp_path: Path, run_cli) -> None:
    bad = tmp_path / "bad.data"
    bad.write_bytes(b"[{\"nonsense\": 1}]")
    r = run_cli("trace", "import", bad, "-o", tmp_path / "x.trace")
    assert r.exit_code == 1 and "damo cannot read it" in r.stderr
    assert "Traceback" not in r.output
