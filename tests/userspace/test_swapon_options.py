"""swapon's command line as util-linux reads it: getopt's errors, mutual exclusions, -d, -p,
-o, -e, -f, -v, LABEL=/UUID= specs, -a with fstab, --show columns and their errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.uapi import (
    SWAP_FLAG_DISCARD,
    SWAP_FLAG_DISCARD_ONCE,
    SWAP_FLAG_DISCARD_PAGES,
    SWAP_FLAG_PREFER,
)
from ghostswap_cli.userspace.swapon import SwapProp, parse_options, parse_priority, swap_flags

from .test_swapon import (
    PAGE,
    UUID_GHOST,
    UUID_REAL,
    init_kernel,
    log_texts,
    make_ghost,
    make_swapfile,
    table,
    write_area,
)

TRY = "Try 'ghostswap swapon --help' for more information.\n"


@pytest.fixture
def kernel(run_cli):
    init_kernel(run_cli)


@pytest.fixture
def fstab_env(tmp_path, monkeypatch) -> Path:
    """$LIBMOUNT_FSTAB pointing at an empty file; tests write into it."""
    f = tmp_path / "fstab"
    f.write_text("")
    monkeypatch.setenv("LIBMOUNT_FSTAB", str(f))
    return f


# --------------------------------------------------------------------------------------------
# usage errors (exit 1) and the table they leave alone


@pytest.mark.parametrize("args, message", [
    (("-a", "-s"), "mutually exclusive arguments: --all --options --summary --show"),
    (("-s", "-a"), "mutually exclusive arguments: --all --options --summary --show"),
    (("-o", "pri=1", "--show"), "mutually exclusive arguments: --all --options --summary --show"),
    (("-a", "--bytes"), "mutually exclusive arguments: --all --options --bytes"),
    (("--noheadings", "-o", "x"), "mutually exclusive arguments: --all --options --noheadings"),
    (("--raw", "-a"), "mutually exclusive arguments: --all --options --raw"),
    (("--json", "-s"), "mutually exclusive arguments: --all --options --summary --json"),
    (("--raw", "--json"), "mutually exclusive arguments: --raw --json"),
    (("-dfoo",), "unsupported discard policy: foo"),
    (("--discard=", "x"), "unsupported discard policy: "),
    (("-p", "abc", "x"), "failed to parse priority: 'abc'"),
    (("-p", "40000", "x"), "failed to parse priority: '40000': Numerical result out of range"),
    (("--priority=-32769", "x"), "failed to parse priority: '-32769': Numerical result out of range"),
    (("--show=FOO",), "unknown column: FOO"),
    (("--show=name,BAR,size",), "unknown column: BAR,size"),
])
def test_errx_messages(run_cli, kernel, args, message):
    r = run_cli("swapon", *args)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"swapon: {message}\n")


@pytest.mark.parametrize("args, message", [
    (("--bogus",), "unrecognized option '--bogus'"),
    (("--bogus=1",), "unrecognized option '--bogus=1'"),
    (("-x",), "invalid option -- 'x'"),
    (("-p",), "option requires an argument -- 'p'"),
    (("--priority",), "option '--priority' requires an argument"),
    (("--all=1",), "option '--all' doesn't allow an argument"),
    (("--s",), "option '--s' is ambiguous; possibilities: '--summary' '--show' '--state'"),
    (("-e", "x"), "bad usage"),
])
def test_usage_errors(run_cli, kernel, args, message):
    r = run_cli("swapon", *args)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"swapon: {message}\n{TRY}")


def test_errors_in_command_line_order(run_cli, kernel):
    # getopt reads left to right: the first problem is the one reported
    assert run_cli("swapon", "-p", "x", "-dfoo").stderr == "swapon: failed to parse priority: 'x'\n"
    assert run_cli("swapon", "-dfoo", "-p", "x").stderr == "swapon: unsupported discard policy: foo\n"
    r = run_cli("swapon", "-h", "--bogus")
    assert r.exit_code == 0 and "Available output columns:" in r.stdout


def test_silent_column_errors(run_cli, kernel):
    for arg in ("--show=", "--show=NAME,,SIZE", "--show=" + ",".join(["NAME"] * 15)):
        r = run_cli("swapon", arg)
        assert (r.exit_code, r.stdout, r.stderr) == (1, "", ""), arg


def test_help_and_version(run_cli):
    r = run_cli("swapon", "--help")
    assert r.exit_code == 0
    for text in ("--discard", "--fixpgsz", "--show", "--json", "PARTUUID=<uuid>",
                 " NAME   device file or partition path", " LABEL  swap label"):
        assert text in r.stdout
    r = run_cli("swapon", "-V")
    assert (r.exit_code, r.stdout.split(" (")[0]) == (0, f"swapon from ghostswap {__import__('ghostswap_cli').__version__}")


def test_abbreviations_and_operand_permutation(run_cli, state_dir, tmp_path, kernel):
    g = make_ghost(tmp_path / "g")
    r = run_cli("swapon", g, "--prio", "3", "--verb")
    assert (r.exit_code, r.stdout) == (0, f"swapon {g}\n")
    assert table(state_dir) == [(str(g), "ghost", 3)]


def test_state_option_after_the_command(run_cli, tmp_path):
    other = tmp_path / "other-state"
    g = make_ghost(tmp_path / "g")
    assert run_cli("swapon", "--state", other, g).exit_code == 0
    assert table(other) == [(str(g), "ghost", -2)]


# --------------------------------------------------------------------------------------------
# option values


def test_parse_priority():
    assert parse_priority("10") == 10
    assert parse_priority(" -5") == -5
    assert parse_priority("+32767") == 32767
    for bad in ("", " ", "1x", "0x10", "--1"):
        with pytest.raises(Exception, match="failed to parse priority"):
            parse_priority(bad)


def test_parse_options_and_flags():
    p = parse_options(SwapProp(priority=3), "defaults,pri=12x,discard=once,nofail")
    assert p == SwapProp(SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE, 12, True)
    assert swap_flags(p) == SWAP_FLAG_PREFER | 12 | SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE
    # strncmp(arg, "once", argsz): an empty or partial policy matches; both -> plain discard
    p = parse_options(SwapProp(), "discard=")
    assert swap_flags(p) == SWAP_FLAG_DISCARD
    assert parse_options(SwapProp(), "discard=pa").discard == SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_PAGES
    assert parse_options(SwapProp(priority=4), "pri=abc").priority == 4
    assert parse_options(SwapProp(priority=4), 'pri="5"').priority == 4  # quotes are kept
    assert swap_flags(SwapProp(priority=70000)) == SWAP_FLAG_PREFER | 0x7FFF
    assert swap_flags(SwapProp(priority=-1)) == 0


@pytest.mark.parametrize("args, flags", [
    (("-d",), "Dsc"),
    (("-donce",), "Ds"),
    (("-d=pages",), "Dc"),
    (("--discard=once", "-dpages"), "Dsc"),
    (("-o", "discard=once"), "Ds"),
    ((), ""),
])
def test_discard_flags_reach_the_kernel(run_cli, state_dir, tmp_path, args, flags):
    init_kernel(run_cli, "--backing-discard", "1")
    f = make_swapfile(tmp_path / "swap", 1 << 20)
    r = run_cli("swapon", *args, f)
    assert (r.exit_code, r.stderr) == (0, "")
    assert log_texts(state_dir)[-1] == f"Adding 1020k swap on {f}.  Priority:-2 extents:1 across:1020k {flags}"


def test_ghost_never_discards(run_cli, state_dir, tmp_path):
    init_kernel(run_cli, "--backing-discard", "1")
    g = make_ghost(tmp_path / "g", 1 << 20)
    assert run_cli("swapon", "-d", g).exit_code == 0
    assert log_texts(state_dir)[-1].endswith("extents:0 across:0k SS")


# --------------------------------------------------------------------------------------------
# what swapon says before the call


def test_verbose_real_file(run_cli, state_dir, tmp_path, kernel):
    f = make_swapfile(tmp_path / "swap", 1 << 20)
    r = run_cli("swapon", "-v", f)
    assert (r.exit_code, r.stdout) == (0, f"swapon {f}\n")
    assert r.stderr == (f"swapon: {f}: found signature [pagesize=4096, signature=swap]\n"
                        f"swapon: {f}: pagesize=4096, swapsize=1048576, devsize=1048576\n")


def test_insecure_permissions_are_a_warning(run_cli, state_dir, tmp_path, kernel):
    f = make_swapfile(tmp_path / "swap", 1 << 20, mode=0o644)
    r = run_cli("swapon", f)
    assert (r.exit_code, r.stderr) == (0, f"swapon: {f}: insecure permissions 0644, 0600 suggested.\n")
    assert table(state_dir) == [(str(f), "file", -2)]


@pytest.mark.skipif(os.geteuid() != 0, reason="the owner warning is only given when running as root")
def test_insecure_owner_when_root(run_cli, state_dir, tmp_path, kernel):
    g = make_ghost(tmp_path / "g")
    os.chown(g, 1234, 0)
    r = run_cli("swapon", g)
    assert (r.exit_code, r.stderr) == (0, f"swapon: {g}: insecure file owner 1234, 0 (root) suggested.\n")


def test_software_suspend_signature_is_rewritten(run_cli, state_dir, tmp_path, kernel):
    page = bytearray(make_swapfile(tmp_path / "tmp", 16 * PAGE).read_bytes()[:PAGE])
    page[PAGE - 10:] = b"S1SUSPEND\0"
    f = write_area(tmp_path / "resume", 16 * PAGE, bytes(page))
    r = run_cli("swapon", "-v", f)
    assert r.exit_code == 0
    assert r.stderr == (f"swapon: {f}: found signature [pagesize=4096, signature=suspend]\n"
                        f"swapon: {f}: software suspend data detected. Rewriting the swap signature.\n")
    assert f.read_bytes()[PAGE - 10:PAGE] == b"SWAPSPACE2"
    assert table(state_dir) == [(str(f), "file", -2)]


def test_fixpgsz_reinitializes_with_the_same_label_and_uuid(run_cli, state_dir, tmp_path, kernel):
    f = make_swapfile(tmp_path / "p8", 32 * 8192, label="eight", uuid=UUID_GHOST, page_size=8192)
    r = run_cli("swapon", "-f", f)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ("Setting up swapspace version 1, size = 252 KiB (258048 bytes)\n"
                        f"LABEL=eight, UUID={UUID_GHOST}\n")
    assert r.stderr == (f"swapon: {f}: swap format pagesize does not match.\n"
                        f"swapon: {f}: reinitializing the swap.\n"
                        f"mkswap: {f}: warning: wiping old swap signature.\n")
    data = f.read_bytes()
    assert data[PAGE - 10:PAGE] == b"SWAPSPACE2" and data[8192 - 10:8192] == bytes(10)
    assert table(state_dir) == [(str(f), "file", -2)]
    assert run_cli("swapon", "--show=LABEL,UUID,SIZE", "--noheadings").stdout == f"eight {UUID_GHOST} 252K\n"


def test_fixpgsz_failure_is_reported(run_cli, state_dir, tmp_path, kernel):
    # 4 pages of 8 KiB are fewer than mkswap's 10 pages of 4 KiB
    f = make_swapfile(tmp_path / "tiny", 4 * 8192, page_size=8192)
    r = run_cli("swapon", "-f", f)
    assert r.exit_code == 255
    assert r.stderr.endswith("mkswap: error: swap area needs to be at least 40 KiB\n")
    assert table(state_dir) == []


# --------------------------------------------------------------------------------------------
# LABEL=, UUID=, -L, -U


def test_tags_resolve_through_fstab(run_cli, state_dir, tmp_path, kernel, fstab_env):
    f = make_swapfile(tmp_path / "swap", 1 << 20, label="real", uuid=UUID_REAL)
    g = make_ghost(tmp_path / "ghost", label="ghost", uuid=UUID_GHOST)
    fstab_env.write_text(f"{f} none swap sw 0 0\n{g} none swap noauto 0 0\n")
    r = run_cli("swapon", "-v", "-L", "ghost", f"UUID={UUID_REAL}")
    assert (r.exit_code, r.stdout) == (0, f"swapon {g}\nswapon {f}\n")
    assert table(state_dir) == [(str(g), "ghost", -2), (str(f), "file", -3)]


def test_tags_that_name_nothing(run_cli, state_dir, tmp_path, kernel, fstab_env):
    g = make_ghost(tmp_path / "ghost", label="ghost", uuid=UUID_GHOST)
    fstab_env.write_text(f"{g} none swap sw 0 0\n")
    r = run_cli("swapon", "-L", "nope", "-U", UUID_REAL, "LABEL=x", "PARTLABEL=ghost",
                f"PARTUUID={UUID_GHOST}", "ID=ghost")
    assert r.exit_code == 255
    assert r.stderr == (
        "swapon: cannot find the device for nope\n"
        f"swapon: cannot find the device for {UUID_REAL}\n"
        "swapon: cannot find the device for LABEL=x\n"
        "swapon: cannot find the device for PARTLABEL=ghost\n"
        f"swapon: cannot find the device for PARTUUID={UUID_GHOST}\n"
        "swapon: cannot find the device for ID=ghost\n"
    )
    assert table(state_dir) == []


def test_not_a_tag_is_a_path(run_cli, tmp_path, kernel, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g = make_ghost(tmp_path / "FOO=bar")
    r = run_cli("swapon", "-v", "FOO=bar")
    assert (r.exit_code, r.stdout) == (0, f"swapon {g}\n")


# --------------------------------------------------------------------------------------------
# -a


def test_all(run_cli, state_dir, tmp_path, kernel):
    f = make_swapfile(tmp_path / "swap", 1 << 20)
    g = make_ghost(tmp_path / "ghost 1", label="gh")
    n = make_ghost(tmp_path / "noauto")
    missing = tmp_path / "missing"
    fstab = tmp_path / "my.fstab"
    fstab.write_text(
        "# swap entries\n"
        f"{f}\tnone\tswap\tdefaults,pri=7\t0\t0\n"
        f"\n   LABEL=gh none swap discard 0 0\n"
        f"{str(g).replace(' ', chr(92) + '040')} none swap sw 0 0\n"
        f"{n} none swap noauto\n"
        f"{missing} none swap nofail 0 0\n"
        "/dev/vda1 / ext4 defaults 0 1\n"
        "broken line\n"
    )
    r = run_cli("swapon", "-a", "-v", "-T", fstab)
    # util-linux reads /proc/swaps once, before the first activation: the ghost, listed twice
    # (by label and by path), is tried twice and the second try is EBUSY
    assert r.exit_code == 255, r.stderr
    assert r.stdout == f"swapon {f}\nswapon {g}\nswapon {g}\n"
    ghost_lines = (
        f"swapon: {g}: found signature [pagesize=4096, signature=swap]\n"
        f"swapon: {g}: pagesize=4096, swapsize=67108864, devsize=4096\n"
        f"swapon: {g}: last_page 0x04000000 is larger than actual size of swapspace\n"
    )
    assert r.stderr == (
        f"swapon: {fstab}: parse error at line 9 -- ignored\n"
        f"swapon: {f}: found signature [pagesize=4096, signature=swap]\n"
        f"swapon: {f}: pagesize=4096, swapsize=1048576, devsize=1048576\n"
        + ghost_lines + ghost_lines +
        f"swapon: {g}: swapon failed: Device or resource busy\n"
        f"swapon: {n}: noauto option -- ignored\n"
        f"swapon: {missing}: inaccessible -- ignored\n"
    )
    assert table(state_dir) == [(str(f), "file", 7), (str(g), "ghost", -2)]
    # a second run has nothing to do
    r = run_cli("swapon", "-a", "-v", "-T", fstab)
    assert (r.exit_code, r.stdout) == (0, "")
    assert r.stderr == (
        f"swapon: {fstab}: parse error at line 9 -- ignored\n"
        f"swapon: {f}: already active -- ignored\n"
        f"swapon: {g}: already active -- ignored\n"
        f"swapon: {g}: already active -- ignored\n"
        f"swapon: {n}: noauto option -- ignored\n"
        f"swapon: {missing}: inaccessible -- ignored\n"
    )


def test_all_reports_missing_devices(run_cli, state_dir, tmp_path, kernel, fstab_env):
    missing = tmp_path / "missing"
    fstab_env.write_text(f"{missing} none swap sw 0 0\nLABEL=none none swap sw\nUUID=x none swap nofail\n")
    r = run_cli("swapon", "-a")
    assert r.exit_code == 255
    assert r.stderr == (f"swapon: cannot open {missing}: No such file or directory\n"
                        "swapon: cannot find the device for LABEL=none\n")
    # -e: what does not exist is skipped silently
    r = run_cli("swapon", "-a", "-e")
    assert (r.exit_code, r.stderr) == (0, "")


def test_all_reads_a_directory(run_cli, state_dir, tmp_path, kernel):
    d = tmp_path / "fstab.d"
    d.mkdir()
    files = [make_ghost(tmp_path / f"g{i}") for i in (1, 2, 10)]
    for i, g in zip((1, 2, 10), files, strict=True):
        (d / f"{i}.fstab").write_text(f"{g} none swap sw 0 0\n")
    (d / ".hidden.fstab").write_text(f"{tmp_path / 'x'} none swap sw 0 0\n")
    (d / "other.conf").write_text(f"{tmp_path / 'y'} none swap sw 0 0\n")
    r = run_cli("swapon", "-a", "-T", d)
    assert (r.exit_code, r.stderr) == (0, "")
    assert [p for p, _, _ in table(state_dir)] == [str(g) for g in files]


def test_all_without_fstab(run_cli, tmp_path, kernel):
    r = run_cli("swapon", "-a", "-T", tmp_path / "none")
    assert (r.exit_code, r.stderr) == (1, f"swapon: failed to parse {tmp_path / 'none'}: No such file or directory\n")


def test_fstab_is_only_read(run_cli, tmp_path, kernel):
    fstab = tmp_path / "fstab"
    g = make_ghost(tmp_path / "g")
    fstab.write_text(f"{g} none swap sw 0 0\n")
    before = (fstab.read_bytes(), fstab.stat().st_mtime_ns)
    assert run_cli("swapon", "-a", "-T", fstab).exit_code == 0
    assert (fstab.read_bytes(), fstab.stat().st_mtime_ns) == before


def test_kernel_log_persists_after_a_failure(run_cli, state_dir, tmp_path, kernel):
    bad = write_area(tmp_path / "v2", 16 * PAGE, None)
    with open(bad, "r+b") as fh:
        fh.seek(PAGE - 10)
        fh.write(b"SWAPSPACE2")
        fh.seek(1024)
        fh.write((3).to_bytes(4, "little") + (15).to_bytes(4, "little"))
    good = make_ghost(tmp_path / "g")
    r = run_cli("swapon", good, bad)
    assert r.exit_code == 255
    assert log_texts(state_dir)[-2:] == [f"Adding 65532k swap on {good}.  Priority:-2 extents:0 across:0k SS",
                                         "Unable to handle swap header version 3"]
    with open_kernel(state_dir, write=False) as k:
        assert [si.path for si in k.active()] == [str(good)]
