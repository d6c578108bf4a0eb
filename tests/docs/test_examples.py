"""Run every examples/*.sh as a user would (bash, `ghostswap` on PATH) and check its output for
the facts it demonstrates. Each script cleans up after itself: its temporary directory (under
our TMPDIR) is gone afterwards, and the default state directory is never touched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ghostswap_cli.cli import cli

from .mantools import ROOT, root_context

EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.sh") if p.name != "lib.sh")
LIB = EXAMPLES / "lib.sh"  # sourced by every script
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")

EXPECTED = {"basic-session.sh", "ghost-only-zswap.sh", "ghost-plus-real-writeback.sh",
            "capture-and-replay.sh", "compare-compressors.sh", "linux-6.1.sh",
            "size-for-a-workload.sh", "record-and-replay.sh", "sweep-grid.sh",
            "ghost-before-real-stall.sh"}


def needs(script: Path) -> list[str]:
    m = re.search(r"^# needs: (.+)$", script.read_text(), re.M)
    assert m, f"{script.name} has no '# needs:' line"
    return m.group(1).split()


def missing_commands(script: Path) -> list[str]:
    ctx = root_context()
    return [name for name in needs(script) if cli.get_command(ctx, name) is None]


def blocks(output: str) -> list[tuple[str, str]]:
    """Split a script's output into (command, its output) at each echoed `$ ghostswap ...`."""
    parts = re.split(r"^\$ ghostswap (.*)$", output, flags=re.M)
    result = []
    for i in range(1, len(parts), 2):
        text = parts[i + 1].removeprefix("\n").rstrip("\n")  # the blank line before the next
        result.append((parts[i].strip(), text + "\n" if text else ""))
    return result


def outputs_of(output: str, command: str) -> list[str]:
    return [out for cmd, out in blocks(output) if cmd == command]


def proc_swaps_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0] == "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"
    return [line.split() for line in lines[1:]]


def report_value(report: str, label: str) -> str:
    m = re.search(rf"^{label}\s+(.*)$", report, re.M)
    assert m, f"no '{label}' line in the report"
    return m.group(1)


def first_int(text: str) -> int:
    return int(re.match(r"(\d+)", text).group(1))


def rejected(report: str) -> dict[str, int]:
    line = report_value(report, "rejected")
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", line)}


def vmstat(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in text.splitlines() if line.strip())}


@pytest.fixture
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `ghostswap` on PATH that runs this checkout with this interpreter."""
    bin_dir = tmp_path_factory.mktemp("bin")
    exe = bin_dir / "ghostswap"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ghostswap_cli "$@"\n')
    exe.chmod(0o755)
    return bin_dir


@pytest.fixture
def run_example(shim: Path, tmp_path: Path, isolated_env: Path):
    def run(name: str) -> str:
        script = EXAMPLES / name
        missing = missing_commands(script)
        if missing:
            pytest.skip(f"{name}: needs {', '.join(missing)}, not built yet")
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        env = dict(os.environ)
        env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
        env["TMPDIR"] = str(tmp)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=600, check=False)
        assert r.returncode == 0, f"{name} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        assert r.stderr == "", r.stderr
        assert list(tmp.iterdir()) == [], f"{name} left files behind"
        assert not isolated_env.exists(), f"{name} used the default state directory"
        return r.stdout

    return run


def test_every_script_is_tested_and_runnable():
    assert {s.name for s in SCRIPTS} == EXPECTED
    lib = LIB.read_text()
    assert "set -euo pipefail" in lib
    assert 'export GHOSTSWAP_STATE="$work/state"' in lib and "trap " in lib
    assert "python3 -m ghostswap_cli" in lib  # the fallback without `ghostswap` on PATH
    for script in SCRIPTS:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n")
        assert '. "$(dirname "$0")/lib.sh"' in text
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr


def test_scripts_are_in_the_examples_readme():
    readme = (EXAMPLES / "README.md").read_text()
    for script in [*SCRIPTS, LIB]:
        assert f"`{script.name}`" in readme


def test_basic_session(run_example):
    out = run_example("basic-session.sh")
    probe = outputs_of(out, "probe ghost.swap")[0]
    assert 'KIND="ghost"' in probe and 'LABEL="ghost"' in probe
    assert "extents:0 across:0k SS" in outputs_of(out, "dmesg --notime")[0]

    swaps = outputs_of(out, "cat /proc/swaps")
    assert len(swaps) == 3
    both, ghost_only, none = (proc_swaps_rows(s) for s in swaps)
    assert [(Path(r[0]).name, r[1], r[2], r[3], r[4]) for r in both] == [
        ("real.swap", "file", "16380", "0", "-2"),
        ("ghost.swap", "ghost", "65532", "0", "10"),
    ]
    assert [(Path(r[0]).name, r[1], r[4]) for r in ghost_only] == [("ghost.swap", "ghost", "10")]
    assert none == []

    show = outputs_of(out, "swapon --show")
    assert show[0].splitlines()[0].split() == ["NAME", "TYPE", "SIZE", "USED", "PRIO"]
    rows = [line.split() for line in show[0].splitlines()[1:] if line.strip()]
    assert [(Path(r[0]).name, r[1], r[2], r[4]) for r in rows] == [
        ("real.swap", "file", "16M", "-2"), ("ghost.swap", "ghost", "64M", "10")]
    assert show[1].strip() == ""  # nothing active, nothing printed
    labelled = outputs_of(out, "swapon --show=NAME,TYPE,SIZE,PRIO,LABEL --bytes")[0]
    assert re.search(r"ghost\.swap\s+ghost\s+67104768\s+10\s+ghost$", labelled, re.M)
    # the legacy summary is /proc/swaps re-rendered
    assert outputs_of(out, "swapon -s")[0] == swaps[0]


def test_ghost_only_zswap(run_example):
    out = run_example("ghost-only-zswap.sh")
    (row,) = proc_swaps_rows(outputs_of(out, "cat /proc/swaps")[0])
    assert row[1] == "ghost"
    report = outputs_of(out, next(c for c, _ in blocks(out) if c.startswith("replay")))[0]
    assert report_value(report, "written back") == "0 pages"
    assert report_value(report, "corrupt pages") == "0"
    rej = rejected(report)
    assert rej.get("compress_poor", 0) > 0 and rej.get("pool_limit", 0) > 0
    # every page zswap rejected stayed resident: there is nothing to write it to
    assert first_int(report_value(report, "stayed resident")) == sum(rej.values())
    assert outputs_of(out, "cat /sys/kernel/debug/zswap/written_back_pages")[0].strip() == "0"
    assert int(outputs_of(out, "cat /sys/kernel/debug/zswap/pool_limit_hit")[0]) > 0
    vm = vmstat(outputs_of(out, "cat /proc/vmstat")[0])
    assert vm["pswpout"] == vm["pswpin"] == vm["zswpwb"] == 0 and vm["zswpout"] > 0
    meminfo = outputs_of(out, "cat /proc/meminfo")[0]
    assert int(re.search(r"^SwapCached:\s+(\d+) kB", meminfo, re.M).group(1)) > 0


def test_ghost_plus_real_writeback(run_example):
    out = run_example("ghost-plus-real-writeback.sh")
    before = proc_swaps_rows(outputs_of(out, "cat /proc/swaps")[0])
    assert [(Path(r[0]).name, r[1], r[4]) for r in before] == [
        ("ghost.swap", "ghost", "10"), ("real.swap", "file", "5")]
    report = outputs_of(out, next(c for c, _ in blocks(out) if c.startswith("replay")))[0]
    written_back = first_int(report_value(report, "written back"))
    assert written_back > 0
    assert report_value(report, "corrupt pages") == "0"
    assert int(outputs_of(out, "cat /sys/kernel/debug/zswap/written_back_pages")[0]) == written_back
    # writeback to the ghost is refused, entry by entry
    assert int(outputs_of(out, "cat /sys/kernel/debug/zswap/reject_reclaim_fail")[0]) > 0
    after_replay, after_swapoff = (vmstat(v) for v in outputs_of(out, "cat /proc/vmstat"))
    assert after_replay["zswpwb"] == written_back
    assert after_replay["pswpout"] >= written_back and after_replay["pswpin"] > 0
    # the real file was in use, then swapoff read every page on it back
    during = proc_swaps_rows(outputs_of(out, "cat /proc/swaps")[1])
    assert int(during[1][3]) > 0
    (left,) = proc_swaps_rows(outputs_of(out, "cat /proc/swaps")[2])
    assert left[1] == "ghost"
    assert after_swapoff["pswpin"] == after_swapoff["pswpout"] == after_replay["pswpout"]


def test_ghost_before_real_stall(run_example):
    from ghostswap_cli.kernel.swapfile import GHOST_BEFORE_REAL

    out = run_example("ghost-before-real-stall.sh")
    (warning,) = outputs_of(out, "dmesg --level warn --notime")[0].splitlines()
    ghost, real = warning.split()[2], warning.split()[8]
    assert (Path(ghost).name, Path(real).name) == ("ghost.swap", "real.swap")
    assert warning == GHOST_BEFORE_REAL.format(ghost=ghost, gprio=10, real=real, rprio=-2)
    report = outputs_of(out, "replay app.gstrace")[0]
    assert report_value(report, "written back") == "0 pages"
    assert first_int(report_value(report, "stayed resident")) > 0
    assert outputs_of(out, "cat /sys/kernel/debug/zswap/written_back_pages")[0].strip() == "0"
    assert int(outputs_of(out, "cat /sys/kernel/debug/zswap/reject_reclaim_fail")[0]) > 0
    rows = proc_swaps_rows(outputs_of(out, "cat /proc/swaps")[0])
    assert [(Path(r[0]).name, r[1]) for r in rows] == [("ghost.swap", "ghost"), ("real.swap", "file")]
    assert int(rows[0][3]) > 0 and rows[1][3] == "0"  # nothing reached the real file
    table = next(o for c, o in blocks(out) if c.startswith("designs"))
    row = {line[:40].strip(): line[40:].split() for line in table.splitlines()[7:]}
    assert row["pages written back"] == ["0", "939"]  # 797 on the compacted pool: swap-ins leave holes (6.12+ page-level zsmalloc)
    assert row["pages kept resident"][0] == str(first_int(report_value(report, "stayed resident")))
    assert int(row["shrinker runs stalled on ghost slots"][0]) > 0


def _ptrace_scope() -> int:
    try:
        return int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except (OSError, ValueError):
        return 0


@pytest.mark.skipif(_ptrace_scope() >= 2 and os.geteuid() != 0,
                    reason="kernel.yama.ptrace_scope forbids reading a child's memory")
def test_capture_and_replay(run_example):
    out = run_example("capture-and-replay.sh")
    pid = int(re.search(r"^background process: pid (\d+)$", out, re.M).group(1))
    capture = outputs_of(out, f"trace capture --pid {pid} -o app.gstrace --max-pages 8192")[0]
    pages = int(re.search(r"app\.gstrace: (\d+) pages", capture).group(1))
    assert pages > 1024  # 8 MiB of data were held
    info = outputs_of(out, "trace info app.gstrace")[0]
    assert "binary (captured from a live process)" in info
    assert re.search(rf"^events:\s+{2 * pages} \(out {pages}, in {pages}, free 0\)", info, re.M)
    report = outputs_of(out, "replay app.gstrace")[0]
    assert report_value(report, "corrupt pages") == "0"
    assert first_int(report_value(report, "zero pages")) > 0  # the 2 MiB of zeros
    assert rejected(report).get("compress_poor", 0) > 0  # the random bytes
    assert out.rstrip().endswith("background process stopped")
    cmdline = Path(f"/proc/{pid}/cmdline")
    assert not cmdline.exists() or b"ready" not in cmdline.read_bytes()


def test_compare_compressors(run_example):
    out = run_example("compare-compressors.sh")
    table = out[out.index("compressor   ratio"):].splitlines()
    rows = {r[0]: r for r in (line.split() for line in table[1:] if line.strip())}
    assert list(rows) == ["lz4", "lz4hc", "zstd", "deflate"]
    ratio = {c: float(r[1]) for c, r in rows.items()}
    peak = {c: int(r[4]) for c, r in rows.items()}
    assert all(r[6] == "0" for r in rows.values())  # no corrupt page with any compressor
    assert all(v > 1.5 for v in ratio.values())
    assert ratio["zstd"] > ratio["lz4"] and ratio["deflate"] > ratio["lz4"]
    assert ratio["lz4hc"] >= ratio["lz4"]
    assert peak["zstd"] < peak["lz4"]
    # the same pages reach zswap whatever compresses them
    assert len({r[2] for r in rows.values()}) == 1


def test_linux_6_1(run_example):
    out = run_example("linux-6.1.sh")
    log = outputs_of(out, "dmesg --notime")[0]
    assert "zswap: loaded using pool" in log and "/zbud" in log
    assert re.search(r"Adding 16380k swap on \S+/swap61\.  Priority:-2 extents:\d+ across:\d+k FS$",
                     log, re.M), log
    assert outputs_of(out, "cat /sys/module/zswap/parameters/enabled "
                           "/sys/module/zswap/parameters/zpool")[0] == "N\nzbud\n"
    stored, same, pool = outputs_of(out, "cat /sys/kernel/debug/zswap/stored_pages "
                                         "/sys/kernel/debug/zswap/same_filled_pages "
                                         "/sys/kernel/debug/zswap/pool_total_size")[0].split()
    assert (int(stored), int(same)) == (400, 200) and 0 < int(pool) < 200 * 4096


def test_size_for_a_workload(run_example):
    out = run_example("size-for-a-workload.sh")
    info = outputs_of(out, "trace info service.gst")[0]
    assert "accesses:       20000" in info and "reuse distance:" in info
    rep = outputs_of(out, "replay --memory-max 4M service.gst")[0]
    assert report_value(rep, "limits").startswith("memory.max 4 MiB")
    assert first_int(report_value(rep, "swap-outs")) > 0 and first_int(report_value(rep, "refaults")) > 0
    assert report_value(rep, "OOM kills") == "0" and report_value(rep, "corrupt pages") == "0"
    stat = vmstat(outputs_of(out, "cat /sys/fs/cgroup/workload/memory.stat")[0])
    assert stat["workingset_refault_anon"] == first_int(report_value(rep, "refaults"))
    advice = outputs_of(out, "advise --memory-max 4M service.gst")[0]
    assert "recommended (peaks + 25% headroom):" in advice
    assert "ghostswap mkswap --ghost --size" in advice
    curve = outputs_of(out, "advise --curve --memory-max 2M:8M:2M service.gst")[0]
    rows = [line.split() for line in curve.splitlines()[2:]]
    assert [r[0] + r[1] for r in rows] == ["2MiB", "4MiB", "6MiB", "8MiB"]
    # at 2 MiB the charged zswap pool alone fills the limit: OOM; above, refaults fall
    assert rows[0][-1] == "yes" and all(r[-1] == "no" for r in rows[1:])
    refaults = [float(r[2]) for r in rows[1:]]
    assert refaults == sorted(refaults, reverse=True) and refaults[-1] < refaults[0] / 10


def test_record_and_replay(run_example):
    out = run_example("record-and-replay.sh")
    if out.startswith("skipped: ") or "\nskipped: " in out:
        pytest.skip(out[out.index("skipped: "):].splitlines()[0])  # the machine forbids recording
    record = outputs_of(out, "trace record -o walk.trace --interval 50ms -- python3 walk.py")[0]
    assert re.search(r"walk\.trace: \d+ samples over [\d.]+ s, \d+ reads, \d+ writes", record)
    assert "recording with source " in out  # the source is named
    info = outputs_of(out, "trace info walk.trace")[0]
    assert re.search(r"^accesses:\s+\d+", info, re.M)
    small = outputs_of(out, "replay walk.trace --memory-max 16M --no-progress")[0]
    large = outputs_of(out, "replay walk.trace --memory-max 32M --no-progress")[0]
    for report in (small, large):
        assert report_value(report, "corrupt pages") == "0"
    table = {line[:24].strip(): line[24:].split() for line in out.splitlines()
             if line.startswith(("swap-outs ", "refaults "))}
    o16, o32, odiff = (int(x) for x in table["swap-outs"])
    assert o16 > o32 and odiff == o16 - o32  # the program touches ~43 MiB: less memory, more out
    s16, s32, diff = (int(x) for x in table["refaults"])
    # refaults can tie: with 3 or 4 samples (a loaded machine) every page touched again may have
    # been reclaimed under both limits
    assert s16 >= s32 and diff == s16 - s32
    assert re.search(r"with 16 MiB less memory the program refaults \d+ more pages", out)


def test_sweep_grid(run_example):
    out = run_example("sweep-grid.sh")
    first = outputs_of(out, "sweep grid.toml --jobs 2")[0]
    assert "16 points, process pool of 2 workers" in first and "16 ok, 0 failed" in first
    assert "16 already done: nothing to run" in outputs_of(out, "sweep grid.toml --resume")[0]
    try:
        import distributed  # noqa: F401
    except ImportError:
        assert "Dask is not installed" in out
    else:
        dask = outputs_of(out, "sweep grid.toml --engine dask --jobs 2 -o dask.jsonl")[0]
        assert "Dask, a LocalCluster, 2 workers" in dask and "16 ok, 0 failed" in dask
        assert "16 of 16 rows identical on the process pool and on Dask" in out
    plot = [o for c, o in blocks(out) if c.startswith("sweep plot")][0]
    assert "rejected.pool_limit against max_pool_percent, 4 lines" in plot
    table = out[out.index("trace,compressor,max_pool_percent"):].splitlines()
    rows = [r.split(",") for r in table[1:17]]
    assert len(rows) == 16
    rejected = {(r[0], r[1], int(r[2])): int(r[4]) for r in rows}
    for trace in ("skewed", "flat"):
        for c in ("lz4", "zstd"):
            # a bigger pool turns fewer pages away, down to none
            series = [rejected[trace, c, p] for p in (1, 2, 3, 4)]
            assert series == sorted(series, reverse=True) and series[0] > 0 and series[-1] == 0
        assert rejected[trace, "zstd", 1] < rejected[trace, "lz4", 1]  # zstd packs tighter
    # the README's plot was drawn from these very rows (docs/sweep-grid.jsonl)
    import json

    docs = [json.loads(line) for line in (ROOT / "docs" / "sweep-grid.jsonl").read_text().splitlines()]
    assert {(r["trace"], r["compressor"], r["max_pool_percent"]): r["rejected.pool_limit"]
            for r in docs} == rejected
    readme = (ROOT / "README.md").read_text()
    assert "](docs/sweep-pool-limit.png)" in readme
    assert ("ghostswap sweep plot docs/sweep-grid.jsonl -o\ndocs/sweep-pool-limit.png -x "
            "max_pool_percent -y rejected.pool_limit") in readme
