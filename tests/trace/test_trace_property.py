"""Hypothesis: text <-> binary round trips keep every page, the construct declaration and the
fast reader agree, and no input (random bytes, mutated traces) raises anything but TraceError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghostswap_cli.codec.trace import (
    K_FILE,
    K_FILL,
    K_NONE,
    K_RANDOM,
    K_RAW,
    K_TEXT,
    K_ZERO,
    OP_FREE,
    OP_IN,
    OP_OUT,
    Content,
    convert_trace,
    open_trace,
    open_trace_writer,
    trace_header,
    trace_record,
)
from ghostswap_cli.errors import TraceError

PS = 4096
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DATA = bytes((i * 37 + i // 256) & 0xFF for i in range(4 * PS))

vpns = st.integers(min_value=0, max_value=(1 << 52) - 1)
u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
contents = st.one_of(
    st.just(Content(K_ZERO)),
    u64.map(lambda v: Content(K_FILL, v)),
    u64.map(lambda v: Content(K_RANDOM, v)),
    u64.map(lambda v: Content(K_TEXT, v)),
    st.integers(0, 3 * PS).map(lambda o: Content(K_FILE, path="data.bin", offset=o)),
    st.binary(min_size=1, max_size=64).map(lambda b: Content(K_RAW, data=(b * PS)[:PS])),
)
events = st.lists(
    st.one_of(
        st.tuples(st.just(OP_OUT), vpns, contents),
        st.tuples(st.sampled_from([OP_IN, OP_FREE]), vpns, st.none()),
    ),
    max_size=25,
)


def _pages(path: Path) -> list:
    with open_trace(path) as r:
        return list(r)


@SETTINGS
@given(events)
def test_round_trip_text_binary_text(evs: list) -> None:
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "data.bin").write_bytes(DATA)
        text = folder / "a.trace"
        with open_trace_writer(text, "text") as w:
            for op, vpn, c in evs:
                if op == OP_OUT:
                    w.out(vpn, c)
                elif op == OP_IN:
                    w.in_(vpn)
                else:
                    w.free(vpn)
        pages = _pages(text)
        assert [(op, vpn) for op, vpn, _ in pages] == [(op, vpn) for op, vpn, _ in evs]
        assert all(len(p) == PS for op, _, p in pages if op == OP_OUT)
        binary = folder / "a.gstrace"
        with open_trace(text) as r:
            assert convert_trace(r, binary, "binary") == len(evs)
        assert _pages(binary) == pages
        back = folder / "sub"
        back.mkdir()
        with open_trace(binary) as r:
            convert_trace(r, back / "b.trace", "text")
        assert _pages(back / "b.trace") == pages
        with open_trace(text) as r:  # text to text in another folder rewrites file: paths
            convert_trace(r, back / "c.trace", "text")
        with open_trace(back / "c.trace", allow_dirs=[folder]) as r:
            assert list(r) == pages


records = st.lists(
    st.one_of(
        st.tuples(st.sampled_from([OP_IN, OP_FREE]), vpns, st.just(K_NONE), st.none()),
        st.tuples(st.just(OP_OUT), vpns, st.just(K_ZERO), st.none()),
        st.tuples(st.just(OP_OUT), vpns, st.sampled_from([K_FILL, K_RANDOM, K_TEXT]), u64),
        st.tuples(st.just(OP_OUT), vpns, st.just(K_RAW), st.binary(min_size=PS, max_size=PS)),
    ),
    max_size=20,
)


@SETTINGS
@given(records)
def test_construct_declaration_and_fast_reader_agree(recs: list) -> None:
    data = trace_header.build(dict(version=1, flags=0, page_size=PS)) + b"".join(
        trace_record.build(dict(head=dict(op=op, vpn=vpn, kind=kind), payload=payload), page_size=PS)
        for op, vpn, kind, payload in recs
    )
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.gstrace"
        p.write_bytes(data)
        with open_trace(p) as r:
            got = [(op, vpn, c.kind if c else K_NONE, (c.data if c.kind == K_RAW else c.value) if c else None)
                   for op, vpn, c in r.events()]
    assert got == [(op, vpn, kind, payload if kind not in (K_ZERO,) else 0) if op == OP_OUT
                   else (op, vpn, K_NONE, None) for op, vpn, kind, payload in recs]


def _only_trace_errors(data: bytes, name: str = "f.trace") -> None:
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "data.bin").write_bytes(DATA)
        p = folder / name
        p.write_bytes(data)
        try:
            with open_trace(p) as r:
                for _ in r:
                    pass
                for _ in r.events():
                    pass
        except TraceError as e:
            assert str(e).startswith(f"{p}:line ") or str(e).startswith(f"{p}:record ")


BINARY_HEAD = trace_header.build(dict(version=1, flags=0, page_size=PS))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_trace_errors(data: bytes) -> None:
    _only_trace_errors(data)
    _only_trace_errors(b"ghostswap-trace 1\n" + data)
    _only_trace_errors(BINARY_HEAD + data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="outinfrezo0123456789xabcdefhilmp:.#/ \t-", max_size=40), max_size=8))
def test_random_lines_raise_only_trace_errors(lines: list[str]) -> None:
    _only_trace_errors(("ghostswap-trace 1\n" + "\n".join(lines)).encode())


def _valid_traces() -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "data.bin").write_bytes(DATA)
        with open_trace_writer(folder / "v.trace", "text", comments=["valid"]) as w:
            w.out(0x7F0000001, "zero")
            w.out(2, "fill:0x5a")
            w.out(3, "random:9")
            w.out(4, "text:10")
            w.out(5, "file:data.bin:100")
            w.out(6, bytes(range(256)) * 16)
            w.in_(2)
            w.free(3)
        with open_trace(folder / "v.trace") as r:
            convert_trace(r, folder / "v.gstrace", "binary")
        return (folder / "v.trace").read_bytes(), (folder / "v.gstrace").read_bytes()


VALID_TEXT, VALID_BINARY = _valid_traces()
mutation = st.tuples(st.sampled_from(["flip", "cut", "insert", "delete"]), st.integers(0, 1 << 20),
                     st.binary(min_size=1, max_size=8))


def _mutate(data: bytes, muts: list) -> bytes:
    b = bytearray(data)
    for kind, where, blob in muts:
        i = where % (len(b) + 1)
        if kind == "flip" and b:
            b[i % len(b)] ^= blob[0] or 1
        elif kind == "cut":
            del b[i:]
        elif kind == "insert":
            b[i:i] = blob
        else:
            del b[i : i + len(blob)]
    return bytes(b)


@settings(max_examples=300, deadline=None)
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_traces_raise_only_trace_errors(muts: list) -> None:
    _only_trace_errors(_mutate(VALID_TEXT, muts), "m.trace")
    _only_trace_errors(_mutate(VALID_BINARY, muts), "m.gstrace")


def test_mutation_corpus_is_valid_to_start_with() -> None:
    _only_trace_errors(VALID_TEXT)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "v.gstrace"
        p.write_bytes(VALID_BINARY)
        assert len(_pages(p)) == 8


@pytest.mark.slow
@settings(max_examples=5000, deadline=None)
@given(st.binary(max_size=400), st.lists(mutation, min_size=1, max_size=6))
def test_long_fuzz(data: bytes, muts: list) -> None:
    _only_trace_errors(data)
    _only_trace_errors(BINARY_HEAD + data)
    _only_trace_errors(_mutate(VALID_TEXT, muts), "m.trace")
    _only_trace_errors(_mutate(VALID_BINARY, muts), "m.gstrace")
