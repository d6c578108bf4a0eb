"""Machine-readable output wherever it fits (--json, --raw, --noheadings), and colour only where
it belongs: diagnostics on a terminal, NO_COLOR / FORCE_COLOR / --color / --no-color honoured,
results never coloured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ghost_swapfile, real_swapfile

ESC = "\x1b["


@pytest.fixture
def two_areas(tmp_path: Path, run_cli) -> tuple[Path, Path]:
    ghost = ghost_swapfile(tmp_path / "ghost area.swap", label="ghost")
    real = real_swapfile(tmp_path / "real.swap", label="real")
    assert run_cli("swapon", "-p", "10", ghost).exit_code == 0
    assert run_cli("swapon", real).exit_code == 0
    return ghost, real


def test_probe_json(tmp_path: Path, run_cli):
    ghost = ghost_swapfile(tmp_path / "g.swap", size=64 << 20, label="g")
    r = run_cli("probe", "--json", ghost)
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    text = json.dumps(doc)
    assert '"ghost"' in text and str(64 << 20) in text


def test_swapon_show_json_raw_noheadings(two_areas, run_cli):
    ghost, real = two_areas
    doc = json.loads(run_cli("swapon", "--show", "--json").stdout)
    rows = {Path(d["name"]).name: d for d in doc["swapdevices"]}
    assert rows["ghost area.swap"]["type"] == "ghost" and rows["ghost area.swap"]["prio"] == 10
    assert rows["real.swap"]["type"] == "file"
    raw = run_cli("swapon", "--show", "--raw", "--noheadings", "--bytes").stdout.splitlines()
    assert len(raw) == 2
    fields = raw[0].split(" ")
    assert fields[0].endswith("ghost\\x20area.swap") and fields[1] == "ghost"
    assert fields[2] == str((64 << 20) - 4096)
    headed = run_cli("swapon", "--show", "--raw").stdout.splitlines()
    assert headed[0] == "NAME TYPE SIZE USED PRIO" and len(headed) == 3
    assert run_cli("swapshow", "-J").stdout == run_cli("swapon", "--show", "--json").stdout


def test_replay_and_demo_json(tmp_path: Path, two_areas, run_cli):
    trace = tmp_path / "t.trace"
    assert run_cli("trace", "synth", "-o", trace, "--events", "1000", "--working-set", "300"
                   ).exit_code == 0
    r = run_cli("replay", "--json", "--no-progress", trace)
    assert r.exit_code == 0
    report = json.loads(r.stdout)
    assert report["events"] == 1000 and report["corrupt_pages"] == 0
    assert {d["type"] for d in report["devices"]} == {"ghost", "file"}
    r = run_cli("demo", "--json", "--no-progress")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["proc_swaps"].startswith("Filename\t") and "report" in doc


def test_trace_info_and_kernel_show_json(tmp_path: Path, run_cli):
    trace = tmp_path / "t.trace"
    run_cli("trace", "synth", "-o", trace, "--events", "100", "--working-set", "50")
    info = json.loads(run_cli("trace", "info", "--json", trace).stdout)
    assert json.dumps(info).count("100") >= 1
    show = json.loads(run_cli("kernel", "show", "--json").stdout)
    assert show["max_swapfiles"] == 24 and show["machine"]["personality"] == "ghost"
    assert set(show["zswap"]) == {"parameters", "stored_pages", "pool_total_size", "decompress_fail"}


def _run(args: list[str], env: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    return subprocess.run([sys.executable, "-m", "ghostswap_cli", *args], capture_output=True,
                          text=True, env=full, check=False, timeout=120)


@pytest.mark.parametrize(
    "flags,env,coloured",
    [
        ([], {"NO_COLOR": None, "FORCE_COLOR": None}, False),  # not a terminal
        ([], {"NO_COLOR": None, "FORCE_COLOR": "1"}, True),
        ([], {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),  # NO_COLOR wins
        (["--color"], {"NO_COLOR": "1", "FORCE_COLOR": None}, True),  # the flag wins
        (["--no-color"], {"NO_COLOR": None, "FORCE_COLOR": "1"}, False),
    ],
)
def test_colour_of_diagnostics(flags, env, coloured):
    r = _run([*flags, "cat", "/proc/swaps", "/proc/nope"], env)
    assert r.returncode == 1
    assert (ESC in r.stderr) is coloured
    assert "/proc/nope: No such file or directory" in r.stderr
    assert ESC not in r.stdout and r.stdout.startswith("Filename\t")  # results stay plain


def test_dmesg_json_has_util_linux_keys(run_cli):
    import json as _json

    assert run_cli("kernel", "reset").exit_code == 0
    r = run_cli("dmesg", "--json")
    assert r.exit_code == 0, r.stderr
    records = _json.loads(r.stdout)["dmesg"]
    assert records and all(set(rec) == {"pri", "time", "msg"} for rec in records)
    assert any(rec["msg"].startswith("zswap: loaded using pool") for rec in records)
