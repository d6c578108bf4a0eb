"""The text trace grammar: what parses, what each line means, and every error with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostswap_cli.codec.trace import (
    K_FILE,
    K_FILL,
    K_RANDOM,
    K_RAW,
    K_TEXT,
    K_ZERO,
    OP_FREE,
    OP_IN,
    OP_OUT,
    Content,
    fill_page,
    format_content,
    open_trace,
    parse_content,
    random_page,
    text_page,
    zero_page,
)
from ghostswap_cli.errors import TraceError

PS = 4096


def write(tmp_path: Path, text: str, name: str = "t.trace") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def read_all(path: Path, **kw) -> list:
    with open_trace(path, **kw) as r:
        return list(r)


def test_every_event_and_content_kind(tmp_path: Path) -> None:
    data = bytes(range(256)) * 32  # 8 KiB
    (tmp_path / "pages.bin").write_bytes(data)
    page = bytes([7]) * 100 + bytes(PS - 100)
    p = write(tmp_path, f"""ghostswap-trace 1
# a comment before the directive

page-size 4096
out 0x10 zero
out 17 fill:0x5a   # trailing comments are allowed after a space
out 0x12 fill:0x0123456789abcdef
out 19 random:42
out 0X14 text:0x2a
out 21 file:pages.bin:4096
out 22 file:pages.bin:1
out 23 hex:{page.hex()}
  in 0x10
\tfree 17
# the end
""")
    with open_trace(p) as r:
        assert (r.format, r.page_size, r.flags) == ("text", 4096, 0)
        events = list(r)
        assert r.position == 14  # the line of the last event
    assert [(op, vpn) for op, vpn, _ in events] == [
        (OP_OUT, 0x10), (OP_OUT, 17), (OP_OUT, 0x12), (OP_OUT, 19), (OP_OUT, 0x14), (OP_OUT, 21),
        (OP_OUT, 22), (OP_OUT, 23), (OP_IN, 0x10), (OP_FREE, 17)]
    pages = [pg for _, _, pg in events]
    assert pages[0] == bytes(PS)
    assert pages[1] == b"\x5a" * PS
    assert pages[2] == bytes.fromhex("efcdab8967452301") * (PS // 8)  # little-endian word
    assert pages[3] == random_page(42, PS)
    assert pages[4] == text_page(42, PS)
    assert pages[5] == data[4096:8192]
    assert pages[6] == data[1:4097]
    assert pages[7] == page
    assert pages[8] is None and pages[9] is None


def test_events_gives_contents_as_stated(tmp_path: Path) -> None:
    (tmp_path / "d.bin").write_bytes(b"x" * PS)
    p = write(tmp_path, "ghostswap-trace 1\nout 1 zero\nout 2 fill:0x01\nout 3 random:5\n"
                        "out 4 text:6\nout 5 file:d.bin:0\nin 1\n")
    with open_trace(p) as r:
        evs = list(r.events())
    assert [c.kind if c else None for _, _, c in evs] == [K_ZERO, K_FILL, K_RANDOM, K_TEXT, K_FILE, None]
    assert evs[1][2].value == 0x0101010101010101
    assert evs[4][2].path == "d.bin" and evs[4][2].data == b"x" * PS


def test_default_page_size_and_caller_page_size(tmp_path: Path) -> None:
    p = write(tmp_path, "ghostswap-trace 1\nout 1 zero\n")
    with open_trace(p) as r:
        assert r.page_size == 4096
    with open_trace(p, page_size=16384) as r:  # no directive: the caller's page size
        assert r.page_size == 16384
        assert len(next(iter(r))[2]) == 16384
    q = write(tmp_path, "ghostswap-trace 1\npage-size 8192\nout 1 random:1\n", "q.trace")
    with open_trace(q) as r:
        assert r.page_size == 8192 and len(list(r)[0][2]) == 8192
    with pytest.raises(TraceError, match=r"q\.trace:line 2: the trace's page size 8192 does not "
                                         r"match the expected 4096"):
        open_trace(q, page_size=4096)


def test_iterating_again_starts_over(tmp_path: Path) -> None:
    p = write(tmp_path, "ghostswap-trace 1\nout 1 zero\nin 1\n")
    with open_trace(p) as r:
        first = list(r)
        assert list(r) == first
        assert r.bytes_read == r.size


def test_content_descriptors_round_trip() -> None:
    for spec in ("zero", "fill:0x5a", "fill:0x0123456789abcdef", "random:0", "text:18446744073709551615",
                 "file:a/b.bin:8192"):
        assert format_content(parse_content(spec)) == spec
    assert parse_content("hex:" + "00" * PS, PS) == Content(K_RAW, data=bytes(PS))
    assert parse_content("random:0x10").value == 16
    assert parse_content("fill:0xA").value == 0x0A0A0A0A0A0A0A0A
    assert parse_content("file:c:d:e.bin:12").path == "c:d:e.bin"  # the offset follows the last colon


def test_seeded_pages_are_pinned() -> None:
    """The same bytes on every machine and Python version: pinned by their digests."""
    import hashlib

    assert hashlib.sha256(random_page(1, PS)).hexdigest()[:16] == RANDOM_1
    assert hashlib.sha256(text_page(1, PS)).hexdigest()[:16] == TEXT_1
    assert random_page(1, 8192)[:PS] == random_page(1, PS)
    assert text_page(1, 8192)[:PS] == text_page(1, PS)
    assert zero_page(PS) == bytes(PS) and fill_page(0x4141414141414141, PS) == b"A" * PS


RANDOM_1 = "e05d5987bbc8b7fa"
TEXT_1 = "194a39f58545596c"


def test_text_pages_compress_like_text_and_random_pages_do_not() -> None:
    import lz4.block

    def ratio(pages: list[bytes]) -> float:
        return sum(map(len, pages)) / sum(len(lz4.block.compress(p, store_size=False)) for p in pages)

    assert 2.0 <= ratio([text_page(s, PS) for s in range(100)]) <= 3.0
    assert ratio([random_page(s, PS) for s in range(100)]) < 1.01
    assert text_page(3, PS).isascii() and b". " in text_page(3, PS)


# (trace text after the first line, line number, message) -------------------------------------
ERRORS = [
    ("", 1, "empty file: not a ghostswap trace"),
    ("ghostswap-trace\n", 1, "not a ghostswap trace: the first line must be 'ghostswap-trace 1'"),
    ("# comment first\nghostswap-trace 1\n", 1, "not a ghostswap trace"),
    ("ghostswap-trace 3\n", 1, "unsupported trace version '3' (this ghostswap reads versions 1 and 2)"),
    ("ghostswap-trace 1 extra\n", 1, "not a ghostswap trace"),
    ("ghostswap-trace 1\nswapout 1 zero\n", 2, "unknown event 'swapout': expected out, in, free"),
    ("ghostswap-trace 1\n\n\nout\n", 4, "out: missing VPN"),
    ("ghostswap-trace 1\nout 1\n", 2, "out: missing content"),
    ("ghostswap-trace 1\nin 1 zero\n", 2, "in: unexpected 'zero' (comments start with #)"),
    ("ghostswap-trace 1\nout 1 zero zero\n", 2, "out: unexpected 'zero'"),
    ("ghostswap-trace 1\nin -1\n", 2, "bad VPN '-1'"),
    ("ghostswap-trace 1\nin 0x\n", 2, "bad VPN '0x'"),
    ("ghostswap-trace 1\nin 1_000\n", 2, "bad VPN '1_000'"),
    ("ghostswap-trace 1\nin 0x10000000000000\n", 2, "bad VPN '0x10000000000000': expected a decimal or "
     "0x-hex number below 2**52"),
    ("ghostswap-trace 1\nin " + "9" * 5000 + "\n", 2, "bad VPN '99999"),
    ("ghostswap-trace 1\nout 1 zeros\n", 2, "bad content 'zeros': expected zero, fill:0xHH"),
    ("ghostswap-trace 1\nout 1 fill:5\n", 2, "bad content 'fill:5': fill takes 0xHH"),
    ("ghostswap-trace 1\nout 1 fill:0x123\n", 2, "bad content 'fill:0x123'"),
    ("ghostswap-trace 1\nout 1 random:\n", 2, "bad content 'random:': the seed must be a number below 2**64"),
    ("ghostswap-trace 1\nout 1 text:0x10000000000000000\n", 2, "the seed must be a number below 2**64"),
    ("ghostswap-trace 1\nout 1 file:pages.bin\n", 2, "bad content 'file:pages.bin': expected file:PATH:OFFSET"),
    ("ghostswap-trace 1\nout 1 file::0\n", 2, "expected file:PATH:OFFSET"),
    ("ghostswap-trace 1\nout 1 file:pages.bin:-1\n", 2, "bad offset '-1'"),
    ("ghostswap-trace 1\nout 1 file:missing.bin:0\n", 2, "cannot read missing.bin: No such file or directory"),
    ("ghostswap-trace 1\nout 1 file:small.bin:0\n", 2, "page of the wrong size: small.bin has 100 bytes "
     "at offset 0, expected 4096"),
    ("ghostswap-trace 1\nout 1 file:pages.bin:4097\n", 2, "page of the wrong size: pages.bin has 4095 bytes"),
    ("ghostswap-trace 1\nout 1 file:sub:0\n", 2, "cannot read sub: not a regular file"),
    ("ghostswap-trace 1\nout 1 hex:00\n", 2, "page of the wrong size: hex: gives 1 bytes, expected 4096"),
    ("ghostswap-trace 1\nout 1 hex:0g\n", 2, "bad content 'hex:0g': hex: takes pairs of hex digits"),
    ("ghostswap-trace 1\nout 1 hex:\xe9\n", 2, "hex: takes pairs of hex digits"),
    ("ghostswap-trace 1\nout 1 blob:1\n", 2, "bad content 'blob:1': unknown kind 'blob'"),
    ("ghostswap-trace 1\nout 1 zero\npage-size 8192\n", 3, "page-size directive after the first event"),
    ("ghostswap-trace 1\npage-size 8192\npage-size 8192\n", 3, "duplicate page-size directive"),
    ("ghostswap-trace 1\npage-size 1000\n", 2, "bad page size '1000': expected a power of two from 4096 to 65536"),
    ("ghostswap-trace 1\npage-size 131072\n", 2, "bad page size '131072'"),
    ("ghostswap-trace 1\npage-size\n", 2, "bad directive: expected 'page-size N'"),
    ("ghostswap-trace 1\n# fine\nout 1 zero\n\x00\x01\x02 garbage\n", 4, "unknown event '\\x00\\x01\\x02'"),
    ("ghostswap-trace 1\nout 1 " + "z" * (1 << 20) + "\n", 2, "line longer than 1048576 bytes"),
]


@pytest.mark.parametrize(("text", "line", "message"), ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    (tmp_path / "pages.bin").write_bytes(bytes(8192))
    (tmp_path / "small.bin").write_bytes(bytes(100))
    (tmp_path / "sub").mkdir()
    p = tmp_path / "bad.trace"
    p.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(TraceError) as info:
        read_all(p)
    assert str(info.value).startswith(f"{p}:line {line}: "), str(info.value)
    assert message in str(info.value)
    assert info.value.where == f"line {line}"


def test_missing_trace_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot open: No such file or directory"):
        open_trace(tmp_path / "nope.trace")
    with pytest.raises(TraceError, match="cannot open: Is a directory"):
        open_trace(tmp_path)
