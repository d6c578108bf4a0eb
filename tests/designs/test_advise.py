"""``ghostswap advise``: the size holds the trace's peak with the headroom, and the printed mkswap
command, run as printed, makes a ghost swapfile that reads back with that size."""

from __future__ import annotations

import json
import math
import os
import shlex
from pathlib import Path

import pytest

from ghostswap_cli.codec.swap_header import find_swap_header
from ghostswap_cli.codec.trace import OP_OUT, open_trace, open_trace_writer
from ghostswap_cli.replay.synth import synthesize

from .lab_traces import write


def synth(path: Path, *, peak: int, pattern: str, page_size: int = 4096, events: int = 0) -> Path:
    # a sawtooth climbs to the peak in each of its 4 teeth: a tooth needs more events than that
    events = events or (5 * peak if pattern == "sawtooth" else 2500)
    with open_trace_writer(path, "binary", page_size) as w:
        res = synthesize(w, events=events, working_set=peak + 300, peak=peak, pattern=pattern,
                         seed=3, mix={"zero": 1, "fill": 1, "text": 2})
    assert res.peak_swapped == peak
    return path


def printed_command(stdout: str) -> list[str]:
    lines = [line for line in stdout.splitlines() if line.startswith("ghostswap mkswap ")]
    assert len(lines) == 1 and stdout.endswith(lines[0] + "\n")  # the last line, on its own
    return shlex.split(lines[0])


@pytest.mark.parametrize(("pattern", "peak", "headroom"), [("ramp", 700, 25), ("sawtooth", 1100, 10)])
def test_recommendation_holds_the_peak_and_the_command_makes_it(
        run_cli, tmp_path: Path, pattern: str, peak: int, headroom: int) -> None:
    trace = synth(tmp_path / "s.gstrace", peak=peak, pattern=pattern)
    target = tmp_path / "made" / "ghost.swap"
    target.parent.mkdir()
    r = run_cli("advise", trace, "--headroom", headroom, "-L", "lab", "--output-file", target,
                "--compressor", "lz4")
    assert r.exit_code == 0, r.output
    # ceil(peak * (100 + headroom) / 100) data slots + the header, in whole 512-slot clusters
    needed = math.ceil(peak * (100 + headroom) / 100) + 1
    clusters = math.ceil(needed / 512)
    size = clusters * 512 * 4096
    assert f"peak: {peak} pages" in r.stdout
    assert f"+ 1 header slot = {needed} slots" in r.stdout
    assert f"{clusters} clusters = {clusters * 512} slots = {size >> 20}MiB" in r.stdout
    argv = printed_command(r.stdout)
    assert argv == ["ghostswap", "mkswap", "--ghost", "--size", f"{size >> 20}MiB", "-L", "lab",
                    str(target)]
    usable = clusters * 512 - 1
    assert usable >= math.ceil(peak * (100 + headroom) / 100) > peak  # holds the peak + headroom
    assert (clusters - 1) * 512 < needed  # and no more than one cluster short of it

    made = run_cli(*argv[1:])
    assert made.exit_code == 0, made.output
    assert target.stat().st_size == 4096  # a ghost: the header page only
    found = find_swap_header(target.read_bytes())
    assert found is not None and found.header is not None
    assert found.header.declared_bytes == size and found.header.label == "lab"
    probe = run_cli("probe", "--json", target)
    assert probe.exit_code == 0, probe.output
    info = json.loads(probe.stdout)["files"][0]
    assert (info["kind"], info["bytes"], info["pages"], info["label"]) == ("ghost", size, size // 4096, "lab")


def test_json_compares_with_the_dynamic_designs(run_cli, tmp_path: Path) -> None:
    trace = synth(tmp_path / "s.gstrace", peak=700, pattern="ramp")
    r = run_cli("advise", trace, "--json")
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)
    rec = a["recommendation"]
    assert (rec["basis_pages"], rec["with_headroom"], rec["needed_slots"], rec["slots"]) == (700, 875, 876, 1024)
    assert (rec["size_bytes"], rec["size"], rec["usable_slots"]) == (4 << 20, "4MiB", 1023)
    assert list(a["comparison"]) == ["ghost-rfc", "ghost-grow", "swap-table-dynamic", "vswap-24"]
    ghost = a["comparison"]["ghost-rfc"]
    assert ghost["devices"] == "ghost 4 MiB"
    assert ghost["metadata_static_at_peak_bytes"] == 3 * 1024  # the static cost of that size
    assert a["comparison"]["ghost-grow"]["metadata_static_at_peak_bytes"] <= 3 * 1024
    # the dynamic ghost of swap-table phase IV has no static cost of its own
    assert a["comparison"]["swap-table-dynamic"]["metadata_static_at_peak_bytes"] < 3 * 1024
    assert a["corrupt_pages"] == 0 and a["stored_pages"]["peak_swapped_pages"] == 700
    assert a["command"] == ["ghostswap", "mkswap", "--ghost", "--size", "4MiB", "ghost.swap"]
    assert a["command_line"] == "ghostswap mkswap --ghost --size 4MiB ghost.swap"


def test_percentile_is_nearest_rank_over_events(run_cli, tmp_path: Path) -> None:
    trace = synth(tmp_path / "s.gstrace", peak=900, pattern="sawtooth")
    # the pages out after each event, counted here independently of the lab
    out: set[int] = set()
    counts = []
    with open_trace(trace) as reader:
        for op, vpn, _ in reader.events():
            (out.add if op == OP_OUT else out.discard)(vpn)
            counts.append(len(out))
    counts.sort()
    p90 = counts[math.ceil(0.9 * len(counts)) - 1]
    assert p90 < 900
    r = run_cli("advise", trace, "--percentile", "90", "--headroom", "0", "--json")
    rec = json.loads(r.stdout)["recommendation"]
    assert (rec["percentile"], rec["basis_pages"], rec["needed_slots"]) == (90, p90, p90 + 1)
    assert rec["slots"] == math.ceil((p90 + 1) / 512) * 512


@pytest.mark.parametrize(("pages", "size"), [(511, "2MiB"), (512, "4MiB")])
def test_cluster_boundary(run_cli, tmp_path: Path, pages: int, size: str) -> None:
    """511 pages + the header fill one 512-slot cluster exactly; one more page needs a second."""
    trace = write(tmp_path / "z.trace", [("out", v, "zero") for v in range(pages)])
    r = run_cli("advise", trace, "--headroom", "0")
    assert r.exit_code == 0, r.output
    assert printed_command(r.stdout)[4] == size


@pytest.mark.skipif(os.sysconf("SC_PAGE_SIZE") == 8192, reason="needs a page size other than 8 KiB")
def test_other_page_size_adds_pagesize(run_cli, tmp_path: Path) -> None:
    trace = synth(tmp_path / "s8.gstrace", peak=300, pattern="steady", page_size=8192, events=800)
    target = tmp_path / "g8.swap"
    r = run_cli("advise", trace, "--output-file", target)
    assert r.exit_code == 0, r.output
    argv = printed_command(r.stdout)
    # 300 * 1.25 = 375 + 1 = 376 slots -> one cluster of 512 slots of 8 KiB = 4 MiB
    assert argv == ["ghostswap", "mkswap", "--ghost", "--size", "4MiB", "--pagesize", "8192", str(target)]
    assert run_cli(*argv[1:]).exit_code == 0
    found = find_swap_header(target.read_bytes())
    assert found is not None and found.page_size == 8192 and found.header.declared_bytes == 4 << 20
