"""docs/designs.md shows the tables the lab prints today: both are regenerated here, with the
commands the page gives, and compared line for line (the trace's path aside)."""

from __future__ import annotations

import re
from pathlib import Path

from ghostswap_cli.cli.demo import example_trace

DOC = Path(__file__).resolve().parents[2] / "docs" / "designs.md"


def blocks() -> list[tuple[str, list[str]]]:
    """(command, output lines) of each ``$ ghostswap designs`` block of the page."""
    found = []
    for body in re.findall(r"^```\n(\$ ghostswap designs.*?)^```", DOC.read_text(), re.M | re.S):
        lines = body.splitlines()
        n = next(i for i, line in enumerate(lines) if not line.endswith("\\"))
        found.append((" ".join(lines[: n + 1]), lines[n + 1 :]))
    return found


def without_path(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("trace ")]


def test_the_example_table_is_current(run_cli, tmp_path: Path) -> None:
    (command, shown), _, _ = blocks()
    assert command.startswith("$ ghostswap designs ghostswap_cli/data/example.trace --compressor lz4")
    r = run_cli("designs", example_trace(), "--compressor", "lz4")
    assert r.exit_code == 0, r.output
    assert without_path(r.stdout.splitlines()) == without_path(shown)
    assert (DOC.parent / "designs-example.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_stall_table_is_current(run_cli, tmp_path: Path) -> None:
    _, (command, shown), _ = blocks()
    trace = tmp_path / "sawtooth.gstrace"
    r = run_cli("trace", "synth", "-o", trace, "--format", "binary", "--events", "3000",
                "--working-set", "800", "--peak", "600", "--pattern", "sawtooth", "--seed", "11")
    assert r.exit_code == 0, r.output
    args = command.replace("\\", " ").split()[3:]
    assert args[1:] == ["--compressor", "lz4", "--ghost-size", "8M", "--real-size", "4M",
                        "--pool-limit", "160K", "--param", "ghost-rfc.real_behind=1"]
    r = run_cli("designs", trace, *args[1:])
    assert r.exit_code == 0, r.output
    assert without_path(r.stdout.splitlines()) == without_path(shown)


def test_the_memory_limit_table_is_current(run_cli, tmp_path: Path) -> None:
    *_, (command, shown) = blocks()
    assert command == ("$ ghostswap designs zipf.gstrace --memory-max 2M --compressor lz4 "
                       "--plot docs/designs-pressure.png")
    trace = tmp_path / "zipf.gstrace"
    r = run_cli("trace", "synth", "-o", trace, "--format", "binary", "--workload", "zipf",
                "--events", "20000", "--working-set", "2000", "--seed", "1")
    assert r.exit_code == 0, r.output
    r = run_cli("designs", trace, "--memory-max", "2M", "--compressor", "lz4")
    assert r.exit_code == 0, r.output
    assert without_path(r.stdout.splitlines()) == without_path(shown)
    assert (DOC.parent / "designs-pressure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
