"""Start-up stays lean: the commands people run to look (``--help``, ``cat /proc/swaps``,
``swapshow``, ``swapon --show``) do not import the heavy libraries. Structural, not timed: the
command runs in a fresh interpreter, which then lists the modules it holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ghostswap_cli.cli import cli

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("rich", "numpy", "construct", "lz4", "zstandard", "lzo", "matplotlib")
CHILD = r"""
import json, sys
from ghostswap_cli.cli import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
sys.stdout.flush()
with open(sys.argv[1], "w") as f:
    json.dump(sorted(sys.modules), f)
"""


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("startup")
    state = tmp / "state"
    for args in (["kernel", "init"], ["mkswap", "--file", "--size", "4M", "--label", "s", str(tmp / "a.swap")],
                 ["swapon", str(tmp / "a.swap")],
                 ["mkswap", "--file", "--ghost", "--size", "1G", str(tmp / "g.swap")],
                 ["swapon", str(tmp / "g.swap")]):
        r = CliRunner().invoke(cli, ["--state", str(state), *args])
        assert r.exit_code == 0, r.output
    return state


def modules_after(state: Path, tmp: Path, *args: str) -> tuple[set[str], str]:
    out = tmp / "modules.json"
    env = dict(os.environ, GHOSTSWAP_STATE=str(state), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", CHILD, str(out), *args], env=env, cwd=tmp,
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    return set(json.loads(out.read_text())), p.stdout


def top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("args", [["--help"], ["cat", "/proc/swaps"], ["swapshow"],
                                  ["swapon", "--show"], ["swapshow", "--proc"]])
def test_no_heavy_imports(state: Path, tmp_path: Path, args: list[str]) -> None:
    modules, out = modules_after(state, tmp_path, *args)
    assert out  # the command did its work
    assert not top(modules) & set(HEAVY), sorted(top(modules) & set(HEAVY))


def test_help_opens_no_state(state: Path, tmp_path: Path) -> None:
    modules, _ = modules_after(state, tmp_path, "--help")
    assert "sqlite3" not in modules
    # and no subcommand's module: the table of commands is written without importing them
    assert not {m for m in modules if m.startswith("ghostswap_cli.")} - {
        "ghostswap_cli.cli", "ghostswap_cli.cli.app", "ghostswap_cli.cli.terminal",
        "ghostswap_cli.errors", "ghostswap_cli.fsnames"}


def test_proc_swaps_reads_only_the_swap_table(state: Path, tmp_path: Path) -> None:
    """/proc/swaps needs the swap_info rows: not the page table, the slot maps, zswap or the
    consistency checks."""
    modules, out = modules_after(state, tmp_path, "cat", "/proc/swaps")
    assert out.startswith("Filename") and "a.swap" in out
    for m in ("ghostswap_cli.kernel.mm", "ghostswap_cli.kernel.zswap", "ghostswap_cli.kernel.check",
              "ghostswap_cli.kernel.arena", "ghostswap_cli.kernel.compressors",
              "ghostswap_cli.codec.swap_header"):
        assert m not in modules, m


@pytest.mark.parametrize("args", [["swapshow"], ["swapon", "--show"], ["swapshow", "--summary"]])
def test_listings_skip_swapons_machinery(state: Path, tmp_path: Path, args: list[str]) -> None:
    """The listings read /proc/swaps and probe each path for LABEL and UUID: swapshow does not
    build swapon's option and device classes (userspace.swapon) nor load mkswap's command
    module, and no listing loads the mkswap tool."""
    modules, out = modules_after(state, tmp_path, *args)
    assert "a.swap" in out
    skipped = ["ghostswap_cli.userspace.mkswap"]
    if args != ["swapon", "--show"]:
        # the mounts, partition and file-system probers of userspace.common: swapon's command
        # module imports them, the listings themselves need only the swap prober
        skipped += ["ghostswap_cli.userspace.common"]
    if args[0] == "swapshow":
        skipped += ["ghostswap_cli.userspace.swapon", "ghostswap_cli.cli.swapon",
                    "ghostswap_cli.cli.mkswap"]
    for m in skipped:
        assert m not in modules, m
