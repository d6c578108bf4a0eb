"""Pool contents (``ptext:SEED``, ``prandom:SEED``): slices of precomputed pools, the same
statistics as ``text:``/``random:`` pages; and the seeded pages and synthetic traces of before
them, byte for byte (hashes taken from the code before pool contents existed)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import lz4.block
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghostswap_cli.codec.trace import (
    K_FILL,
    K_PRANDOM,
    K_PTEXT,
    K_RANDOM,
    K_TEXT,
    K_ZERO,
    OP_FREE,
    OP_IN,
    OP_OUT,
    OP_READ,
    OP_WRITE,
    POOL_BYTES,
    TRACE_PAGE_SIZES,
    Content,
    convert_trace,
    format_content,
    open_trace,
    open_trace_writer,
    parse_content,
    pool_offset,
    pool_random_page,
    pool_text_page,
    random_page,
    summarize,
    text_page,
    trace_header,
    trace_record,
)

PS = 4096
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


# (seed, page size, sha256 of text_page, of random_page): computed before pool contents existed
SEEDED = [
    (0, 4096, "5b0085e2c384de3bea4532f6199318c6", "7bae2933f026993fe39e736ff0313874"),
    (0, 65536, "6cef8e26ee532f5777fa48b4a0619ea3", "365cb234ee50c9f85ec2b7bcc8411a06"),
    (7, 4096, "fb9192ae845e95bb3cfd87fc202941b9", "2f8c2f834dd995672544168235c9d9de"),
    (12345, 65536, "93b9778d12b000b41cd0ffc3ef9a964b", "6910d69d14a04e78f821602d8fe974f9"),
    (2**48 + 3, 4096, "0f24ca50c9d9a030f8145a09fdae1c7c", "56014256624d94f4a2f0a7cfd47d9364"),
    ((1 << 64) - 1, 65536, "f034acdbfe30c308c67bdb841d62b60d", "bdd3fe636b0db571ae6832f2b073c704"),
]


@pytest.mark.parametrize(("seed", "size", "text", "rand"), SEEDED)
def test_seeded_pages_keep_their_bytes(seed: int, size: int, text: str, rand: str) -> None:
    assert sha(text_page(seed, size)) == text
    assert sha(random_page(seed, size)) == rand


# `ghostswap trace synth ... --seed 3` (and --workload zipf) before --page-contents existed
SYNTH = [
    ([], "text", "068f08017e0285d378a067e760bed79b083dcd88096c6449c443b4a9d66aef7d"),
    ([], "binary", "c35dc1fc38f2860713b08ac8d3740f787846d0d3d8319dea821f967bce0411dd"),
    (["--workload", "zipf"], "text", "203f9f0926709ccb714e5260bc72cf1fb7a0f90ee38edb814fa8c20889c312c4"),
    (["--workload", "zipf"], "binary", "4e16b22cb761ff1053ca17ed2ce132a8fd59dfdb94cf75c3a522125abb963f74"),
]


@pytest.mark.parametrize(("extra", "fmt", "digest"), SYNTH)
def test_synthetic_traces_keep_their_bytes_and_pool_ones_the_same_events(
        run_cli, tmp_path: Path, extra: list[str], fmt: str, digest: str) -> None:
    args = ["trace", "synth", "--no-progress", "--format", fmt, "--events", "3000",
            "--working-set", "500", "--seed", "3", *extra]
    seeded, pool = tmp_path / f"s.{fmt}", tmp_path / f"p.{fmt}"
    assert run_cli(*args, "-o", seeded).exit_code == 0
    assert hashlib.sha256(seeded.read_bytes()).hexdigest() == digest
    r = run_cli(*args, "--page-contents", "pool", "-o", pool)
    assert r.exit_code == 0, r.output
    swap = {K_TEXT: K_PTEXT, K_RANDOM: K_PRANDOM}
    with open_trace(seeded) as a, open_trace(pool) as b:
        assert a.version == b.version
        want = [(op, vpn, c._replace(kind=swap.get(c.kind, c.kind)) if c else c, t)
                for op, vpn, c, t in a.timed(materialize=False)]
        got = list(b.timed(materialize=False))
    assert got == want
    kinds = {k for _, _, c, _ in got if c is not None for k in [c.kind]}
    assert {K_PTEXT, K_PRANDOM} <= kinds and not kinds & {K_TEXT, K_RANDOM}


# sha256 of pool pages: the pools are part of the format and must never change
POOLED = [
    (0, "d08e52d0528daa7b1f5455021e27ff31", "255d56c480b4ccf1fca5a6cd16b6cc07"),
    (1, "3e1c697fb29153751119ed132e20d1c3", "e43dc3f9705dc243656165fed10b0abc"),
    (12345, "bc338d98f6f3855ca8239363cffcc236", "26da2bd8bd23e7531f8cb60cc7456cba"),
    ((1 << 64) - 1, "e559a081729b1cc4b95bea8f70032dbf", "db249c2658ebddb5f4e2fc9ac8ab3016"),
]


@pytest.mark.parametrize(("seed", "text", "rand"), POOLED)
def test_pool_pages_are_a_fixed_function_of_the_seed(seed: int, text: str, rand: str) -> None:
    assert sha(pool_text_page(seed, 4096)) == text
    assert sha(pool_random_page(seed, 65536)) == rand


@SETTINGS
@given(st.integers(0, (1 << 64) - 1), st.sampled_from(TRACE_PAGE_SIZES))
def test_pool_pages_have_the_size_and_longer_ones_extend_shorter(seed: int, size: int) -> None:
    assert 0 <= pool_offset(seed) < POOL_BYTES
    for make in (pool_text_page, pool_random_page):
        page = make(seed, size)
        assert len(page) == size and make(seed, size) == page
        assert make(seed, 65536)[:size] == page and make(seed, 4096) == page[:4096]
    assert pool_text_page(seed, size).isascii()
    assert pool_text_page(seed, size) != text_page(seed, size)  # other bytes than text:SEED


def test_pool_pages_compress_like_seeded_ones() -> None:
    """Per 4 KiB page with the real libraries: text ~2.3x lz4 and ~3.4x zstd, random not at
    all; the same as text:/random: pages, within a few percent."""
    zstd = zstandard.ZstdCompressor(level=3)

    def ratio(pages: list[bytes], compress) -> float:
        return sum(map(len, pages)) / sum(len(compress(p)) for p in pages)

    def lz4_block(p: bytes) -> bytes:
        return lz4.block.compress(p, store_size=False)

    seeds = range(0, 400 * 7919, 7919)
    ptext = [pool_text_page(s, PS) for s in seeds]
    text = [text_page(s, PS) for s in seeds]
    for compress, lo, hi in ((lz4_block, 2.0, 2.6), (zstd.compress, 3.0, 3.8)):
        assert lo <= ratio(ptext, compress) <= hi
        assert abs(ratio(ptext, compress) / ratio(text, compress) - 1) < 0.05
    prandom = [pool_random_page(s, PS) for s in seeds]
    assert ratio(prandom, lz4_block) < 1.01 and ratio(prandom, zstd.compress) < 1.01
    assert len(set(prandom)) == len(prandom) and len(set(ptext)) == len(ptext)


def test_descriptors() -> None:
    assert parse_content("ptext:7") == Content(K_PTEXT, 7)
    assert parse_content("prandom:0x10") == Content(K_PRANDOM, 16)
    assert format_content(Content(K_PTEXT, 7)) == "ptext:7"
    assert format_content(Content(K_PRANDOM, (1 << 64) - 1)) == f"prandom:{(1 << 64) - 1}"
    for bad in ("ptext:", "prandom:0x10000000000000000", "ptext:-1"):
        with pytest.raises(ValueError, match="the seed must be a number below 2"):
            parse_content(bad)


vpns = st.integers(min_value=0, max_value=(1 << 52) - 1)
u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
contents = st.one_of(
    u64.map(lambda v: Content(K_PTEXT, v)),
    u64.map(lambda v: Content(K_PRANDOM, v)),
    u64.map(lambda v: Content(K_TEXT, v)),
    st.just(Content(K_ZERO)),
)
# (op, vpn, content or None, timestamp step or None); access events make the trace version 2
events = st.lists(
    st.one_of(
        st.tuples(st.sampled_from([OP_OUT, OP_WRITE]), vpns, contents, st.none() | st.integers(0, 9)),
        st.tuples(st.sampled_from([OP_IN, OP_FREE, OP_READ]), vpns, st.none(),
                  st.none() | st.integers(0, 9)),
    ),
    max_size=25,
)


def _write(path: Path, fmt: str, evs: list) -> list:
    """Write ``evs`` (with running timestamps); returns what a reader should give back."""
    t = 0
    want = []
    with open_trace_writer(path, fmt) as w:
        for op, vpn, c, step in evs:
            ts = None if step is None else (t := t + step)
            if op == OP_OUT:
                w.out(vpn, c, t_ns=ts)
            elif op == OP_WRITE:
                w.write(vpn, c, t_ns=ts)
            elif op == OP_IN:
                w.in_(vpn, t_ns=ts)
            elif op == OP_FREE:
                w.free(vpn, t_ns=ts)
            else:
                w.read(vpn, t_ns=ts)
            want.append((op, vpn, c, ts))
    return want


@SETTINGS
@given(events, st.sampled_from(["text", "binary"]))
def test_round_trips_in_both_encodings(evs: list, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        first = folder / f"a.{fmt}"
        want = _write(first, fmt, evs)
        timed = any(step is not None for *_, step in evs)
        version = 2 if timed or any(op in (OP_READ, OP_WRITE) for op, *_ in evs) else 1
        with open_trace(first) as r:
            assert r.version == version
            assert list(r.timed(materialize=False)) == want
            pages = list(r)
        for op, _vpn, page in pages:
            assert (page is not None) == (op in (OP_OUT, OP_WRITE))
        expect = [None if c is None else
                  pool_text_page(c.value, PS) if c.kind == K_PTEXT else
                  pool_random_page(c.value, PS) if c.kind == K_PRANDOM else
                  text_page(c.value, PS) if c.kind == K_TEXT else bytes(PS)
                  for _, _, c, _ in want]
        assert [p for _, _, p in pages] == expect
        other = "binary" if fmt == "text" else "text"
        second, third = folder / f"b.{other}", folder / f"c.{fmt}"
        with open_trace(first) as r:
            assert convert_trace(r, second, other) == len(evs)
        with open_trace(second) as r:
            assert convert_trace(r, third, fmt) == len(evs)
        for p in (second, third):
            with open_trace(p) as r:
                assert r.version == version and list(r.timed(materialize=False)) == want


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([OP_OUT, OP_WRITE]), vpns,
                          st.sampled_from([K_PTEXT, K_PRANDOM, K_TEXT, K_FILL]), u64), max_size=20))
def test_construct_declaration_and_fast_reader_agree(recs: list) -> None:
    data = trace_header.build(dict(version=2, flags=0, page_size=PS)) + b"".join(
        trace_record.build(dict(head=dict(op=op, vpn=vpn, kind=kind), payload=v), page_size=PS)
        for op, vpn, kind, v in recs)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.gstrace"
        p.write_bytes(data)
        with open_trace(p) as r:
            assert [(op, vpn, c.kind, c.value) for op, vpn, c in r.events()] == recs
        written = Path(d) / "w.gstrace"
        with open_trace_writer(written, "binary") as w:
            for op, vpn, kind, v in recs:
                (w.out if op == OP_OUT else w.write)(vpn, Content(kind, v))
        if any(op == OP_WRITE for op, *_ in recs):
            assert written.read_bytes() == data
        parsed = trace_record.parse(data[16:], page_size=PS) if recs else None
        if parsed is not None:
            assert (parsed.head["kind"], parsed.payload) == recs[0][2:]


def test_trace_info_counts_pool_contents(run_cli, tmp_path: Path) -> None:
    p = tmp_path / "p.trace"
    p.write_text("ghostswap-trace 1\nout 1 ptext:7\nout 2 prandom:0x10\nout 3 text:1\nin 1\n")
    with open_trace(p) as r:
        assert summarize(r).kinds == {"text": 1, "ptext": 1, "prandom": 1}
    r = run_cli("trace", "info", "--json", p)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["kinds"] == {"text": 1, "ptext": 1, "prandom": 1}


def test_access_replay_of_pool_contents_binary_fast_path_equals_text(run_cli, tmp_path: Path) -> None:
    """The access replay's word-by-word binary decoder takes pool writes like seeded ones."""
    state = tmp_path / "state"

    def g(*args):
        r = run_cli("--state", state, *args)
        assert r.exit_code == 0, r.output
        return r

    g("kernel", "init", "--ram", "256M")
    g("mkswap", "--file", "--size", "32M", tmp_path / "real.swap")
    g("swapon", tmp_path / "real.swap")
    binary, text = tmp_path / "p.gst", tmp_path / "p.trace"
    g("trace", "synth", "--no-progress", "--workload", "phases", "--events", "6000",
      "--working-set", "1024", "--format", "binary", "--page-contents", "pool", "-o", binary)
    g("trace", "convert", "--no-progress", binary, text)
    a, b = (json.loads(g("replay", "--no-progress", "--json", t, "--memory-max", "2M").output)
            for t in (binary, text))
    assert a["swap_outs"] > 100 and a["corrupt_pages"] == 0
    for key in ("counters", "end", "accesses", "reads", "writes", "swap_outs", "refaults"):
        assert a[key] == b[key], key
