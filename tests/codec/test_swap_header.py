"""The SWAPSPACE2 header codec: layout against bytes written with struct, signature search,
classification, UUIDs, and hypothesis round trips."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from construct import ConstError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from userspace.images import UUID_A, swap_page

from ghostswap_cli.codec.swap_header import (
    LABEL_OFFSET,
    TOI_MAGIC,
    UUID_OFFSET,
    VERSION_OFFSET,
    ByteOrder,
    HeaderKind,
    SwapHeader,
    build_swap_header,
    classify,
    detect_byteorder,
    find_swap_header,
    format_uuid,
    header_size,
    parse_swap_header,
    parse_uuid,
    swap_header_v1_2,
)
from ghostswap_cli.uapi import MAX_SWAP_BADPAGES, PAGE_SIZES

PAGE_SIZE_CHOICES = (4096, 8192, 16384, 32768, 65536)


def common(header: SwapHeader, expected: bytes) -> None:
    """build -> the expected bytes, parse -> the same header, sizeof -> the page size."""
    assert build_swap_header(header) == expected
    assert parse_swap_header(expected, header.page_size, header.byteorder) == header
    assert swap_header_v1_2(header.page_size, header.byteorder).sizeof() == header.page_size


class TestLayout:
    def test_offsets_are_the_kernels(self):
        assert (VERSION_OFFSET, UUID_OFFSET, LABEL_OFFSET) == (1024, 1036, 1052)
        assert header_size(4096) == 4096

    @pytest.mark.parametrize("page_size", PAGE_SIZE_CHOICES)
    @pytest.mark.parametrize("order", [ByteOrder.LITTLE, ByteOrder.BIG])
    def test_matches_struct_layout(self, page_size, order):
        uuid = parse_uuid(UUID_A)
        h = SwapHeader(page_size, order, 1, 262143, 3, uuid, b"swap".ljust(16, b"\0"), (7, 8, 9))
        expected = swap_page(page_size, last_page=262143, label=b"swap", uuid=uuid,
                             badpages=(7, 8, 9), order="<" if order is ByteOrder.LITTLE else ">")
        common(h, expected)

    def test_mkswap_40k_hexdump(self):
        # swap-header.md: 0x400: 01 00 00 00 | ff ff 03 00 | 00 00 00 00 for 262144 pages
        page = build_swap_header(SwapHeader(4096, ByteOrder.LITTLE, 1, 0x3FFFF, 0))
        assert page[0x400:0x40C] == bytes.fromhex("01000000ffff030000000000")
        assert page[0xFF6:] == b"SWAPSPACE2"
        assert not any(page[:0x400]) and not any(page[0x40C:0xFF6])

    def test_too_many_bad_pages_is_refused_on_build(self):
        n = MAX_SWAP_BADPAGES(4096) + 1
        with pytest.raises(ValueError, match="too many bad pages"):
            build_swap_header(SwapHeader(4096, ByteOrder.LITTLE, 1, 100000, n, badpages=tuple(range(1, n + 1))))

    def test_max_bad_pages_fit(self):
        n = MAX_SWAP_BADPAGES(4096)
        assert n == 637
        h = SwapHeader(4096, ByteOrder.LITTLE, 1, 100000, n, badpages=tuple(range(1, n + 1)))
        assert parse_swap_header(build_swap_header(h), 4096) == h

    def test_wrong_magic_is_a_const_error(self):
        with pytest.raises(ConstError):
            parse_swap_header(bytes(4096), 4096)

    def test_corrupt_count_never_reads_into_the_magic(self):
        page = swap_page(4096, badpages=(1, 2))
        page = page[:1032] + struct.pack("<I", 0xFFFFFFFF) + page[1036:]
        h = parse_swap_header(page, 4096)
        assert h.nr_badpages == 0xFFFFFFFF
        assert len(h.badpages) == MAX_SWAP_BADPAGES(4096)

    def test_properties(self):
        h = SwapHeader(4096, ByteOrder.LITTLE, 1, 9, 0, bytes(16), b"ab\0cd".ljust(16, b"\0"))
        assert h.label == "ab" and h.uuid is None
        assert (h.nr_pages, h.declared_bytes, h.usable_pages) == (10, 40960, 9)
        assert h.padding_clean
        dirty = dataclasses.replace(h, padding=bytes(128) + b"\1" + bytes(339))
        assert not dirty.padding_clean


class TestFind:
    @pytest.mark.parametrize("page_size", PAGE_SIZES)
    def test_found_at_each_page_size(self, page_size):
        data = swap_page(page_size) + bytes(65536)
        found = find_swap_header(data)
        assert found is not None and found.page_size == page_size
        assert (found.type, found.blkid_version, found.version) == ("swap", "1", 1)

    def test_big_endian_detected(self):
        page = swap_page(4096, order=">", last_page=99)
        assert detect_byteorder(page, 4096) is ByteOrder.BIG
        found = find_swap_header(page)
        assert found.header.byteorder is ByteOrder.BIG and found.header.last_page == 99

    def test_old_signature_is_version_0(self):
        found = find_swap_header(swap_page(4096, magic=b"SWAP-SPACE"))
        assert found.header is None and found.version == 0 and found.blkid_version == "0"

    def test_nothing(self):
        assert find_swap_header(bytes(65536)) is None
        assert find_swap_header(b"") is None
        assert find_swap_header(swap_page(8192)[:4096]) is None

    @pytest.mark.parametrize(
        "magic,version",
        [(b"S1SUSPEND", "s1suspend"), (b"S2SUSPEND", "s2suspend"), (b"ULSUSPEND", "ulsuspend"),
         (b"LINHIB0001", "linhib0001")],
    )
    def test_suspend_signatures(self, magic, version):
        page = swap_page(4096, magic=magic, label=b"hib", uuid=parse_uuid(UUID_A))
        assert find_swap_header(page) is None  # the kernel's view: not a swap area
        found = find_swap_header(page, suspend=True)
        assert (found.type, found.blkid_version, found.is_suspend) == ("swsuspend", version, True)
        assert found.header.label == "hib"

    def test_tuxonice_takes_a_valid_swap_header(self):
        page = swap_page(4096, bootbits=TOI_MAGIC + bytes(1016))
        assert find_swap_header(page).type == "swap"
        found = find_swap_header(page, suspend=True)
        assert (found.type, found.blkid_version, found.page_size) == ("swsuspend", "tuxonice", 4096)


class TestClassify:
    def test_file(self):
        found, c = classify(swap_page(4096, last_page=9), 40960)
        assert found.page_size == 4096 and c.kind is HeaderKind.FILE and c.reason is None

    def test_ghost(self):
        _f, c = classify(swap_page(4096, last_page=16383), 4096)
        assert c.kind is HeaderKind.GHOST

    def test_short(self):
        _f, c = classify(swap_page(4096, last_page=16383), 8192)
        assert c == type(c)(HeaderKind.SHORT, "Swap area shorter than signature indicates")

    @pytest.mark.parametrize(
        "page,size,reason",
        [
            (swap_page(4096, version=2), 40960, "Unable to handle swap header version 2"),
            (swap_page(4096, version=0xFFFFFFFF), 40960, "Unable to handle swap header version -1"),
            (swap_page(4096, last_page=0), 40960, "Empty swap-file"),
            (swap_page(4096, badpages=(3,)), 40960, "bad pages are only supported on block devices"),
            (bytes(4096), 4096, "Unable to find swap-space signature"),
            (bytes(100), 100, "file is shorter than one page"),
            (swap_page(4096, magic=b"SWAP-SPACE"), 40960, "old SWAP-SPACE signature (version 0) is not supported"),
        ],
    )
    def test_invalid(self, page, size, reason):
        _f, c = classify(page, size)
        assert (c.kind, c.reason) == (HeaderKind.INVALID, reason)

    def test_big_endian_with_too_many_bad_pages(self):
        page = bytearray(swap_page(4096, order=">", last_page=2000))
        struct.pack_into(">I", page, 1032, 1000)
        _f, c = classify(bytes(page), 4096 * 2001)
        assert (c.kind, c.reason) == (HeaderKind.INVALID, "too many bad pages: 1000")

    def test_bad_pages_allowed_on_block_devices(self):
        _f, c = classify(swap_page(4096, badpages=(3,)), 40960, regular_file=False)
        assert c.kind is HeaderKind.FILE

    def test_pinned_page_size(self):
        found, c = classify(swap_page(65536, last_page=99), 65536 * 100, page_size=4096)
        assert found is None and c.reason == "Unable to find swap-space signature"


class TestUuid:
    def test_round_trip(self):
        assert format_uuid(parse_uuid(UUID_A)) == UUID_A
        assert parse_uuid(UUID_A.upper()) == parse_uuid(UUID_A)

    @pytest.mark.parametrize(
        "text",
        ["", "bad", "clear", UUID_A[:-1], UUID_A + "0", UUID_A.replace("-", "x"),
         "1111111-12222-3333-4444-555555555555", "g1111111-2222-3333-4444-555555555555",
         "11111111-2222-3333-4444-55555555555\u0665"],
    )
    def test_refused(self, text):
        with pytest.raises(ValueError):
            parse_uuid(text)


# ------------------------------------------------------------------------------------------
# properties

u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def headers(draw) -> SwapHeader:
    page_size = draw(st.sampled_from(PAGE_SIZE_CHOICES))
    order = draw(st.sampled_from(list(ByteOrder)))
    max_bad = MAX_SWAP_BADPAGES(page_size)
    mode = draw(st.sampled_from(["few", "full", "count"]))
    if mode == "few":
        bad = tuple(draw(st.lists(u32, max_size=12)))
    elif mode == "full":
        start = draw(st.integers(0, 1000))
        bad = tuple(range(start, start + max_bad))
    else:
        bad = tuple(range(draw(st.integers(0, max_bad))))
    return SwapHeader(
        page_size=page_size,
        byteorder=order,
        version=draw(u32),
        last_page=draw(u32),
        nr_badpages=len(bad),
        sws_uuid=draw(st.binary(min_size=16, max_size=16)),
        sws_volume=draw(st.binary(min_size=16, max_size=16)),
        badpages=bad,
        bootbits=draw(st.one_of(st.just(bytes(1024)), st.binary(min_size=1024, max_size=1024))),
        padding=draw(st.one_of(st.just(bytes(468)), st.binary(min_size=468, max_size=468))),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers())
def test_parse_build_round_trip(h):
    page = build_swap_header(h)
    assert len(page) == h.page_size
    assert page[-10:] == b"SWAPSPACE2"
    assert parse_swap_header(page, h.page_size, h.byteorder) == h


@settings(max_examples=150, deadline=None)
@given(headers())
def test_find_agrees_with_build(h):
    page = build_swap_header(h)
    found = find_swap_header(page + bytes(65536 - len(page)))
    assert found is not None and found.page_size <= h.page_size
    if found.page_size == h.page_size and h.version == 1:
        assert found.header.byteorder is h.byteorder
        assert found.header == h


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=70000), st.integers(0, 1 << 40), st.sampled_from([None, 4096, 65536]))
def test_random_bytes_never_raise(data, size, page_size):
    find_swap_header(data)
    find_swap_header(data, suspend=True)
    classify(data, size, page_size)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(PAGE_SIZE_CHOICES),
    st.lists(st.tuples(st.integers(0, 65535), st.integers(0, 255)), max_size=40),
    st.integers(0, 1 << 36),
)
def test_mutated_headers_never_raise(page_size, mutations, size):
    page = bytearray(swap_page(page_size, last_page=1000, badpages=(1, 2, 3)) + bytes(65536 - page_size))
    for off, value in mutations:
        page[off] = value
    found, c = classify(bytes(page), size)
    assert c.kind in HeaderKind
    find_swap_header(bytes(page), suspend=True)
