"""ghostswap probe: blkid -p's keys and formats, ghostswap's extra keys, and a clean message
and exit status for everything that is not a swap area."""

from __future__ import annotations

import json
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghostswap_cli.userspace.common import ProbeArea
from ghostswap_cli.userspace.probe import probe_area, render

from .images import UUID_A, swap_page, write_image

U = bytes.fromhex(UUID_A.replace("-", ""))


def put(path, page, size):
    write_image(path, (size, {0: page}), fill=b"\0")
    return path


def test_full_line(run_cli, tmp_path):
    f = put(tmp_path / "s", swap_page(4096, last_page=9, label=b"hello", uuid=U), 40960)
    r = run_cli("probe", f)
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == (
        f'{f}: LABEL="hello" UUID="{UUID_A}" VERSION="1" TYPE="swap" USAGE="other" PAGESIZE="4096" '
        'ENDIANNESS="little" PAGES="10" BYTES="40960" BADPAGES="0" KIND="file"\n'
    )


def test_ghost(run_cli, tmp_path):
    g = tmp_path / "g"
    assert run_cli("mkswap", "--ghost", "-s", "1G", "-U", UUID_A, g).exit_code == 0
    r = run_cli("probe", "-o", "export", g)
    assert r.exit_code == 0
    assert r.stdout == (
        f"DEVNAME={g}\nUUID={UUID_A}\nVERSION=1\nTYPE=swap\nUSAGE=other\nPAGESIZE=4096\n"
        "ENDIANNESS=little\nPAGES=262144\nBYTES=1073741824\nBADPAGES=0\nKIND=ghost\n"
    )


def test_value_and_export_separators(run_cli, tmp_path):
    a = put(tmp_path / "a", swap_page(4096, label=b"a b"), 40960)
    b = put(tmp_path / "b", swap_page(16384, last_page=2, order=">"), 49152)
    r = run_cli("probe", "-o", "value", a, b)
    assert r.stdout.splitlines()[:4] == ["a b", "1", "swap", "other"]
    r = run_cli("probe", "-o", "export", a, b)
    blocks = r.stdout.split("\n\n")
    assert blocks[0].splitlines()[:2] == [f"DEVNAME={a}", "LABEL=a\\ b"]
    assert f"DEVNAME={b}" in blocks[1] and "ENDIANNESS=big" in blocks[1] and "PAGESIZE=16384" in blocks[1]


def test_json(run_cli, tmp_path):
    a = put(tmp_path / "a", swap_page(4096, badpages=(5,)), 40960)
    r = run_cli("probe", "--json", a, tmp_path / "missing")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    first, second = doc["files"]
    assert first["type"] == "swap" and first["pagesize"] == 4096 and first["badpages"] == 1
    assert (first["kind"], first["reason"]) == ("invalid", "bad pages are only supported on block devices")
    assert second == {"file": str(tmp_path / "missing"), "identified": False, "error": "No such file or directory"}


@pytest.mark.parametrize(
    "page,size,expected",
    [
        (swap_page(4096, last_page=99), 8192,
         'VERSION="1" TYPE="swap" USAGE="other" PAGESIZE="4096" ENDIANNESS="little" PAGES="100" '
         'BYTES="409600" BADPAGES="0" KIND="short" REASON="Swap area shorter than signature indicates"'),
        (swap_page(4096, magic=b"SWAP-SPACE"), 40960,
         'VERSION="0" TYPE="swap" USAGE="other" PAGESIZE="4096" KIND="invalid" '
         'REASON="old SWAP-SPACE signature (version 0) is not supported"'),
        (swap_page(4096, magic=b"ULSUSPEND", label=b"hib"), 40960,
         'LABEL="hib" VERSION="ulsuspend" TYPE="swsuspend" USAGE="other" PAGESIZE="4096" KIND="invalid" '
         'REASON="software suspend data"'),
        (swap_page(4096, bootbits=b"\xed\xc3\x02\xe9\x98\x56\xe5\x0c" + bytes(1016)), 40960,
         'VERSION="tuxonice" TYPE="swsuspend" USAGE="other" PAGESIZE="4096" KIND="invalid" '
         'REASON="software suspend data"'),
    ],
    ids=["short", "v0", "ulsuspend", "tuxonice"],
)
def test_identified_kinds(run_cli, tmp_path, page, size, expected):
    f = put(tmp_path / "x", page, size)
    r = run_cli("probe", f)
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"{f}: {expected}\n", "")


@pytest.mark.parametrize(
    "page,reason",
    [(swap_page(4096, version=2), "Unable to handle swap header version 2"),
     (swap_page(4096, last_page=0), "Empty swap-file")],
)
def test_rejected_header_has_no_type_and_status_2(run_cli, tmp_path, page, reason):
    f = put(tmp_path / "x", page, 40960)
    r = run_cli("probe", f)
    assert r.exit_code == 2 and r.stderr == ""
    assert 'TYPE=' not in r.stdout and f'KIND="invalid" REASON="{reason}"' in r.stdout


def test_errors(run_cli, tmp_path):
    z = put(tmp_path / "zeros", bytes(4096), 40960)
    r = run_cli("probe", z, tmp_path / "missing", tmp_path, "/dev/null")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (  # no signature: silent, as blkid -p
        f"ghostswap: error: {tmp_path / 'missing'}: No such file or directory\n"
        f"ghostswap: error: {tmp_path}: Is a directory\n"
        "ghostswap: error: /dev/null: not a regular file or block device\n"
    )


@pytest.mark.skipif(os.getuid() == 0, reason="root reads files whatever their mode")
def test_unreadable(run_cli, tmp_path):
    f = put(tmp_path / "s", swap_page(4096), 40960)
    f.chmod(0)
    r = run_cli("probe", f)
    assert (r.exit_code, r.stderr) == (2, f"ghostswap: error: {f}: Permission denied\n")


def test_usage(run_cli):
    r = run_cli("probe", "-o", "udev", "x")
    assert (r.exit_code, r.stderr) == (4, "ghostswap: unsupported output format udev\n")
    r = run_cli("probe")
    assert (r.exit_code, r.stderr) == (4, "ghostswap: no file specified\nTry 'ghostswap probe --help' for more information.\n")
    r = run_cli("probe", "--nope")
    assert (r.exit_code, r.stderr) == (4, "ghostswap: unrecognized option '--nope'\nTry 'ghostswap probe --help' for more information.\n")


def test_safe_print_of_odd_labels(tmp_path):
    area = ProbeArea.from_bytes(swap_page(4096, label=b'q"\\\x01\xe9 '), 40960)
    r = probe_area(area, "p")
    assert render([r]).startswith('p: LABEL="q\\"\\\\^AM-i" ')
    assert "LABEL=q\\\"\\\\^AM-i\n" in render([r], "export")


# ------------------------------------------------------------------------------------------
# never a traceback


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=70000), st.integers(0, 1 << 44))
def test_random_bytes(data, size):
    r = probe_area(ProbeArea.from_bytes(data, max(size, len(data))), "r")
    render([r])
    render([r], "json")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([4096, 8192, 16384, 32768, 65536]),
    st.sampled_from([b"SWAPSPACE2", b"SWAP-SPACE", b"S1SUSPEND", b"LINHIB0001"]),
    st.lists(st.tuples(st.integers(0, 65535), st.integers(0, 255)), max_size=30),
    st.integers(0, 1 << 40),
)
def test_mutated_headers(page_size, magic, mutations, size):
    page = bytearray(swap_page(page_size, last_page=100, badpages=(1, 2), magic=magic) + bytes(65536 - page_size))
    for off, value in mutations:
        page[off] = value
    for fmt in ("full", "value", "export", "json"):
        render([probe_area(ProbeArea.from_bytes(bytes(page), max(size, 1)), "m")], fmt)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=9000), st.sampled_from([0, 1, 4096, 40960]))
def test_cli_on_random_files(run_cli, tmp_path, data, extra):
    f = tmp_path / "random"
    f.write_bytes(data + bytes(extra))
    r = run_cli("probe", f)
    assert r.exit_code in (0, 2)
    assert r.stderr.count("\n") <= 1


def test_truncated_file(run_cli, tmp_path):
    f = tmp_path / "cut"
    f.write_bytes(swap_page(4096)[:4090])
    r = run_cli("probe", f)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", "")  # blkid -p is silent too


def test_byte_order_and_bad_page_count(tmp_path):
    page = bytearray(swap_page(4096, order=">", last_page=2000, badpages=(7,)))
    r = probe_area(ProbeArea.from_bytes(bytes(page), 4096 * 2001), "b", regular_file=False)
    assert (r.get("ENDIANNESS"), r.get("BADPAGES"), r.get("KIND")) == ("big", "1", "file")
    struct.pack_into(">I", page, 1032, 5000)
    r = probe_area(ProbeArea.from_bytes(bytes(page), 4096 * 2001), "b", regular_file=False)
    assert (r.get("KIND"), r.get("REASON")) == ("invalid", "too many bad pages: 5000")


def test_subprocess(run_ghostswap, tmp_path):
    f = put(tmp_path / "s", swap_page(4096), 40960)
    r = run_ghostswap("probe", "-o", "value", f)
    assert (r.returncode, r.stderr) == (0, b"")
    assert r.stdout.splitlines()[:3] == [b"1", b"swap", b"other"]
