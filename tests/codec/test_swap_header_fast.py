"""The struct-based header read (what listing areas and swapon use, without importing construct)
returns exactly what the construct declaration parses, on any page that carries the magic."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.codec.swap_header import (
    VERSION_OFFSET,
    ByteOrder,
    SwapHeader,
    _parse_fields,
    swap_header_v1_2,
)
from ghostswap_cli.uapi import SWAP_SIGNATURE, SWAP_SIGNATURE_SZ


def by_construct(page: bytes, page_size: int, order: ByteOrder) -> SwapHeader:
    c = swap_header_v1_2(page_size, order).parse(page[:page_size])
    return SwapHeader(page_size, order, c.version, c.last_page, c.nr_badpages, bytes(c.sws_uuid),
                      bytes(c.sws_volume), tuple(c.badpages), bytes(c.bootbits), bytes(c.padding))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([4096, 8192, 16384, 65536]), st.sampled_from(list(ByteOrder)),
       st.binary(min_size=64, max_size=64), st.integers(0, 2**32 - 1), st.integers(0, 3000),
       st.integers(0, 2**32), st.integers(0, 100))
def test_struct_read_equals_the_declaration(page_size, order, head, last_page, nr_bad, seed, extra):
    page = bytearray(random.Random(seed).randbytes(page_size + extra))
    e = "little" if order is ByteOrder.LITTLE else "big"
    page[VERSION_OFFSET:VERSION_OFFSET + 12] = (b"".join(
        v.to_bytes(4, e) for v in (int.from_bytes(head[:4], "little"), last_page, nr_bad)))
    page[page_size - SWAP_SIGNATURE_SZ:page_size] = SWAP_SIGNATURE
    page = bytes(page)
    assert _parse_fields(page, page_size, order) == by_construct(page, page_size, order)
