"""Every option of every command is in its man page; every page has the util-linux sections,
renders without a warning, and says what its command does (files, report keys, parameters)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import click
import pytest

from ghostswap_cli.cli import COMMANDS, cli

from .mantools import (
    MAN,
    ROOT,
    SECTION_8,
    SECTIONS,
    man_page_for,
    man_text,
    mentions,
    option_strings,
    walk,
)
from .roff_lint import lint

TREE = list(walk())
BUILT = [(path, cmd) for path, cmd in TREE if cmd is not None]
NOT_BUILT = [path for path, cmd in TREE if cmd is None]
PAGES = sorted(MAN.glob("ghostswap*.[18]"))
MY_PAGES = ("ghostswap.1", "ghostswap-kernel.1", "ghostswap-cat.1", "ghostswap-write.1",
            "ghostswap-dmesg.1", "ghostswap-replay.1", "ghostswap-demo.1", "ghostswap-plot.1",
            "ghostswap-completion.1", "ghostswap-help.1")


def label(path: tuple[str, ...]) -> str:
    return " ".join(("ghostswap", *path))


def test_the_tree_is_walked():
    names = {path for path, _ in BUILT}
    assert {(), ("mkswap",), ("kernel",), ("kernel", "init"), ("trace", "synth"), ("replay",),
            ("plot",), ("completion",), ("help",)} <= names
    # a command listed in COMMANDS but not built yet has no options to check; say which
    print("listed but not built yet:", ", ".join(label(p) for p in NOT_BUILT) or "none")


@pytest.mark.parametrize("path,cmd", BUILT, ids=[label(p) for p, _ in BUILT])
def test_every_option_is_in_the_man_page(path, cmd):
    page = man_page_for(path)
    assert page.exists(), f"{label(path)}: its man page {page.name} is missing"
    text = man_text(page)
    options = option_strings(cmd)
    assert "--state" in options, f"{label(path)} does not take --state"
    missing = sorted(o for o in options if not mentions(text, o))
    assert missing == [], f"{page.name} does not mention {missing} of {label(path)}"


@pytest.mark.parametrize("path,cmd", BUILT, ids=[label(p) for p, _ in BUILT])
def test_help_and_help_command_list_the_same_options(run_cli, path, cmd):
    direct = run_cli(*path, "--help")
    via_help = run_cli("help", *path)
    assert direct.exit_code == 0, direct.output
    assert via_help.exit_code == 0, via_help.output
    assert via_help.stdout == direct.stdout
    missing = sorted(o for o in option_strings(cmd) if not mentions(direct.stdout, o))
    assert missing == []


def test_subcommands_are_named_in_their_groups_page():
    for path, _cmd in BUILT:
        if len(path) == 2:
            page = man_page_for(path)
            assert f"{path[0]} {path[1]}" in man_text(page), f"{page.name}: no {label(path)}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_sections(page):
    source = page.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert re.search(rf'^\.SH "?{section}"?$', source, re.M), f"{page.name}: no {section}"
    name = page.name.rsplit(".", 1)[0]
    section = page.suffix[1:]
    assert re.search(rf"^\.TH {re.escape(name.upper().replace('-', chr(92) + '-'))} {section} ",
                     source, re.M), f"{page.name}: .TH does not name the page"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_section_matches_the_command_kind(page):
    name = page.name.rsplit(".", 1)[0].removeprefix("ghostswap-")
    expected = "8" if name in SECTION_8 else "1"
    assert page.suffix == "." + expected


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_groff_renders_without_a_warning(page):
    r = subprocess.run(["groff", "-ww", "-man", "-z", str(page)], capture_output=True, text=True,
                       check=False)
    assert (r.returncode, r.stderr) == (0, "")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_roff_lint_is_clean(page):
    # mandoc's warnings, checked in Python (tests/docs/roff_lint.py): runs on every machine
    assert lint(page.read_text(encoding="utf-8"), page.name) == []


_GOOD = """.TH GHOSTSWAP\\-X 1 "2026-11-25" "ghostswap 0.1.0" "User Commands"
.SH NAME
ghostswap\\-x \\- a page
.SH DESCRIPTION
Some text with \\fBbold\\fR and \\(lqquotes\\(rq.
.TP
.B \\-a
An option.
.RS
.nf
literal
.fi
.RE
"""

# one fault each, spliced into _GOOD: (the row it goes after or extends, the row)
_BAD = {
    "blank line": ("Some text", ""),
    "trailing blank": ("An option.", "An option. "),
    "unknown macro": ("An option.", ".XY something"),
    "paragraph after SH": (".SH DESCRIPTION", ".PP"),
    "RE without RS": (".RE", ".RE"),
    "fi without nf": (".fi", ".fi"),
    "bad escape": ("An option.", "a \\q b"),
    "no date": (None, '.TH GHOSTSWAP\\-X 1'),
    "unterminated quote": ("An option.", '.B "open'),
}
# the level mandoc 1.14 reports each at (None: it does not; the lint is stricter there)
_MANDOC_LEVEL = {"blank line": None, "trailing blank": "style", "fi without nf": "style",
                 "unterminated quote": "style"}


def _spliced(after: str | None, line: str) -> str:
    """``_GOOD`` with ``line`` in place of its first row starting with ``after`` when ``line``
    extends that row, else after it; in place of the first row when ``after`` is None."""
    rows = _GOOD.splitlines()
    if after is None:
        rows[0] = line
    else:
        i = next(i for i, r in enumerate(rows) if r.startswith(after))
        if line != after and line.startswith(after):
            rows[i] = line
        else:
            rows.insert(i + 1, line)
    return "\n".join(rows) + "\n"


def test_roff_lint_passes_a_good_page():
    assert lint(_GOOD) == []


@pytest.mark.parametrize("fault", sorted(_BAD))
def test_roff_lint_finds_each_fault(fault):
    assert lint(_spliced(*_BAD[fault])) != []


@pytest.mark.skipif(shutil.which("mandoc") is None, reason="mandoc is not installed (the Python "
                    "lint above runs instead; this only checks that mandoc agrees with it)")
@pytest.mark.parametrize("fault", [None, *sorted(_BAD)])
def test_mandoc_agrees_with_the_roff_lint(fault, tmp_path):
    level = _MANDOC_LEVEL.get(fault, "warning") if fault is not None else "style"
    if level is None:
        pytest.skip(f"mandoc does not report a {fault}")
    page = tmp_path / "ghostswap-x.1"
    page.write_text(_GOOD if fault is None else _spliced(*_BAD[fault]))
    r = subprocess.run(["mandoc", "-T", "lint", "-W", level, str(page)], capture_output=True,
                       text=True, check=False)
    said = r.stdout + r.stderr
    assert (said == "") == (fault is None), said


@pytest.mark.skipif(shutil.which("mandoc") is None, reason="mandoc is not installed (the Python "
                    "lint above covers its warnings)")
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_mandoc_lint_is_clean(page):
    # warnings and above; mandoc's STYLE notes (input lines over 80 bytes) are not problems
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", str(page)], capture_output=True,
                       text=True, check=False)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")


def test_see_also_names_only_pages_of_known_commands():
    known = {"ghostswap"} | {f"ghostswap-{n}" for n in COMMANDS}
    for page in PAGES:
        text = man_text(page)
        for ref, section in re.findall(r"\.BR (ghostswap[\w-]*) \((\d)\)", text):
            assert ref in known, f"{page.name} refers to {ref}({section})"
            cmd = ref.removeprefix("ghostswap-")
            want = "8" if cmd in SECTION_8 else "1"
            assert section == want, f"{page.name}: {ref}({section}) should be ({want})"


# --- what the pages say ------------------------------------------------------------------


def test_main_page_lists_every_command_and_the_state_directory():
    text = man_text(MAN / "ghostswap.1")
    for name in COMMANDS:
        assert re.search(rf"^\.B {name}$", text, re.M), f"ghostswap.1 does not describe {name}"
    for item in ("state.db", "zswap.pool", "lock", "swapfiles/", "0700", "0600",
                 "GHOSTSWAP_STATE", "XDG_STATE_HOME", "NO_COLOR", "FORCE_COLOR"):
        assert item in text, item
    for section in ("STATE DIRECTORY", "THE KERNEL AND UTIL-LINUX"):
        assert f".SH {section}" in text


def test_cat_page_lists_every_simulated_file():
    from ghostswap_cli.kernel.procfs import list_files

    text = man_text(MAN / "ghostswap-cat.1")
    for path in list_files():
        assert re.search(rf"^\.I {re.escape(path)}$", text, re.M), f"ghostswap-cat.1: {path}"


def test_write_page_lists_every_writable_parameter():
    from ghostswap_cli.kernel.params import PARAMS

    text = man_text(MAN / "ghostswap-write.1")
    for path in PARAMS:
        assert path in text


def test_replay_page_documents_the_report_and_the_timeline():
    from ghostswap_cli.replay.trace_replay import TIMELINE_COLUMNS, ReplayReport

    text = man_text(MAN / "ghostswap-replay.1")
    report = ReplayReport(trace="t", format="text", page_size=4096, compressor="lz4")
    report.rejected = {"compress_poor": 0, "compress_fail": 0, "alloc_fail": 0,
                       "kmemcache_fail": 0, "pool_limit": 0, "disabled": 0}
    from ghostswap_cli.replay.trace_replay import DELTA_COUNTERS

    keys = set(report.to_json()) | set(report.rejected) | set(DELTA_COUNTERS)
    missing = sorted(k for k in keys if not mentions(text, k))
    assert missing == []
    for column in TIMELINE_COLUMNS:
        assert re.search(rf"^\.B {column}$", text, re.M), column
    for fact in ("--commit-every", ".B 3\n"):
        assert fact in text


def test_kernel_page_documents_the_machine():
    from ghostswap_cli.kernel.params import CONFIG_NAMES, MACHINE_PARAMS, PERSONALITIES
    from ghostswap_cli.uapi import max_swapfiles

    text = man_text(MAN / "ghostswap-kernel.1")
    for name in MACHINE_PARAMS:
        assert mentions(text, "--" + name.replace("_", "-")), name
    for name, config in CONFIG_NAMES.items():
        d, m, h, p = config.swp_nums
        e = f" - {config.swapin_error_num}" if config.swapin_error_num else ""
        assert f"32 - {d} - {m} - {h} - {p}{e} = {max_swapfiles(config)}" in text or (
            name == "minimal" and f"32 - {p} = {max_swapfiles(config)}" in text
        ), name
    for personality in PERSONALITIES:
        assert re.search(rf"^\.B {personality}$", text, re.M)
    # the fsck subsection of the other engineer goes at the end of COMMANDS
    source = (MAN / "ghostswap-kernel.1").read_text()
    commands = source.index(".SH COMMANDS")
    assert source.index('.SS "kernel show"') > commands
    assert source.index(".SH OPTIONS") > source.index('.SS "kernel reset"')


def test_kernel_init_help_and_page_agree_on_defaults(run_cli):
    out = " ".join(run_cli("kernel", "init", "--help").stdout.split())
    defaults = re.findall(r"\[default: ([^\]]+)\]", out)
    assert len(defaults) == 8
    text = " ".join(man_text(MAN / "ghostswap-kernel.1").split())
    for default in defaults:
        assert f"Default: {default}." in text, default


# --- installation -------------------------------------------------------------------------


def test_pyproject_installs_every_page():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = project["tool"]["setuptools"]["data-files"]
    installed = set()
    for target, patterns in data.items():
        for pattern in patterns:
            for page in ROOT.glob(pattern):
                installed.add(page.name)
                assert target == f"share/man/man{page.suffix[1:]}"
    assert {p.name for p in PAGES} <= installed


@pytest.mark.slow
def test_a_built_wheel_carries_the_man_pages(tmp_path: Path):
    """Build a wheel from a copy of the sources (the work tree stays clean) and look inside."""
    import sys
    import zipfile

    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    src.mkdir()
    for item in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / item, src / item)
    for folder in ("ghostswap_cli", "man"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                        str(tmp_path / "dist"), str(src)], capture_output=True, text=True,
                       check=False, timeout=900)
    if r.returncode and ("No matching distribution" in r.stderr or "Could not find" in r.stderr):
        pytest.skip("the build backend cannot be installed (no package index reachable)")
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp_path / "dist").glob("ghostswap-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for page in PAGES:
        assert any(n.endswith(f".data/data/share/man/man{page.suffix[1:]}/{page.name}")
                   for n in names), page.name


def test_no_page_is_left_out_of_the_tree():
    """Every page belongs to a command of COMMANDS (or is ghostswap.1)."""
    for page in PAGES:
        name = page.name.rsplit(".", 1)[0]
        assert name == "ghostswap" or name.removeprefix("ghostswap-") in COMMANDS, page.name


def test_my_pages_exist():
    for name in MY_PAGES:
        assert (MAN / name).exists(), name


def test_cli_object_is_the_root():
    assert isinstance(cli, click.Group)


def test_the_checker_finds_what_is_missing():
    from .mantools import strip_roff

    text = strip_roff('.TP\n.BR \\-s ", " \\-\\-state " \\fIDIR\\fR"\n\\(lq\\-L\\(rq and \\-\\-label\\-x\n')
    assert mentions(text, "--state") and mentions(text, "-s") and mentions(text, "-L")
    assert not mentions(text, "--label") and not mentions(text, "--stat")
    assert not mentions(text, "-S")
