"""The binary trace format: the construct declaration, the fast reader that decodes the same
layout, the writer, and every malformed header or record with its record number."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ghostswap_cli.codec.trace import (
    BINARY_MAGIC,
    HEADER_SIZE,
    K_FILL,
    K_NONE,
    K_RANDOM,
    K_RAW,
    K_TEXT,
    K_ZERO,
    OP_FREE,
    OP_IN,
    OP_OUT,
    TF_CAPTURED,
    Content,
    fill_page,
    open_trace,
    open_trace_writer,
    random_page,
    text_page,
    trace_header,
    trace_record,
)
from ghostswap_cli.errors import TraceError

PS = 4096


def header(version: int = 1, flags: int = 0, page_size: int = PS) -> bytes:
    return trace_header.build(dict(version=version, flags=flags, page_size=page_size))


def record(op: int, vpn: int, kind: int = K_NONE, payload: object = None, page_size: int = PS) -> bytes:
    return trace_record.build(dict(head=dict(op=op, kind=kind, vpn=vpn), payload=payload),
                              page_size=page_size)


def read_all(path: Path) -> list:
    with open_trace(path) as r:
        return list(r)


def test_header_declaration() -> None:
    h = header(flags=TF_CAPTURED, page_size=16384)
    assert h == BINARY_MAGIC + struct.pack("<HHI", 1, TF_CAPTURED, 16384)
    assert HEADER_SIZE == len(h) == 16
    assert trace_header.parse(h).page_size == 16384


@pytest.mark.parametrize(
    ("op", "vpn", "kind", "payload", "size"),
    [
        (OP_IN, 5, K_NONE, None, 8),
        (OP_FREE, (1 << 52) - 1, K_NONE, None, 8),
        (OP_OUT, 0x7F0000001, K_ZERO, None, 8),
        (OP_OUT, 1, K_FILL, 0x5A5A5A5A5A5A5A5A, 16),
        (OP_OUT, 2, K_RANDOM, 7, 16),
        (OP_OUT, 3, K_TEXT, (1 << 64) - 1, 16),
        (OP_OUT, 4, K_RAW, bytes(range(256)) * 16, 8 + PS),
    ],
)
def test_record_symmetry(tmp_path: Path, op: int, vpn: int, kind: int, payload: object, size: int) -> None:
    """parse(build(x)) == x, the size is as declared, and the fast reader and the writer agree
    with the declaration byte for byte."""
    raw = record(op, vpn, kind, payload)
    assert len(raw) == size
    parsed = trace_record.parse(raw, page_size=PS)
    assert (parsed.head["op"], parsed.head["vpn"], parsed.head["kind"]) == (op, vpn, kind)
    assert parsed.payload == payload
    p = tmp_path / "one.gstrace"
    p.write_bytes(header() + raw)
    [(rop, rvpn, page)] = read_all(p)
    assert (rop, rvpn) == (op, vpn)
    expected = {K_NONE: None, K_ZERO: bytes(PS), K_RAW: payload}.get(kind)
    if kind == K_FILL:
        expected = fill_page(payload, PS)
    elif kind == K_RANDOM:
        expected = random_page(payload, PS)
    elif kind == K_TEXT:
        expected = text_page(payload, PS)
    assert page == expected
    w_path = tmp_path / "w.gstrace"
    with open_trace_writer(w_path, "binary") as w:
        if op == OP_IN:
            w.in_(vpn)
        elif op == OP_FREE:
            w.free(vpn)
        else:
            w.out(vpn, Content(kind, value=payload if isinstance(payload, int) else 0,
                               data=payload if isinstance(payload, bytes) else None))
    assert w_path.read_bytes() == header() + raw


def test_writer_recognises_zero_and_same_filled_pages(tmp_path: Path) -> None:
    p = tmp_path / "w.gstrace"
    with open_trace_writer(p, "binary") as w:
        w.out(1, bytes(PS))
        w.out(2, b"\x01\x02\x03\x04\x05\x06\x07\x08" * (PS // 8))
        w.out(3, b"\x01" + bytes(PS - 1))
    with open_trace(p) as r:
        kinds = [c.kind for _, _, c in r.events()]
    assert kinds == [K_ZERO, K_FILL, K_RAW]
    assert p.stat().st_size == HEADER_SIZE + 8 + 16 + 8 + PS


def test_records_straddling_chunk_boundaries(tmp_path: Path) -> None:
    """Enough records of mixed sizes to cross several 1 MiB reads at every alignment."""
    p = tmp_path / "big.gstrace"
    pages = [bytes([i]) * 7 + random_page(i, PS)[7:] for i in range(8)]
    expected = []
    with open_trace_writer(p, "binary") as w:
        for i in range(1200):
            if i % 3 == 0:
                w.out(i, pages[i % 8])
                expected.append((OP_OUT, i, pages[i % 8]))
            elif i % 3 == 1:
                w.out(i, f"random:{i % 5}")
                expected.append((OP_OUT, i, random_page(i % 5, PS)))
            else:
                w.in_(i)
                expected.append((OP_IN, i, None))
    assert p.stat().st_size > 1 << 20
    with open_trace(p) as r:
        assert list(r) == expected
        assert r.position == 1200 and r.bytes_read == r.size


BINARY_ERRORS = [
    (BINARY_MAGIC[:5], 0, "truncated header: 5 of 16 bytes"),
    (BINARY_MAGIC + b"\x01\x00", 0, "truncated header: 10 of 16 bytes"),
    (b"\x89PNG\r\n\x1a\n" + bytes(8), 0, "bad magic: not a ghostswap binary trace"),
    (header(version=3), 0, "unsupported binary trace version 3 (this ghostswap reads versions 1 and 2)"),
    (header(flags=0x8000), 0, "unknown flags 0x8000"),
    (header(page_size=4095), 0, "bad page size 4095: expected a power of two from 4096 to 65536"),
    (header(page_size=1 << 17), 0, "bad page size 131072: expected a power of two from 4096 to 65536"),
    (header() + record(OP_IN, 1) + b"\x01\x02\x03", 2, "truncated record: 3 of 8 header bytes"),
    (header() + record(OP_OUT, 1, K_RAW, bytes(PS))[:-1], 1,
     "truncated record: page payload of 4095 bytes, expected 4096"),
    (header() + record(OP_OUT, 1, K_RANDOM, 5)[:-2], 1, "truncated record: value of 6 bytes, expected 8"),
    (header() + record(OP_IN, 1) + struct.pack("<Q", 5 << 56), 2, "bad record: unknown op 5"),
    (header() + record(OP_IN, 1) + struct.pack("<Q", 3 << 56), 2,
     "bad record: read record in a version 1 trace (access events need version 2)"),
    (header(version=2) + struct.pack("<Q", 1 << 52 | 3 << 56), 1,
     "truncated record: timestamp of 0 bytes, expected 8"),
    (header(version=2) + struct.pack("<QQ", 1 << 52 | 3 << 56, 5) + struct.pack("<QQ", 1 << 52 | 3 << 56, 4), 2,
     "timestamp 4 goes back (the previous was 5)"),
    (header(version=2) + struct.pack("<Q", 2 << 52), 1, "bad record: reserved bits set (0x2)"),
    (header() + struct.pack("<Q", 1 << 52), 1, "bad record: reserved bits set (0x1)"),
    (header() + struct.pack("<Q", OP_OUT << 56), 1, "bad record: unknown content kind 0"),
    (header() + struct.pack("<Q", 9 << 60), 1, "bad record: unknown content kind 9"),
    (header() + struct.pack("<Q", OP_IN << 56 | K_RAW << 60), 1, "bad record: in record with content kind 1"),
]


@pytest.mark.parametrize(("data", "rec", "message"), BINARY_ERRORS, ids=[e[2][:40] for e in BINARY_ERRORS])
def test_errors_name_file_and_record(tmp_path: Path, data: bytes, rec: int, message: str) -> None:
    p = tmp_path / "bad.gstrace"
    p.write_bytes(data)
    with pytest.raises(TraceError) as info:
        read_all(p)
    assert str(info.value) == f"{p}:record {rec}: {message}"


def test_page_size_comes_from_the_header(tmp_path: Path) -> None:
    p = tmp_path / "big.gstrace"
    with open_trace_writer(p, "binary", page_size=65536) as w:
        w.out(1, "text:1")
        w.out(2, b"\x07" + bytes(65535))
    with open_trace(p) as r:
        assert r.page_size == 65536
        assert [len(pg) for _, _, pg in r] == [65536, 65536]
    with pytest.raises(TraceError, match=r"record 0: the trace's page size 65536 does not match the expected 4096"):
        open_trace(p, page_size=4096)


def test_writer_refuses_bad_arguments(tmp_path: Path) -> None:
    with open_trace_writer(tmp_path / "w.gstrace", "binary") as w:
        with pytest.raises(ValueError, match="VPN"):
            w.in_(1 << 52)
        with pytest.raises(ValueError, match="page of the wrong size"):
            w.out(1, b"short")
        with pytest.raises(ValueError, match="bad content"):
            w.out(1, "zeros")
    with pytest.raises(ValueError, match="unknown trace format"):
        open_trace_writer(tmp_path / "x", "json")
    with pytest.raises(ValueError, match="bad page size"):
        open_trace_writer(tmp_path / "x", "text", 1000)


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    p = tmp_path / "keep.trace"
    p.write_text("old contents\n")
    with pytest.raises(RuntimeError), open_trace_writer(p, "text") as w:
        w.out(1, "zero")
        raise RuntimeError("boom")
    assert p.read_text() == "old contents\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.trace"]
