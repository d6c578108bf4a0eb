"""``ghostswap trace``: the four subcommands through the real CLI, the man page, the examples."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from ghostswap_cli.cli import cli
from ghostswap_cli.codec.trace import open_trace, summarize

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "man" / "ghostswap-trace.1"
EXAMPLES = ROOT / "examples" / "traces"


def test_synth_text_and_json(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "t.trace"
    r = run_cli("trace", "synth", "-o", out, "--events", "2000", "--working-set", "300", "--peak", "200",
                "--pattern", "ramp", "--seed", "5", "--free-rate", "0.1")
    assert r.exit_code == 0, r.output
    assert re.fullmatch(rf"{re.escape(str(out))}: 2000 events \(out \d+, in \d+, free \d+\), peak 200 pages "
                        r"swapped out, first at event \d+\n", r.stdout)
    assert r.stderr == ""
    assert out.read_text().startswith("ghostswap-trace 1\n# synthetic trace: ghostswap trace synth --events 2000")
    j = tmp_path / "j.gstrace"
    r = run_cli("trace", "synth", "-o", j, "--format", "binary", "--events", "2000", "--working-set", "300",
                "--peak", "200", "--pattern", "ramp", "--seed", "5", "--free-rate", "0.1", "--json",
                "--no-progress", "--vpn-base", "0x1000", "--page-size", "8192", "--skew", "0.5",
                "--mix", "zero=1,text=1")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["peak_swapped"] == 200 and res["format"] == "binary" and set(res["kinds"]) == {"zero", "text"}
    with open_trace(j) as rd:
        assert rd.page_size == 8192
        s = summarize(rd)
    assert s.peak_swapped == 200 and s.ops == res["ops"]
    assert min(vpn for _, vpn, _ in open_trace(j)) >= 0x1000


def test_synth_is_reproducible_through_the_cli(run_cli, tmp_path: Path) -> None:
    args = ["--events", "500", "--working-set", "50", "--seed", "9", "--pattern", "sawtooth"]
    run_cli("trace", "synth", "-o", tmp_path / "a", *args)
    run_cli("trace", "synth", "-o", tmp_path / "b", *args)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_synth_warns_about_files_outside(run_cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "d.bin").write_bytes(bytes(range(256)) * 32)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "f.trace"
    r = run_cli("trace", "synth", "-o", out, "--events", "50", "--working-set", "20",
                "--mix", "file=1", "--files-from", src)
    assert r.exit_code == 0, r.output
    assert r.stderr == (f"ghostswap: file pages come from {src}, outside the trace's folder: "
                        f"read the trace with --allow-dir {src}\n")
    r = run_cli("trace", "info", out)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"ghostswap: {out}:line 4: refusing to read ../src/d.bin: outside the "
                               "allowed directories (use --allow-dir)")
    r = run_cli("trace", "info", "--allow-dir", src, out)
    assert r.exit_code == 0, r.output
    assert re.search(r"^contents:       file \d+$", r.stdout, re.M)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mix", "zero=x"], "Invalid value for --mix: bad mix weight 'x' for zero"),
        (["--mix", "file=1"], "Error: file pages in the mix need a folder of files (--files-from DIR)"),
        (["--peak", "11"], "Error: the peak must be between 1 and the working set (10 pages)"),
        (["--vpn-base", "zz"], "'zz' is not a decimal or 0x-hex number"),
        (["--pattern", "zigzag"], "Invalid value for '--pattern'"),
        (["--free-rate", "1"], "Invalid value for '--free-rate'"),
    ],
)
def test_synth_usage_errors(run_cli, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "x.trace"
    r = run_cli("trace", "synth", "-o", out, "--events", "10", "--working-set", "10", *args)
    assert r.exit_code == 2
    assert message in r.stderr
    assert not out.exists()


def test_synth_cannot_write(run_cli, tmp_path: Path) -> None:
    r = run_cli("trace", "synth", "-o", tmp_path / "no" / "x.trace", "--events", "1", "--working-set", "1")
    assert r.exit_code == 1
    assert r.stderr == f"ghostswap: {tmp_path / 'no' / 'x.trace'}: No such file or directory\n"


def test_convert_flips_the_format(run_cli, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    src = tmp_path / "ex" / "hello.trace"
    r = run_cli("trace", "convert", src, tmp_path / "h.gstrace")
    assert r.exit_code == 0, r.output
    assert r.stdout == f"{tmp_path / 'h.gstrace'}: 12 events, binary format\n"
    r = run_cli("trace", "convert", "--no-progress", tmp_path / "h.gstrace", tmp_path / "h2.trace")
    assert r.stdout == f"{tmp_path / 'h2.trace'}: 12 events, text format\n"
    text = (tmp_path / "h2.trace").read_text()
    assert "out 0x7f0000005 hex:" in text  # the file page, now carried as bytes
    assert "out 0x7f0000002 fill:0x00000000deadbeef\n" in text and "out 0x7f0000003 text:1\n" in text
    assert list(open_trace(src)) == list(open_trace(tmp_path / "h2.trace"))
    r = run_cli("trace", "convert", "--format", "text", src, tmp_path / "h3.trace")
    assert "out 0x7f0000005 file:ex/pages.bin:0\n" in (tmp_path / "h3.trace").read_text()
    assert list(open_trace(tmp_path / "h3.trace")) == list(open_trace(src))


def test_convert_of_a_bad_trace_leaves_the_output_alone(run_cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.trace"
    bad.write_text("ghostswap-trace 1\nout 1 zero\nout 2 what\n")
    out = tmp_path / "out.gstrace"
    out.write_bytes(b"precious")
    r = run_cli("trace", "convert", bad, out)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == f"ghostswap: {bad}:line 3: bad content 'what': expected zero, fill:0xHH, " \
                       "random:SEED, text:SEED, file:PATH:OFFSET or hex:BYTES\n"
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.trace", "out.gstrace"]


def test_info_whole_output(run_cli) -> None:
    r = run_cli("trace", "info", EXAMPLES / "hello.trace")
    assert r.exit_code == 0, r.output
    assert r.stdout == f"""\
trace:          {EXAMPLES / 'hello.trace'}
format:         text
page size:      4096
events:         12 (out 9, in 2, free 1)
unique pages:   8
contents:       raw 1, zero 1, fill 2, random 1, text 2, file 2
peak swapped:   8 pages (32 KiB), first at line 13
swapped at end: 6 pages
swapped out:    36 KiB in all
file size:      {(EXAMPLES / 'hello.trace').stat().st_size} bytes (8.9 KiB)
"""


def test_info_json_and_invalid_events(run_cli, tmp_path: Path) -> None:
    p = tmp_path / "odd.trace"
    p.write_text("ghostswap-trace 1\nout 1 zero\nout 1 zero\nin 2\nfree 3\nin 1\n")
    r = run_cli("trace", "info", "--json", p)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert (d["invalid_out"], d["invalid_in"], d["free_not_swapped"], d["peak_swapped"]) == (1, 1, 1, 1)
    assert d["ops"] == {"out": 2, "in": 2, "free": 1} and d["captured"] is False
    r = run_cli("trace", "info", p)
    assert "invalid:        1 out of a page already out, 1 in of a page not out\n" in r.stdout


def test_info_with_a_progress_bar(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the rich bar is used; it must not change stdout."""
    from ghostswap_cli.cli.terminal import Terminal

    monkeypatch.setattr(Terminal, "is_interactive", lambda self, stream=None: True)
    r = run_cli("trace", "info", EXAMPLES / "churn.trace")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("trace:")


def test_capture_cli(run_cli, tmp_path: Path, child) -> None:
    out = tmp_path / "c.gstrace"
    r = run_cli("trace", "capture", "--pid", child.pid, "-o", out, "--max-pages", "300",
                "--maps-filter", "anon", "--order", "interleave", "--no-progress")
    assert r.exit_code == 0, r.output
    assert re.match(rf"{re.escape(str(out))}: 300 pages \(1\.2 MiB\) of process {child.pid} from \d+ of \d+ "
                    r"mappings, 600 events, peak \d+ pages\npages: \d+ zero, \d+ same-filled, \d+ not "
                    r"present \(skipped\), \d+ unreadable \(skipped\)\nmappings skipped: .*special", r.stdout)
    assert r.stderr == "ghostswap: stopped at --max-pages 300\n"
    r = run_cli("trace", "capture", "--pid", child.pid, "-o", out, "--json", "--maps-filter", "all")
    assert json.loads(r.stdout)["pages"] > 300
    r = run_cli("trace", "info", out)
    assert "format:         binary (captured from a live process)\n" in r.stdout


def test_capture_of_a_missing_process(run_cli, tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    r = run_cli("trace", "capture", "--pid", proc.pid, "-o", tmp_path / "x")
    assert (r.exit_code, r.stderr) == (1, f"ghostswap: no process with PID {proc.pid}\n")


def test_as_a_subprocess(run_ghostswap, tmp_path: Path) -> None:
    p = run_ghostswap("trace", "synth", "-o", tmp_path / "s.trace", "--events", "300", "--working-set", "40",
                      "--state", tmp_path / "state")
    assert p.returncode == 0, p.stderr
    p = run_ghostswap("trace", "info", "--json", tmp_path / "s.trace")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["events"] == 300
    p = run_ghostswap("trace", "info", tmp_path / "missing.trace")
    assert p.returncode == 2 and b"does not exist" in p.stderr


def test_every_example_trace_reads_cleanly() -> None:
    traces = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".trace", ".gstrace"))
    assert len(traces) >= 3
    for t in traces:
        with open_trace(t) as r:
            s = summarize(r)
        assert s.events > 0 and (s.invalid_in, s.invalid_out) == (0, 0), t


def _man_text() -> str:
    text = MAN.read_text()
    return re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-")


def test_man_page_names_every_option() -> None:
    group = cli.get_command(click.Context(cli), "trace")
    assert isinstance(group, click.Group)
    man = _man_text()
    missing = []
    for name, sub in group.commands.items():
        assert re.search(rf"^\.SS {name}$", man, re.M), f"no section for {name}"
        for param in sub.params:
            for opt in getattr(param, "opts", []) + getattr(param, "secondary_opts", []):
                if opt.startswith("-") and not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", man):
                    missing.append(f"{name} {opt}")
    assert missing == []
    assert "--state" in man


def test_man_page_is_warning_free() -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    p = subprocess.run(["groff", "-ww", "-man", "-z", str(MAN)], capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (0, "")
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "TRACE FORMATS", "EXIT STATUS",
                    "FILES", "ENVIRONMENT", "EXAMPLES", "SEE ALSO"):
        assert re.search(rf'^\.SH "?{section}"?$', MAN.read_text(), re.M), section
