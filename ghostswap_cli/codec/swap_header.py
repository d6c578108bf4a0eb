"""The SWAPSPACE2 swap header, declared once for parse and build.

Mirrors ``union swap_header`` in include/linux/swap.h and ``struct swap_header_v1_2`` in
util-linux include/swapheader.h: page 0 of a swap area holds 1024 bytes of ``bootbits``, then
``version``, ``last_page``, ``nr_badpages``, the UUID, the volume label, 117 words of padding and
the bad-page list, with the 10-byte magic in the last bytes of the page. The integers are in the
byte order of the writer; UUID and label bytes are never swapped.

Detection follows the kernel (``read_swap_header``: magic at PAGE_SIZE-10, byte-swapped header
accepted when ``swab32(version) == 1``) and libblkid (magic probed at each candidate page size,
the old ``SWAP-SPACE`` signature reported as version 0; with ``suspend=True`` also the
software-suspend signatures libblkid reports as ``swsuspend``, libblkid/src/superblocks/swap.c
v2.38.1).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import uuid as _uuid
from typing import TYPE_CHECKING

from ghostswap_cli.uapi import (
    MAX_SWAP_BADPAGES,
    OLD_SWAP_SIGNATURE,
    PAGE_SIZES,
    SWAP_HEADER_BADPAGES_OFFSET,
    SWAP_LABEL_LENGTH,
    SWAP_SIGNATURE,
    SWAP_SIGNATURE_SZ,
    SWAP_UUID_LENGTH,
)

if TYPE_CHECKING:
    from construct import Struct

__all__ = (
    "ByteOrder",
    "SwapHeader",
    "swap_header_v1_2",
    "header_size",
    "build_swap_header",
    "parse_swap_header",
    "find_swap_header",
    "FoundSignature",
    "SUSPEND_SIGNATURES",
    "TOI_MAGIC",
    "HeaderKind",
    "Classification",
    "classify",
    "format_uuid",
    "parse_uuid",
    "LABEL_OFFSET",
    "UUID_OFFSET",
    "VERSION_OFFSET",
    "PADDING_OFFSET",
    "BOOTBITS_SIZE",
    "detect_byteorder",
)

BOOTBITS_SIZE = 1024
PADDING_SIZE = 117 * 4

# libblkid swsuspend_idinfo: signatures hibernation code writes where SWAPSPACE2 was, with the
# VERSION libblkid reports for each. S1SUSPEND, S2SUSPEND and ULSUSPEND are matched on 9 bytes.
SUSPEND_SIGNATURES: dict[bytes, str] = {
    b"S1SUSPEND": "s1suspend",
    b"S2SUSPEND": "s2suspend",
    b"ULSUSPEND": "ulsuspend",
    b"LINHIB0001": "linhib0001",
}
# TuxOnIce keeps this at offset 0 and a valid swap header at the end of page 0.
TOI_MAGIC = b"\xed\xc3\x02\xe9\x98\x56\xe5\x0c"


class ByteOrder(enum.Enum):
    LITTLE = "little"
    BIG = "big"


@functools.cache
def swap_header_v1_2(page_size: int = 4096, byteorder: ByteOrder = ByteOrder.LITTLE) -> Struct:
    """The whole header page for ``page_size`` and ``byteorder``.

    ``nr_badpages`` is rebuilt from the list on build; on parse the list is cut at what fits
    before the magic, so a corrupt count never reads into the signature.
    """
    # construct is imported here, not at the top: reading /proc/swaps or listing areas needs
    # no header parser, and the import is a third of a bare command's start-up
    from construct import Array, Bytes, Const, Int32ub, Int32ul, Padded, Rebuild, Struct, len_, this

    u32 = Int32ul if byteorder is ByteOrder.LITTLE else Int32ub
    max_bad = MAX_SWAP_BADPAGES(page_size)
    badpages_area = page_size - SWAP_SIGNATURE_SZ - SWAP_HEADER_BADPAGES_OFFSET
    return Struct(
        "bootbits" / Bytes(BOOTBITS_SIZE) * "reserved for a boot loader or disk label",
        "version" / u32 * "header version, 1 for SWAPSPACE2",
        "last_page" / u32 * "index of the last page: pages in the area, header included, - 1",
        "nr_badpages" / Rebuild(u32, len_(this.badpages)),
        "sws_uuid" / Bytes(SWAP_UUID_LENGTH),
        "sws_volume" / Bytes(SWAP_LABEL_LENGTH),
        "padding" / Bytes(PADDING_SIZE),
        "badpages"
        / Padded(badpages_area, Array(lambda ctx: min(ctx.nr_badpages, max_bad), u32)),
        "magic" / Const(SWAP_SIGNATURE),
    )


# Offsets derived from the declaration, as util-linux swaplabel derives them from the struct.
VERSION_OFFSET = BOOTBITS_SIZE
UUID_OFFSET = VERSION_OFFSET + 12
LABEL_OFFSET = UUID_OFFSET + SWAP_UUID_LENGTH
PADDING_OFFSET = LABEL_OFFSET + SWAP_LABEL_LENGTH
assert PADDING_OFFSET + PADDING_SIZE == SWAP_HEADER_BADPAGES_OFFSET


def header_size(page_size: int) -> int:
    return swap_header_v1_2(page_size).sizeof()


@dataclasses.dataclass(frozen=True)
class SwapHeader:
    """A parsed SWAPSPACE2 header, with the kernel's field names."""

    page_size: int
    byteorder: ByteOrder
    version: int
    last_page: int
    nr_badpages: int
    sws_uuid: bytes = bytes(SWAP_UUID_LENGTH)
    sws_volume: bytes = bytes(SWAP_LABEL_LENGTH)
    badpages: tuple[int, ...] = ()
    bootbits: bytes = dataclasses.field(default=bytes(BOOTBITS_SIZE), repr=False)
    padding: bytes = dataclasses.field(default=bytes(PADDING_SIZE), repr=False)

    @property
    def label(self) -> str:
        raw = self.sws_volume.split(b"\0", 1)[0]
        return raw.decode("utf-8", "replace")

    @property
    def uuid(self) -> str | None:
        """The UUID as blkid prints it, or None when it is all zero (``mkswap -U clear``)."""
        if not any(self.sws_uuid):
            return None
        return format_uuid(self.sws_uuid)

    @property
    def padding_clean(self) -> bool:
        """libblkid trusts LABEL and UUID only when ``padding[32]`` and ``padding[33]`` are 0."""
        return not any(self.padding[32 * 4 : 34 * 4])

    @property
    def nr_pages(self) -> int:
        """Pages the header declares, the header page included (``last_page + 1``)."""
        return self.last_page + 1

    @property
    def declared_bytes(self) -> int:
        return self.nr_pages * self.page_size

    @property
    def usable_pages(self) -> int:
        """Pages mkswap reports and the kernel counts: all but the header and listed bad pages."""
        return max(self.last_page - len(self.badpages), 0)


def build_swap_header(header: SwapHeader) -> bytes:
    """The full header page; byte-identical to util-linux mkswap's page for the same fields.

    Raises ``ValueError`` when the bad-page list does not fit before the magic (mkswap stops
    earlier with ``too many bad pages``).
    """
    max_bad = MAX_SWAP_BADPAGES(header.page_size)
    if len(header.badpages) > max_bad:
        raise ValueError(f"too many bad pages: {len(header.badpages)} (at most {max_bad})")
    fmt = swap_header_v1_2(header.page_size, header.byteorder)
    return fmt.build(
        dict(
            bootbits=header.bootbits,
            version=header.version,
            last_page=header.last_page,
            sws_uuid=header.sws_uuid,
            sws_volume=header.sws_volume,
            padding=header.padding,
            badpages=list(header.badpages),
        )
    )


def parse_swap_header(
    page: bytes, page_size: int, byteorder: ByteOrder = ByteOrder.LITTLE
) -> SwapHeader:
    """Parse ``page`` (at least ``page_size`` bytes) in the given byte order.

    Raises ``construct.ConstError`` when the magic is not at ``page_size - 10``.
    """
    if len(page) >= page_size and page[page_size - SWAP_SIGNATURE_SZ : page_size] == SWAP_SIGNATURE:
        return _parse_fields(page, page_size, byteorder)
    # the declaration decides what is wrong (and raises construct's error for it)
    c = swap_header_v1_2(page_size, byteorder).parse(page[:page_size])
    return SwapHeader(
        page_size=page_size,
        byteorder=byteorder,
        version=c.version,
        last_page=c.last_page,
        nr_badpages=c.nr_badpages,
        sws_uuid=bytes(c.sws_uuid),
        sws_volume=bytes(c.sws_volume),
        badpages=tuple(c.badpages),
        bootbits=bytes(c.bootbits),
        padding=bytes(c.padding),
    )


def _parse_fields(page: bytes, page_size: int, byteorder: ByteOrder) -> SwapHeader:
    """What ``swap_header_v1_2(...).parse`` returns for a page with the magic in place, read at
    the offsets derived from the declaration with ``struct`` (listing areas and swapon read
    headers; importing construct would be a third of such a command's start-up). The tests
    compare the two on random pages."""
    import struct

    e = "<" if byteorder is ByteOrder.LITTLE else ">"
    version, last_page, nr_badpages = struct.unpack_from(e + "3I", page, VERSION_OFFSET)
    n = min(nr_badpages, MAX_SWAP_BADPAGES(page_size))
    return SwapHeader(
        page_size=page_size,
        byteorder=byteorder,
        version=version,
        last_page=last_page,
        nr_badpages=nr_badpages,
        sws_uuid=bytes(page[UUID_OFFSET : UUID_OFFSET + SWAP_UUID_LENGTH]),
        sws_volume=bytes(page[LABEL_OFFSET : LABEL_OFFSET + SWAP_LABEL_LENGTH]),
        badpages=struct.unpack_from(f"{e}{n}I", page, SWAP_HEADER_BADPAGES_OFFSET),
        bootbits=bytes(page[:BOOTBITS_SIZE]),
        padding=bytes(page[PADDING_OFFSET : PADDING_OFFSET + PADDING_SIZE]),
    )


def _swab32(v: int) -> int:
    return int.from_bytes(v.to_bytes(4, "little"), "big")


@dataclasses.dataclass(frozen=True)
class FoundSignature:
    """What a signature search found: the page size it sits at and which signature it is.

    ``header`` is None for the old SWAP-SPACE format (no fields). For a software-suspend
    signature it holds the fields read from the same place as a SWAPSPACE2 header, as libblkid
    reads LABEL and UUID from them.
    """

    page_size: int
    signature: bytes
    header: SwapHeader | None  # None for the old SWAP-SPACE format

    @property
    def version(self) -> int:
        return 0 if self.signature == OLD_SWAP_SIGNATURE else (self.header.version if self.header else 0)

    @property
    def is_suspend(self) -> bool:
        return self.signature == TOI_MAGIC or self.signature in SUSPEND_SIGNATURES

    @property
    def type(self) -> str:
        """libblkid's TYPE: ``swap`` or ``swsuspend``."""
        return "swsuspend" if self.is_suspend else "swap"

    @property
    def blkid_version(self) -> str:
        """libblkid's VERSION string: ``1``, ``0`` or the suspend flavour (``s1suspend`` ...)."""
        if self.signature == TOI_MAGIC:
            return "tuxonice"
        if self.signature in SUSPEND_SIGNATURES:
            return SUSPEND_SIGNATURES[self.signature]
        return "0" if self.signature == OLD_SWAP_SIGNATURE else "1"


def detect_byteorder(page: bytes, page_size: int) -> ByteOrder:
    """The kernel's "endianness hack": a header is byte-swapped if ``swab32(version) == 1``.

    The simulated machine is little-endian (x86-64), so a big-endian header is the swapped one.
    """
    version = int.from_bytes(page[VERSION_OFFSET : VERSION_OFFSET + 4], "little")
    if version != 1 and _swab32(version) == 1:
        return ByteOrder.BIG
    return ByteOrder.LITTLE


def find_swap_header(
    data: bytes, page_sizes: tuple[int, ...] = PAGE_SIZES, *, suspend: bool = False
) -> FoundSignature | None:
    """Look for SWAPSPACE2 or SWAP-SPACE at ``page_size - 10`` for each candidate, as libblkid.

    ``data`` holds at least the first page (up to 64 KiB). Returns None when no signature is
    found at any candidate offset.

    With ``suspend=True`` the software-suspend signatures are looked for first, in libblkid's
    order (its ``swsuspend`` prober runs before ``swap``): the TuxOnIce magic at offset 0, then
    S1SUSPEND/S2SUSPEND/ULSUSPEND/LINHIB0001 at each candidate page size. A SWAPSPACE2 page
    that starts with the TuxOnIce magic is then TuxOnIce's, as libblkid decides.
    """
    data = bytes(data[: max(page_sizes, default=0)])
    if suspend:
        fallback = next((ps for ps in page_sizes if len(data) >= ps), None)
        if data[: len(TOI_MAGIC)] == TOI_MAGIC and fallback is not None:
            # TuxOnIce keeps a valid header at the end of the page it was written for.
            at = next(
                (ps for ps in page_sizes if len(data) >= ps
                 and data[ps - SWAP_SIGNATURE_SZ : ps] == SWAP_SIGNATURE),
                fallback,
            )
            return FoundSignature(at, TOI_MAGIC, _parse_any(data, at))
        for page_size in page_sizes:
            if len(data) < page_size:
                continue
            magic = data[page_size - SWAP_SIGNATURE_SZ : page_size]
            for sig in SUSPEND_SIGNATURES:
                if magic[: len(sig)] == sig:
                    return FoundSignature(page_size, sig, _parse_any(data, page_size))
    for page_size in page_sizes:
        if len(data) < page_size:
            continue
        magic = data[page_size - SWAP_SIGNATURE_SZ : page_size]
        if magic == SWAP_SIGNATURE:
            order = detect_byteorder(data, page_size)
            return FoundSignature(page_size, magic, parse_swap_header(data, page_size, order))
        if magic == OLD_SWAP_SIGNATURE:
            return FoundSignature(page_size, magic, None)
    return None


def _parse_any(data: bytes, page_size: int) -> SwapHeader:
    """The header fields of a page whatever its magic says (suspend images keep them)."""
    page = data[: page_size - SWAP_SIGNATURE_SZ] + SWAP_SIGNATURE
    return parse_swap_header(page, page_size, detect_byteorder(page, page_size))


class HeaderKind(enum.Enum):
    FILE = "file"  # data area present and consistent with the header
    GHOST = "ghost"  # exactly one page, the header declares more
    SHORT = "short"  # more than one page, but fewer than the header declares
    INVALID = "invalid"  # the kernel would refuse it; ``reason`` says why


@dataclasses.dataclass(frozen=True)
class Classification:
    kind: HeaderKind
    reason: str | None = None  # the kernel's log line (or util-linux's words) for INVALID


def classify(
    data: bytes, file_size: int, page_size: int | None = None, *, regular_file: bool = True
) -> tuple[FoundSignature | None, Classification]:
    """Classify a swap area from its first bytes and its size.

    ``page_size`` pins the page size as a kernel would (its own PAGE_SIZE); None probes every
    candidate as libblkid does. The reasons are the kernel's ``read_swap_header`` lines.
    """
    sizes = (page_size,) if page_size else PAGE_SIZES
    found = find_swap_header(data, sizes)
    if found is None:
        if len(data) < min(sizes):
            return None, Classification(HeaderKind.INVALID, "file is shorter than one page")
        return None, Classification(HeaderKind.INVALID, "Unable to find swap-space signature")
    if found.header is None:
        return found, Classification(
            HeaderKind.INVALID, "old SWAP-SPACE signature (version 0) is not supported"
        )
    h = found.header
    max_bad = MAX_SWAP_BADPAGES(h.page_size)
    if h.byteorder is ByteOrder.BIG and h.nr_badpages > max_bad:
        # the kernel fails silently here; this reason is ours
        return found, Classification(HeaderKind.INVALID, f"too many bad pages: {h.nr_badpages}")
    if h.version != 1:
        return found, Classification(
            HeaderKind.INVALID, f"Unable to handle swap header version {_signed(h.version)}"
        )
    if h.last_page == 0:
        return found, Classification(HeaderKind.INVALID, "Empty swap-file")
    declared = h.nr_pages
    file_pages = file_size // h.page_size
    if file_size == h.page_size and declared > 1:
        return found, Classification(HeaderKind.GHOST)
    if file_pages and declared > file_pages:
        return found, Classification(
            HeaderKind.SHORT, "Swap area shorter than signature indicates"
        )
    if h.nr_badpages and regular_file:
        return found, Classification(
            HeaderKind.INVALID, "bad pages are only supported on block devices"
        )
    if h.nr_badpages > max_bad:
        return found, Classification(HeaderKind.INVALID, f"too many bad pages: {h.nr_badpages}")
    return found, Classification(HeaderKind.FILE)


def _signed(v: int) -> int:
    """The kernel prints ``version`` with %d."""
    return v - (1 << 32) if v & 0x80000000 else v


def format_uuid(raw: bytes) -> str:
    """4-2-2-2-6 groups of hex in storage order, as libuuid and swapon print them."""
    return str(_uuid.UUID(bytes=bytes(raw)))


def parse_uuid(text: str) -> bytes:
    """Parse a UUID as libuuid's ``uuid_parse`` does (36 characters, hyphens at 8-13-18-23)."""
    if len(text) != 36 or any(text[i] != "-" for i in (8, 13, 18, 23)):
        raise ValueError(text)
    hexdigits = text.replace("-", "")
    if len(hexdigits) != 32 or any(c not in "0123456789abcdefABCDEF" for c in hexdigits):
        raise ValueError(text)
    return bytes.fromhex(hexdigits)
