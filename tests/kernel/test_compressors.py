"""The crypto compressors: real lz4, zstd and zlib on real pages of files on this machine."""

from __future__ import annotations

import errno
import glob
import importlib.util
import random
import struct
import sysconfig
import zlib
from pathlib import Path

import lz4.block
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghostswap_cli.errors import GhostswapError, KernelError
from ghostswap_cli.kernel.compressors import (
    COMPRESSOR_IDS,
    DEFAULT_COMPRESSOR,
    MSG_COMPRESSOR_FALLBACK,
    MSG_COMPRESSOR_NOT_AVAILABLE,
    MSG_DEFAULT_COMPRESSOR_NOT_AVAILABLE,
    Compressor,
    DecompressError,
    InvalidCompressorLevel,
    UnknownCompressor,
    available_compressors,
    compressor_by_id,
    compressor_id,
    compressor_name_by_id,
    default_available_compressor,
    get_compressor,
    is_available,
    known_compressors,
)

PAGE = 4096
HAVE_LZO = importlib.util.find_spec("lzo") is not None
AVAILABLE = available_compressors()


def _machine_pages(count: int = 12) -> list[tuple[str, bytes]]:
    """Page-sized slices of files on this machine: Python sources (text), shared libraries
    (code and data) and /usr/share/doc (often already gzip-compressed)."""
    stdlib = sysconfig.get_paths()["stdlib"]
    groups = [
        sorted(glob.glob(f"{stdlib}/*.py")),
        sorted(glob.glob("/usr/lib/x86_64-linux-gnu/*.so*") + glob.glob("/usr/lib/*/*.so*")),
        sorted(glob.glob("/usr/share/doc/*/*")),
    ]
    pages: list[tuple[str, bytes]] = []
    for paths in groups:
        got = 0
        for p in paths:
            path = Path(p)
            try:
                if not path.is_file() or path.stat().st_size < 3 * PAGE:
                    continue
                with path.open("rb") as f:
                    f.seek(PAGE)
                    page = f.read(PAGE)
            except OSError:
                continue
            if len(page) == PAGE:
                pages.append((f"{path.parent.name}/{path.name}@4096", page))
                got += 1
            if got >= count // len(groups):
                break
    return pages


def _synthetic_pages() -> list[tuple[str, bytes]]:
    rnd = random.Random(1)
    words = b"swap zswap ghost page folio entry offset compress writeback pool ".split()
    text = b" ".join(rnd.choice(words) for _ in range(2000))[:PAGE]
    ints = b"".join(struct.pack("<Q", i * 4096 + 0xFFFF800000000000) for i in range(PAGE // 8))
    return [
        ("zero", bytes(PAGE)),
        ("ones", b"\xff" * PAGE),
        ("random", rnd.randbytes(PAGE)),
        ("text", text),
        ("pointers", ints),
        ("half-random", rnd.randbytes(PAGE // 2) + bytes(PAGE // 2)),
    ]


MACHINE_PAGES = _machine_pages()
PAGES = _synthetic_pages() + MACHINE_PAGES


def test_machine_pages_were_found() -> None:
    # The round trips below are only as good as the real data they see.
    assert len(MACHINE_PAGES) >= 4, "expected page-sized slices of files on this machine"


# --- registry --------------------------------------------------------------------------------


def test_known_names_are_the_kernel_crypto_names_in_order() -> None:
    assert known_compressors() == ["lzo", "lzo-rle", "lz4", "lz4hc", "zstd", "deflate", "842"]


def test_available_compressors_here() -> None:
    assert {"lz4", "lz4hc", "zstd", "deflate"} <= set(AVAILABLE)
    assert "lzo-rle" not in AVAILABLE and "842" not in AVAILABLE
    assert ("lzo" in AVAILABLE) == HAVE_LZO
    assert [n for n in known_compressors() if n in AVAILABLE] == AVAILABLE
    assert all(is_available(n) == (n in AVAILABLE) for n in known_compressors())


@pytest.mark.parametrize("name", ["lzo-rle", "842", "snappy", "", "LZ4"])
def test_unknown_or_unavailable_name_gives_the_kernel_message(name: str) -> None:
    with pytest.raises(UnknownCompressor) as info:
        get_compressor(name)
    assert str(info.value) == f"compressor {name} not available"
    assert isinstance(info.value, KernelError) and isinstance(info.value, GhostswapError)
    assert info.value.errno == errno.ENOENT


def test_lzo_without_python_lzo_is_not_available() -> None:
    if HAVE_LZO:
        pytest.skip("python-lzo is installed here; the unavailable path cannot be seen")
    with pytest.raises(UnknownCompressor, match="^compressor lzo not available$"):
        get_compressor("lzo")


def test_default_and_fallback() -> None:
    assert DEFAULT_COMPRESSOR == "lzo"
    assert default_available_compressor() == ("lzo" if HAVE_LZO else "lz4")
    assert default_available_compressor() in AVAILABLE
    # The kernel's lines, as zswap's pr_err prints them (after the "zswap: " prefix).
    assert MSG_COMPRESSOR_FALLBACK % ("zstd", "lzo") == \
        "compressor zstd not available, using default lzo"
    assert MSG_COMPRESSOR_NOT_AVAILABLE % "842" == "compressor 842 not available"
    assert MSG_DEFAULT_COMPRESSOR_NOT_AVAILABLE % "lzo" == "default compressor lzo not available"


def test_compressor_ids_are_stable() -> None:
    # Persisted in the state database: these numbers must never change.
    assert COMPRESSOR_IDS == {"lzo": 1, "lzo-rle": 2, "lz4": 3, "lz4hc": 4, "zstd": 5,
                              "deflate": 6, "842": 7}
    for name in known_compressors():
        assert compressor_name_by_id(compressor_id(name)) == name
    for name in AVAILABLE:
        c = compressor_by_id(compressor_id(name))
        assert c.name == name and c.id == compressor_id(name)
    with pytest.raises(UnknownCompressor):
        compressor_by_id(0)  # 0 means "stored uncompressed", not a compressor
    with pytest.raises(UnknownCompressor):
        compressor_by_id(99)
    with pytest.raises(UnknownCompressor):
        compressor_id("bogus")
    with pytest.raises(UnknownCompressor, match="not available"):
        compressor_by_id(COMPRESSOR_IDS["842"])


def test_instances_are_cached_per_name_and_level() -> None:
    assert get_compressor("zstd") is get_compressor("zstd", 3)
    assert get_compressor("zstd", 1) is not get_compressor("zstd")
    assert isinstance(get_compressor("lz4"), Compressor)


# --- levels ----------------------------------------------------------------------------------


def test_default_levels_mirror_the_kernel() -> None:
    assert get_compressor("zstd").level == 3  # crypto/zstd.c ZSTD_DEF_LEVEL
    assert get_compressor("lz4hc").level == 9  # LZ4HC_DEFAULT_CLEVEL
    assert get_compressor("deflate").level == -1  # Z_DEFAULT_COMPRESSION
    assert get_compressor("lz4").level == 1  # LZ4_compress_default: acceleration 1


def test_zstd_level_is_settable_and_changes_the_output() -> None:
    page = dict(PAGES)["text"]
    fast = get_compressor("zstd", 1)
    strong = get_compressor("zstd", 19)
    assert (fast.level, strong.level) == (1, 19)
    a, b = fast.compress(page), strong.compress(page)
    assert a != b
    assert len(b) < len(a)
    # Levels do not matter for decompression: an entry stored at one level loads with any.
    assert get_compressor("zstd").decompress(a, PAGE) == page
    assert get_compressor("zstd").decompress(b, PAGE) == page


def test_lz4_level_is_acceleration_and_lz4hc_level_is_clevel() -> None:
    page = dict(PAGES)["text"]
    accel = get_compressor("lz4", 8)
    assert accel.compress(page) == lz4.block.compress(page, mode="fast", acceleration=8,
                                                      store_size=False)
    hc3 = get_compressor("lz4hc", 3)
    assert hc3.compress(page) == lz4.block.compress(page, mode="high_compression",
                                                    compression=3, store_size=False)
    assert get_compressor("lz4").decompress(accel.compress(page), PAGE) == page


@pytest.mark.parametrize(("name", "level"), [
    ("zstd", 23), ("lz4hc", 0), ("lz4hc", 13), ("lz4", 0), ("deflate", 10), ("deflate", -2),
])
def test_level_out_of_range_is_refused(name: str, level: int) -> None:
    with pytest.raises(InvalidCompressorLevel) as info:
        get_compressor(name, level)
    assert info.value.errno == errno.EINVAL
    assert name in str(info.value) and str(level) in str(info.value)


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize(("label", "page"), PAGES, ids=[label for label, _ in PAGES])
def test_round_trip(name: str, label: str, page: bytes) -> None:
    c = get_compressor(name)
    blob = c.compress(page)
    assert isinstance(blob, bytes) and blob
    assert c.decompress(blob, PAGE) == page


@pytest.mark.parametrize("name", AVAILABLE)
def test_round_trip_of_64k_pages(name: str) -> None:
    page = b"".join(p for _, p in PAGES)[: 65536].ljust(65536, b"\0")
    c = get_compressor(name)
    assert c.decompress(c.compress(page), 65536) == page


@pytest.mark.parametrize("name", AVAILABLE)
def test_random_page_compresses_to_at_least_a_page(name: str) -> None:
    # What makes zswap reject (6.12) or store as-is (6.18) an incompressible page.
    page = dict(PAGES)["random"]
    assert len(get_compressor(name).compress(page)) >= PAGE


def test_lz4_random_page_output_exceeds_page_size() -> None:
    page = random.Random(7).randbytes(PAGE)
    out = get_compressor("lz4").compress(page)
    assert len(out) > PAGE
    assert get_compressor("lz4").decompress(out, PAGE) == page


def test_zero_page_compresses_very_well() -> None:
    for name in AVAILABLE:
        assert len(get_compressor(name).compress(bytes(PAGE))) < 64, name


def test_lz4_is_a_bare_block_and_lz4hc_is_lz4() -> None:
    page = dict(PAGES)["text"]
    blob = get_compressor("lz4").compress(page)
    assert blob == lz4.block.compress(page, store_size=False)
    assert lz4.block.decompress(blob, uncompressed_size=PAGE) == page
    # LZ4HC emits the same block format: the kernel decompresses both with LZ4_decompress_safe.
    assert get_compressor("lz4").decompress(get_compressor("lz4hc").compress(page), PAGE) == page


def test_zstd_frame_has_content_size_and_no_checksum() -> None:
    blob = get_compressor("zstd").compress(dict(PAGES)["text"])
    params = zstandard.get_frame_parameters(blob)
    assert params.content_size == PAGE
    assert not params.has_checksum


def test_deflate_uses_the_kernel_stream_parameters() -> None:
    # crypto/deflate.c: zlib_deflateInit2(Z_DEFAULT_COMPRESSION, Z_DEFLATED, -11, MAX_MEM_LEVEL
    # = 8, Z_DEFAULT_STRATEGY). The page repeats 1000 bytes at distance 3000, which a 2 KiB
    # window (11 bits) cannot reach but the usual 32 KiB window can: the window size shows.
    rnd = random.Random(3)
    head = rnd.randbytes(1000)
    page = (head + rnd.randbytes(2000) + head + rnd.randbytes(96))[:PAGE]
    ours = get_compressor("deflate").compress(page)
    kernel_like = zlib.compressobj(-1, zlib.DEFLATED, -11, 8, zlib.Z_DEFAULT_STRATEGY)
    assert ours == kernel_like.compress(page) + kernel_like.flush()
    wide = zlib.compressobj(-1, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    assert len(wide.compress(page) + wide.flush()) < len(ours) - 500
    d = zlib.decompressobj(-11)
    assert d.decompress(ours) == page and d.eof
    with pytest.raises(zlib.error):  # raw deflate: no zlib header
        zlib.decompress(ours)


@pytest.mark.skipif(not HAVE_LZO, reason="python-lzo not installed (needs liblzo2-dev to build)")
def test_lzo_round_trip_without_header() -> None:  # pragma: no cover - depends on the machine
    import lzo  # type: ignore[import-not-found]

    c = get_compressor("lzo")
    for _, page in PAGES:
        blob = c.compress(page)
        assert c.decompress(blob, PAGE) == page
        assert lzo.decompress(blob, False, PAGE) == page


# --- corrupt input ---------------------------------------------------------------------------


def _corruptions(blob: bytes) -> list[tuple[str, bytes]]:
    rnd = random.Random(len(blob))
    flipped = bytearray(blob)
    for _ in range(8):
        i = rnd.randrange(len(flipped))
        flipped[i] ^= 0xFF
    return [
        ("empty", b""),
        ("truncated", blob[: len(blob) // 2]),
        ("last byte missing", blob[:-1]),
        ("flipped", bytes(flipped)),
        ("garbage", rnd.randbytes(300)),
        ("zeros", bytes(64)),
    ]


@pytest.mark.parametrize("name", AVAILABLE)
def test_corrupt_input_raises_decompress_error_only(name: str) -> None:
    c = get_compressor(name)
    page = dict(PAGES)["text"]
    blob = c.compress(page)
    for label, bad in _corruptions(blob):
        try:
            out = c.decompress(bad, PAGE)
        except DecompressError as exc:
            assert exc.compressor == name and exc.length == len(bad), label
            assert isinstance(exc, GhostswapError)
        else:
            # A flipped literal can still decode; the length contract must hold then.
            assert len(out) == PAGE, label
            assert label == "flipped"


@pytest.mark.parametrize("name", AVAILABLE)
def test_wrong_length_is_an_error_never_silent(name: str) -> None:
    c = get_compressor(name)
    half = dict(PAGES)["text"][: PAGE // 2]
    with pytest.raises(DecompressError) as info:
        c.decompress(c.compress(half), PAGE)  # decodes fine, but to 2048 bytes
    assert info.value.dlen in (None, PAGE // 2)
    with pytest.raises(DecompressError):
        c.decompress(c.compress(dict(PAGES)["text"]), PAGE // 2)  # longer than asked


def test_zstd_header_claiming_a_huge_size_is_refused_cheaply() -> None:
    # zstandard would try to allocate the declared content size (1 TiB) before decoding.
    frame = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", 1 << 40) + b"\x01\x00\x00"
    with pytest.raises(DecompressError, match="declares"):
        get_compressor("zstd").decompress(frame, PAGE)


def test_deflate_bomb_is_bounded() -> None:
    bomb = zlib.compress(bytes(1 << 24), 9, -11)  # 16 MiB of zeros in ~16 KiB
    with pytest.raises(DecompressError, match="does not end within the page"):
        get_compressor("deflate").decompress(bomb, PAGE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(AVAILABLE), data=st.binary(max_size=5000))
def test_arbitrary_bytes_never_escape_as_other_errors(name: str, data: bytes) -> None:
    try:
        out = get_compressor(name).decompress(data, PAGE)
    except DecompressError:
        return
    assert len(out) == PAGE


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(AVAILABLE), label=st.sampled_from([lbl for lbl, _ in PAGES]),
       pos=st.integers(min_value=0), value=st.integers(0, 255))
def test_mutated_streams_never_escape_as_other_errors(name: str, label: str, pos: int,
                                                      value: int) -> None:
    c = get_compressor(name)
    blob = bytearray(c.compress(dict(PAGES)[label]))
    blob[pos % len(blob)] = value
    try:
        out = c.decompress(bytes(blob), PAGE)
    except DecompressError:
        return
    assert len(out) == PAGE


def test_decompress_error_message_names_lengths() -> None:
    with pytest.raises(DecompressError) as info:
        get_compressor("lz4").decompress(b"\xff\xff", PAGE)
    assert str(info.value).startswith("lz4: decompression failed (2->?): ")
