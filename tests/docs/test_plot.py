"""ghostswap plot and replay --plot: a real PNG from a real replay timeline, and a clear message
naming the extra when matplotlib is missing."""

from __future__ import annotations

import csv
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ghost_swapfile, machine, real_swapfile, set_param, swapon

from ghostswap_cli.replay.plot import PLOT_EXTRA_HINT, PlotError, plot_timeline, read_timeline
from ghostswap_cli.replay.trace_replay import TIMELINE_COLUMNS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data[-8:-4] == b"IEND"
    return width, height


@pytest.fixture
def timeline(tmp_path: Path, state_dir: Path, run_cli) -> Path:
    """A replay with writeback and ghost write failures, its timeline every 100 events."""
    machine(state_dir, ram=str(128 << 20))
    set_param(state_dir, "/sys/module/zswap/parameters/max_pool_percent", "1")
    ghost = ghost_swapfile(tmp_path / "ghost.swap", size=4 << 20)
    real = real_swapfile(tmp_path / "real.swap", size=16 << 20)
    swapon(state_dir, ghost, prio=10)
    swapon(state_dir, real, prio=5)
    trace = tmp_path / "app.trace"
    r = run_cli("trace", "synth", "-o", trace, "--events", "6000", "--working-set", "2400",
                "--peak", "1600", "--seed", "5")
    assert r.exit_code == 0, r.output
    csv_path = tmp_path / "app.csv"
    r = run_cli("replay", "--no-progress", "--timeline", csv_path, "--timeline-every", "100",
                trace)
    assert r.exit_code == 0, r.output
    return csv_path


def test_the_timeline_has_the_columns_the_plot_reads(timeline: Path):
    cols = read_timeline(timeline)
    assert tuple(cols) == TIMELINE_COLUMNS
    assert len(cols["event"]) == 60 and cols["event"][-1] == 6000
    assert max(cols["written_back_pages"]) > 0 and max(cols["stayed_resident"]) > 0
    assert max(cols["pool_total_size"]) > 0


def test_plot_command_writes_a_png(timeline: Path, tmp_path: Path, run_cli):
    pytest.importorskip("matplotlib")
    png = tmp_path / "out.png"
    r = run_cli("plot", timeline, "-o", png, "--title", "a test plot")
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert png_size(png) == (900, 950)
    assert 20_000 < png.stat().st_size < 2_000_000  # four panels of lines, not an empty canvas
    assert not list(tmp_path.glob(".*.tmp"))


def test_default_output_is_beside_the_csv(timeline: Path, run_cli):
    pytest.importorskip("matplotlib")
    r = run_cli("plot", timeline)
    assert r.exit_code == 0, r.output
    assert png_size(timeline.with_suffix(".png")) == (900, 950)


def test_replay_plot_writes_csv_and_png(tmp_path: Path, run_cli):
    pytest.importorskip("matplotlib")
    trace = tmp_path / "t.trace"
    assert run_cli("trace", "synth", "-o", trace, "--events", "2000", "--working-set", "500"
                   ).exit_code == 0
    ghost = ghost_swapfile(tmp_path / "g.swap")
    assert run_cli("swapon", ghost).exit_code == 0
    png = tmp_path / "run.png"
    r = run_cli("replay", "--no-progress", "--plot", png, trace)
    assert r.exit_code == 0, r.output
    assert png_size(png) == (900, 950)
    assert read_timeline(tmp_path / "run.csv")["event"][-1] == 2000


def test_a_two_row_timeline(tmp_path: Path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "two.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TIMELINE_COLUMNS)
        w.writerow((1000, 1 << 20, 300, 2.5, 0, 4, 310, 6))
        w.writerow((2000, 2 << 20, 600, 2.4, 10, 8, 620, 12))
    out = plot_timeline(path, tmp_path / "two.png", title="two rows")
    assert png_size(out) == (900, 950)


@pytest.mark.parametrize(
    "content,message",
    [
        ("a,b\n1,2\n", "not a replay timeline (missing columns event, pool_total_size"),
        (",".join(TIMELINE_COLUMNS) + "\n", "the timeline has no rows"),
        (",".join(TIMELINE_COLUMNS) + "\n1,x,0,0,0,0,0,0\n", ":2: pool_total_size: not a number"),
    ],
)
def test_bad_timelines_are_one_line_errors(tmp_path: Path, run_cli, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    r = run_cli("plot", path, "-o", tmp_path / "bad.png")
    assert r.exit_code == 1
    assert message in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "bad.png").exists()


def test_a_missing_timeline(tmp_path: Path, run_cli):
    r = run_cli("plot", tmp_path / "nope.csv")
    assert r.exit_code == 1
    assert r.stderr == f"ghostswap: {tmp_path / 'nope.csv'}: No such file or directory\n"


def test_the_png_may_not_replace_the_csv(tmp_path: Path, run_cli):
    path = tmp_path / "t.png"
    path.write_text(",".join(TIMELINE_COLUMNS) + "\n")
    r = run_cli("plot", path)
    assert r.exit_code == 1 and "would replace the timeline" in r.stderr


def _without_matplotlib(*args: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # any import of it now fails\n"
        "from ghostswap_cli.cli import main\n"
        f"main({list(args)!r})\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)


def test_plot_without_matplotlib_names_the_extra(timeline: Path, tmp_path: Path):
    png = tmp_path / "none.png"
    r = _without_matplotlib("plot", str(timeline), "-o", str(png))
    assert r.returncode == 1
    assert r.stderr == f"ghostswap: plotting needs matplotlib: {PLOT_EXTRA_HINT}\n"
    assert "pip install 'ghostswap[plot]'" in r.stderr
    assert not png.exists()


def test_replay_plot_without_matplotlib_names_the_extra(tmp_path: Path):
    trace = tmp_path / "t.trace"
    trace.write_text("ghostswap-trace 1\nout 1 zero\n")
    r = _without_matplotlib("replay", "--plot", str(tmp_path / "x.png"), str(trace))
    assert r.returncode == 1
    assert "pip install 'ghostswap[plot]'" in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_plot_timeline_raises_a_ghostswap_error(monkeypatch, timeline: Path, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotError, match=r"pip install 'ghostswap\[plot\]'"):
        plot_timeline(timeline, tmp_path / "x.png")
