"""Access traces (format version 2): read/write events, timestamps, in text and binary, the
version bump that leaves out/in/free traces as they were, and what ``trace info`` says of them."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.codec.trace import (
    K_FILL,
    K_RANDOM,
    K_RAW,
    K_TEXT,
    K_ZERO,
    OP_FREE,
    OP_IN,
    OP_OUT,
    OP_READ,
    OP_WRITE,
    RF_TIME,
    Content,
    convert_trace,
    open_trace,
    open_trace_writer,
    random_page,
    summarize,
    text_page,
    trace_header,
    trace_record,
)
from ghostswap_cli.errors import TraceError

PS = 4096


def write_sample(path: Path, fmt: str) -> None:
    with open_trace_writer(path, fmt) as w:
        w.write(0x10, "text:7", t_ns=0)
        w.read(0x10, t_ns=1000)
        w.write(0x11, bytes(PS), t_ns=1000)
        w.read(0x12)
        w.access(0x11, "random:3", t_ns=2500)
        w.access(0x10)
        w.write(0x13, b"\x5a" * PS)
        w.out(0x11, "zero", t_ns=3000)
        w.in_(0x11, t_ns=3001)
        w.free(0x10, t_ns=4000)


EXPECTED = [
    (OP_WRITE, 0x10, Content(K_TEXT, 7), 0),
    (OP_READ, 0x10, None, 1000),
    (OP_WRITE, 0x11, Content(K_ZERO), 1000),
    (OP_READ, 0x12, None, None),
    (OP_WRITE, 0x11, Content(K_RANDOM, 3), 2500),
    (OP_READ, 0x10, None, None),
    (OP_WRITE, 0x13, Content(K_FILL, 0x5A5A5A5A5A5A5A5A), None),
    (OP_OUT, 0x11, Content(K_ZERO), 3000),
    (OP_IN, 0x11, None, 3001),
    (OP_FREE, 0x10, None, 4000),
]


@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_access_events_round_trip(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / "a.trace"
    write_sample(p, fmt)
    with open_trace(p) as r:
        assert r.version == 2
        assert list(r.timed(materialize=False)) == EXPECTED
        assert [e[:3] for e in r.events()] == [e[:3] for e in EXPECTED]
        pages = list(r)
        assert pages[0] == (OP_WRITE, 0x10, text_page(7, PS))
        assert pages[4] == (OP_WRITE, 0x11, random_page(3, PS))
        assert pages[1] == (OP_READ, 0x10, None)


def test_text_spelling(tmp_path: Path) -> None:
    p = tmp_path / "a.trace"
    write_sample(p, "text")
    lines = p.read_text().splitlines()
    assert lines[0] == "ghostswap-trace 2"
    assert lines[2:5] == ["write 0x10 text:7 @0", "read 0x10 @1000", "write 0x11 zero @1000"]
    assert "read 0x12" in lines and "free 0x10 @4000" in lines


@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_out_in_free_traces_stay_version_1(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / "old.trace"
    with open_trace_writer(p, fmt) as w:
        w.out(1, "zero")
        w.in_(1)
    data = p.read_bytes()
    if fmt == "text":
        assert data.startswith(b"ghostswap-trace 1\n")
    else:
        assert trace_header.parse(data[:16]).version == 1
    with open_trace(p) as r:
        assert r.version == 1


def test_binary_matches_the_construct_declaration(tmp_path: Path) -> None:
    p = tmp_path / "a.gstrace"
    write_sample(p, "binary")
    data = p.read_bytes()
    assert trace_header.parse(data[:16]).version == 2
    pos, parsed = 16, []
    while pos < len(data):
        rec = trace_record.parse(data[pos:], page_size=PS)
        size = len(trace_record.build(rec, page_size=PS))
        parsed.append((rec.head["op"], rec.head["vpn"], rec.head["kind"], rec.t_ns))
        pos += size
    assert [(op, vpn, t) for op, vpn, _k, t in parsed] == [(e[0], e[1], e[3]) for e in EXPECTED]
    assert parsed[0][2] == K_TEXT
    # a timed read is exactly head + timestamp
    built = trace_record.build(dict(head=dict(op=OP_READ, kind=0, vpn=5, reserved=RF_TIME), t_ns=77, payload=None),
                               page_size=PS)
    assert built == struct.pack("<QQ", 5 | RF_TIME << 52 | OP_READ << 56, 77)


@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_convert_keeps_access_events(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "a.trace"
    write_sample(src, "binary" if fmt == "text" else "text")
    dst = tmp_path / "b.trace"
    with open_trace(src) as r:
        assert convert_trace(r, dst, fmt) == len(EXPECTED)
    with open_trace(dst) as r:
        assert r.format == fmt and r.version == 2
        assert list(r.timed(materialize=False)) == EXPECTED


TEXT_ERRORS = [
    ("ghostswap-trace 1\nread 1\n", 2, "read events need trace version 2 (the first line says 'ghostswap-trace 1')"),
    ("ghostswap-trace 1\nout 1 zero @5\n", 2, "timestamps need trace version 2"),
    ("ghostswap-trace 2\nwrite 1\n", 2, "write: missing content"),
    ("ghostswap-trace 2\nwrite 1 @5\n", 2, "write: missing content"),
    ("ghostswap-trace 2\nread 1 zero\n", 2, "read: unexpected 'zero' (comments start with #)"),
    ("ghostswap-trace 2\nread 1 @x\n", 2, "bad timestamp '@x': expected @NS"),
    ("ghostswap-trace 2\nread 1 @5\nread 2 @4\n", 3, "timestamp 4 goes back (the previous was 5)"),
    ("ghostswap-trace 2\nread 1 @5 @6\n", 2, "read: unexpected '@6'"),
    ("ghostswap-trace 2\nwrite 1 blob:3\n", 2, "bad content 'blob:3'"),
]


@pytest.mark.parametrize(("text", "line", "message"), TEXT_ERRORS, ids=[e[2][:40] for e in TEXT_ERRORS])
def test_text_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    p = tmp_path / "bad.trace"
    p.write_text(text)
    with pytest.raises(TraceError) as info, open_trace(p) as r:
        list(r)
    assert str(info.value).startswith(f"{p}:line {line}: {message}")


def test_writer_refuses_bad_timestamps(tmp_path: Path) -> None:
    with open_trace_writer(tmp_path / "a.trace") as w:
        w.read(1, t_ns=10)
        with pytest.raises(ValueError, match="goes back"):
            w.read(2, t_ns=9)
        with pytest.raises(ValueError, match="out of range"):
            w.read(2, t_ns=1 << 64)
        w.read(3, t_ns=10)
        assert w.events == 2


def test_info_describes_access_traces(tmp_path: Path) -> None:
    p = tmp_path / "a.trace"
    with open_trace_writer(p, "binary") as w:
        for vpn in range(8):  # cold writes
            w.write(vpn, f"text:{vpn}")
        for vpn in range(8):  # each re-read after 7 other pages
            w.read(vpn)
        w.read(7)  # distance 0
        w.write(7, "zero")  # distance 0
        w.free(0)
        w.read(0)  # a fresh page again: cold
    with open_trace(p) as r:
        s = summarize(r)
    assert s.accesses == 19 and s.ops["read"] == 10 and s.ops["write"] == 9
    assert s.unique_pages == 8
    assert s.reuse_distance["cold"] == 9
    assert s.reuse_distance["0"] == 2
    assert s.reuse_distance["4-7"] == 8
    assert s.free_not_swapped == 0
    assert s.lru_hit_pages(8) == 10 and s.lru_hit_pages(1) == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["r", "w", "f"]), st.integers(0, 20)), max_size=200),
       st.sampled_from(["text", "binary"]))
def test_reuse_distance_matches_a_plain_lru_stack(tmp_path_factory, events, fmt) -> None:
    p = tmp_path_factory.mktemp("rd") / "t.trace"
    stack: list[int] = []
    want: dict[str, int] = {}
    with open_trace_writer(p, fmt) as w:
        for op, vpn in events:
            if op == "f":
                w.free(vpn)
                if vpn in stack:
                    stack.remove(vpn)
                continue
            if op == "r":
                w.read(vpn)
            else:
                w.write(vpn, "random:1")
            if vpn in stack:
                d = stack.index(vpn)
                stack.remove(vpn)
                key = "0" if d == 0 else f"{1 << (d.bit_length() - 1)}-{(1 << d.bit_length()) - 1}"
                key = "1" if d == 1 else key
            else:
                key = "cold"
            want[key] = want.get(key, 0) + 1
            stack.insert(0, vpn)
    with open_trace(p) as r:
        s = summarize(r)
    assert {k: v for k, v in s.reuse_distance.items() if v} == want


def test_binary_raw_write_pages(tmp_path: Path) -> None:
    page = bytes(range(256)) * 16
    p = tmp_path / "a.gstrace"
    with open_trace_writer(p, "binary") as w:
        w.write(3, page, t_ns=9)
    with open_trace(p) as r:
        assert list(r.timed()) == [(OP_WRITE, 3, page, 9)]
        assert list(r.events()) == [(OP_WRITE, 3, Content(K_RAW, data=page))]


def test_trace_info_cli_on_an_access_trace(tmp_path: Path, run_cli) -> None:
    p = tmp_path / "a.trace"
    write_sample(p, "text")
    r = run_cli("trace", "info", "--no-progress", str(p))
    assert r.exit_code == 0, r.output
    assert "version:        2 (access events)" in r.output
    assert "accesses:       7 (3 reads, 4 writes) to 4 pages (16 KiB)" in r.output
    assert "reuse distance:" in r.output and "  cold:" in r.output
    r = run_cli("trace", "info", "--no-progress", "--json", str(p))
    import json
    d = json.loads(r.output)
    assert d["accesses"] == 7 and d["reuse_distance"]["cold"] == 4 and d["first_t_ns"] == 0
