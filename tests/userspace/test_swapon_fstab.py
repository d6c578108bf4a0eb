"""fstab, mount-option strings and /proc/swaps as libmount parses them; spec resolution."""

from __future__ import annotations

import os

import pytest

from ghostswap_cli.userspace.common import BufferReport
from ghostswap_cli.userspace.fstab import (
    FstabError,
    SwapsEntry,
    fstab_path,
    optstr_get_option,
    parse_fstab,
    parse_swaps,
    unmangle,
)
from ghostswap_cli.userspace.swapspec import (
    SpecResolver,
    canonicalize_path,
    parse_tag_string,
    probe_swap_ids,
)

from .test_swapon import UUID_GHOST, UUID_REAL, make_ghost, make_swapfile, write_area


def test_unmangle():
    assert unmangle(r"/a\040b\011c\134d\012") == "/a b\tc\\d\n"
    assert unmangle(r"\04") == r"\04"  # three octal digits or nothing
    assert unmangle(r"\0409") == " 9"
    assert unmangle(r"\8xx") == r"\8xx"
    assert unmangle("/plain") == "/plain"
    assert unmangle(r"\303\251") == "é"  # bytes, then decoded as the file system does


def test_parse_fstab(tmp_path):
    f = tmp_path / "fstab"
    f.write_text(
        "  # comment\n"
        "\n"
        "UUID=abc none swap sw,pri=3 0 0\r\n"
        "/swap\\040file\tnone\tswap\n"
        "/dev/sda1 / ext4 defaults 1 x\n"
        "only two\n"
        "/x /y xfs defaults 0 2 extra\n"
    )
    report = BufferReport("swapon")
    entries = parse_fstab(str(f), report)
    assert [(e.source, e.fstype, e.options, e.line) for e in entries] == [
        ("UUID=abc", "swap", "sw,pri=3", 3),
        ("/swap file", "swap", None, 4),
        ("/x", "xfs", "defaults", 7),
    ]
    assert entries[0].is_swaparea and not entries[2].is_swaparea
    assert entries[0].get_option("pri") == (True, "3")
    assert report.stderr == (f"swapon: {f}: parse error at line 5 -- ignored\n"
                             f"swapon: {f}: parse error at line 6 -- ignored\n")


def test_parse_fstab_failures(tmp_path):
    with pytest.raises(FstabError) as e:
        parse_fstab(str(tmp_path / "none"))
    assert e.value.errno == 2
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FstabError) as e:
        parse_fstab(str(fifo))
    assert e.value.errno == 22


def test_fstab_path(monkeypatch):
    monkeypatch.delenv("LIBMOUNT_FSTAB", raising=False)
    assert fstab_path() == "/etc/fstab"
    monkeypatch.setenv("LIBMOUNT_FSTAB", "/tmp/x")
    assert fstab_path() == "/tmp/x"


def test_optstr():
    s = 'defaults,,pri=5,discard=once,x="a,b",nofail'
    assert optstr_get_option(s, "pri") == (True, "5")
    assert optstr_get_option(s, "discard") == (True, "once")
    assert optstr_get_option(s, "x") == (True, '"a,b"')
    assert optstr_get_option(s, "nofail") == (True, None)
    assert optstr_get_option(s, "b") == (False, None)
    assert optstr_get_option(s, "pr") == (False, None)
    assert optstr_get_option(None, "pri") == (False, None)
    assert optstr_get_option("=x,pri=1", "pri") == (False, None)  # a parse error ends the list


def test_parse_swaps_drops_deleted_rows():
    text = (
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        "/swapfile                               file\t\t8188\t\t4\t\t-2\n"
        "/gone (deleted)                         file\t\t8188\t\t0\t\t-3\n"
        "/a\\040b                                 ghost\t\t65532\t\t0\t\t10\n"
    )
    report = BufferReport("swapon")
    assert parse_swaps(text, report=report) == [
        SwapsEntry("/swapfile", "file", 8188, 4, -2),
        SwapsEntry("/a b", "ghost", 65532, 0, 10),
    ]
    assert report.stderr == "swapon: /proc/swaps: parse error at line 3 -- ignored\n"


def test_parse_tag_string():
    assert parse_tag_string("LABEL=x") == ("LABEL", "x")
    assert parse_tag_string('UUID="a b"') == ("UUID", "a b")
    assert parse_tag_string("LABEL='x'") == ("LABEL", "x")
    assert parse_tag_string('LABEL="x') is None
    assert parse_tag_string("LABEL=") is None
    assert parse_tag_string("/path") is None
    assert parse_tag_string("a=b=c") == ("a", "b=c")


def test_canonicalize_path(tmp_path, monkeypatch):
    f = tmp_path / "f"
    f.write_bytes(b"")
    os.symlink(f, tmp_path / "l")
    monkeypatch.chdir(tmp_path)
    assert canonicalize_path("l") == str(f)
    assert canonicalize_path("./f") == str(f)
    assert canonicalize_path("missing") == "missing"
    assert canonicalize_path("") is None


def test_probe_swap_ids(tmp_path):
    f = make_swapfile(tmp_path / "f", 1 << 20, label="real", uuid=UUID_REAL)
    g = make_ghost(tmp_path / "g", label="ghost", uuid=UUID_GHOST)
    n = make_ghost(tmp_path / "n")
    z = write_area(tmp_path / "z", 1 << 16, None)
    assert (probe_swap_ids(str(f)).label, probe_swap_ids(str(f)).uuid) == ("real", UUID_REAL)
    assert (probe_swap_ids(str(g)).label, probe_swap_ids(str(g)).uuid) == ("ghost", UUID_GHOST)
    assert probe_swap_ids(str(n)).ok and probe_swap_ids(str(n)).label is None
    assert probe_swap_ids(str(n)).uuid is None
    assert probe_swap_ids(str(z)).warning == f"{z}: not a valid swap partition"
    old = bytearray(1 << 16)
    old[4086:4096] = b"SWAP-SPACE"
    v0 = write_area(tmp_path / "v0", 1 << 16, bytes(old[:4096]))
    assert probe_swap_ids(str(v0)).warning == f"{v0}: unsupported swap version '0'"
    dirty = bytearray(g.read_bytes())
    dirty[1196] = 1  # libblkid does not trust LABEL/UUID over garbage in the padding
    d = write_area(tmp_path / "d", 4096, bytes(dirty))
    assert probe_swap_ids(str(d)).ok and probe_swap_ids(str(d)).label is None


def test_resolver(tmp_path):
    f = make_swapfile(tmp_path / "f", 1 << 20, label="same", uuid=UUID_REAL)
    g = make_ghost(tmp_path / "g", label="same", uuid=UUID_GHOST)
    r = SpecResolver([str(g), str(f), str(tmp_path / "missing")])
    assert r.resolve_spec("LABEL=same") == str(g)  # first candidate wins
    assert r.resolve_spec(f"UUID={UUID_REAL}") == str(f)
    assert r.resolve_spec("PARTLABEL=same") is None
    assert r.resolve_spec("LABEL=other") is None
    assert r.resolve_spec("BOGUS=x") == "BOGUS=x"  # not a tag name: a path
