"""ghostswap swapshow and the --show table printer (column registry, alignment, --raw
escaping, --json), including paths with blanks and swap files deleted while active."""

from __future__ import annotations

import json
import os
import uuid as _uuid
from pathlib import Path

import pytest

from ghostswap_cli.cli.columns import (
    DEFAULT_COLUMNS,
    SWAPON_COLUMNS,
    ColumnError,
    format_json,
    format_table,
    nonblank_encode,
    parse_columns,
    safe_encode,
)
from ghostswap_cli.codec.swap_header import ByteOrder, SwapHeader, build_swap_header

UUID_G = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def ghost(path: Path, declared: int = 64 << 20, label: str = "", uuid: str | None = None) -> Path:
    page = build_swap_header(SwapHeader(
        page_size=4096, byteorder=ByteOrder.LITTLE, version=1, last_page=declared // 4096 - 1,
        nr_badpages=0, sws_uuid=_uuid.UUID(uuid).bytes if uuid else bytes(16),
        sws_volume=label.encode().ljust(16, b"\0")))
    path.write_bytes(page)
    path.chmod(0o600)
    return path




# --------------------------------------------------------------------------------------------
# the printer


def test_parse_columns():
    assert [c.name for c in parse_columns("name,Size,PRIO")] == ["NAME", "SIZE", "PRIO"]
    assert [c.name for c in parse_columns("NAME,NAME")] == ["NAME", "NAME"]
    with pytest.raises(ColumnError) as e:
        parse_columns("NAME,foo,SIZE")
    assert e.value.message == "unknown column: foo,SIZE"
    with pytest.raises(ColumnError) as e:
        parse_columns("NAME,")
    assert e.value.message == "unknown column: NAME,"
    for silent in ("", ",NAME", "NAME,,SIZE", ",".join(["NAME"] * 15)):
        with pytest.raises(ColumnError) as e:
            parse_columns(silent)
        assert e.value.message is None, silent
    assert len(parse_columns(",".join(["NAME"] * 14))) == 14


def test_table_alignment():
    cols = list(DEFAULT_COLUMNS)
    data = [["/a", "file", "8M", "0B", "-2"], ["/longer/name", "ghost", "1024M", "1.2M", "10"]]
    assert format_table(cols, data) == (
        "NAME         TYPE   SIZE USED PRIO\n"
        "/a           file     8M   0B   -2\n"
        "/longer/name ghost 1024M 1.2M   10\n"
    )
    assert format_table(cols, data, noheadings=True).splitlines()[0] == "/a           file     8M   0B   -2"
    assert format_table(cols, data, raw=True) == (
        "NAME TYPE SIZE USED PRIO\n/a file 8M 0B -2\n/longer/name ghost 1024M 1.2M 10\n")
    assert format_table(cols, []) == ""
    # an empty left-aligned last cell is not padded; an empty middle one is
    uuid_label = parse_columns("NAME,LABEL,SIZE")
    assert format_table(uuid_label, [["/a", None, "8M"]]) == "NAME LABEL SIZE\n/a           8M\n"
    assert format_table(parse_columns("SIZE,LABEL"), [["8M", None]]) == "SIZE LABEL\n  8M \n"


def test_encodings():
    assert safe_encode("/a b") == ("/a b", 4)
    assert safe_encode("/a\nb") == ("/a\\x0ab", 7)
    assert safe_encode("/a\\xb") == ("/a\\x5cxb", 8)
    assert safe_encode("/é") == ("/é", 2)
    assert safe_encode(os.fsdecode(b"/\xff")) == ("/\\xff", 5)
    assert nonblank_encode("/a b\\c\té") == "/a\\x20b\\x5cc\\x09\\xc3\\xa9"


def test_json_layout():
    cols = parse_columns("NAME,SIZE,PRIO,LABEL")
    text = format_json(cols, [["/a \"q\"", "8M", "-2", None], ["/b", "1K", "5", "x"]])
    assert text == (
        '{\n'
        '   "swapdevices": [\n'
        '      {\n'
        '         "name": "/a \\"q\\"",\n'
        '         "size": "8M",\n'
        '         "prio": -2,\n'
        '         "label": null\n'
        '      },{\n'
        '         "name": "/b",\n'
        '         "size": "1K",\n'
        '         "prio": 5,\n'
        '         "label": "x"\n'
        '      }\n'
        '   ]\n'
        '}\n'
    )
    assert json.loads(text)["swapdevices"][0]["prio"] == -2
    assert format_json(cols, []) == '{\n   "swapdevices": [\n\n   ]\n}\n'
    assert json.loads(format_json(cols, [["/b", "8192", "1", None]], in_bytes=True))["swapdevices"][0]["size"] == 8192


# --------------------------------------------------------------------------------------------
# the command


def test_empty(run_cli):
    for args in ((), ("--raw",), ("--proc",), ("-s",), ("--output-all", "-n")):
        r = run_cli("swapshow", *args)
        expected = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" if args == ("--proc",) else ""
        assert (r.exit_code, r.stdout, r.stderr) == (0, expected, ""), args
    r = run_cli("swapshow", "--json")
    assert json.loads(r.stdout) == {"swapdevices": []}


def test_listing(run_cli, state_dir, short_dir):
    a = ghost(short_dir / "a b", 64 << 20, label="ga", uuid=UUID_G)
    b = ghost(short_dir / "b", 1 << 20)
    assert run_cli("swapon", a).exit_code == 0
    assert run_cli("swapon", "-p", "3", b).exit_code == 0
    w = len(str(a))
    r = run_cli("swapshow")
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == (f"{'NAME':<{w}} TYPE   SIZE USED PRIO\n"
                        f"{str(a):<{w}} ghost   64M   0B   -2\n"
                        f"{str(b):<{w}} ghost 1020K   0B    3\n")
    assert run_cli("swapshow", "-o", "name,label,uuid", "--raw", "-n").stdout == (
        f"{str(a).replace(' ', chr(92) + 'x20')} ga {UUID_G}\n{b}  \n")
    assert run_cli("swapshow", "--show=SIZE", "--bytes").stdout == "    SIZE\n67104768\n 1044480\n"
    assert run_cli("swapshow", "--show").stdout == r.stdout
    proc = run_cli("swapshow", "--proc").stdout
    assert proc.splitlines()[1].startswith(str(a).replace(" ", "\\040") + " ")
    summary = run_cli("swapshow", "-s").stdout
    assert summary.splitlines()[1] == f"{str(a):<40}ghost\t\t65532\t\t0\t\t-2"
    data = json.loads(run_cli("swapshow", "--json", "--output-all", "--bytes").stdout)
    assert data["swapdevices"][0] == {"name": str(a), "type": "ghost", "size": 67104768, "used": 0,
                                      "prio": -2, "uuid": UUID_G, "label": "ga"}
    assert data["swapdevices"][1]["label"] is None


def test_deleted_swapfile_is_listed_as_the_kernel_escapes_it(run_cli, state_dir, short_dir):
    a = ghost(short_dir / "gone")
    b = ghost(short_dir / "kept")
    assert run_cli("swapon", a, b).exit_code == 0
    a.unlink()
    # d_path's " (deleted)" is escaped with the name, as seq_file_path does
    assert f"{a}\\040(deleted) " in run_cli("swapshow", "--proc").stdout
    r = run_cli("swapshow")
    # libmount unescapes the name and strips the suffix: the row is listed, no warning
    assert r.stderr == ""
    assert r.stdout.splitlines()[1:] == [f"{a} ghost  64M   0B   -2", f"{b} ghost  64M   0B   -3"]
    r = run_cli("swapon", "--show")
    assert r.stderr == "" and str(a) in r.stdout


def test_a_non_swap_file_is_said_so(run_cli, state_dir, short_dir):
    # overwrite an active area's header: the probe for UUID/LABEL fails as libblkid's would
    g = ghost(short_dir / "g")
    assert run_cli("swapon", g).exit_code == 0
    g.write_bytes(bytes(4096))
    r = run_cli("swapshow", "--output-all")
    assert r.stderr == f"ghostswap: {g}: not a valid swap partition\n"
    assert r.stdout.splitlines()[1].startswith(str(g))


def test_bad_options(run_cli):
    r = run_cli("swapshow", "-o", "NAME,BOGUS")
    assert (r.exit_code, r.stderr) == (1, "ghostswap: unknown column: BOGUS\n")
    r = run_cli("swapshow", "--proc", "--json")
    assert (r.exit_code, r.stderr) == (1, "ghostswap: mutually exclusive arguments: --proc --json\n")


def test_reads_without_waiting_for_writers(run_cli, state_dir, short_dir):
    from ghostswap_cli.state.db import state_lock

    g = ghost(short_dir / "g")
    assert run_cli("swapon", g).exit_code == 0
    with state_lock(state_dir):  # a writer holds the lock
        r = run_cli("swapshow", "--proc")
    assert r.exit_code == 0 and str(g) in r.stdout


def test_subprocess(run_ghostswap, short_dir):
    g = ghost(short_dir / "g")
    assert run_ghostswap("swapon", g).returncode == 0
    p = run_ghostswap("swapshow", "--raw", "--noheadings")
    assert (p.returncode, p.stdout.decode()) == (0, f"{g} ghost 64M 0B -2\n")


def test_registry_matches_util_linux():
    assert [(c.name, c.right, c.help) for c in SWAPON_COLUMNS] == [
        ("NAME", False, "device file or partition path"),
        ("TYPE", False, "type of the device"),
        ("SIZE", True, "size of the swap area"),
        ("USED", True, "bytes in use"),
        ("PRIO", True, "swap priority"),
        ("UUID", False, "swap uuid"),
        ("LABEL", False, "swap label"),
    ]
