"""The kernel crypto compressors zswap can use, as cheap Python callables.

Mirrors the ``crypto_acomp`` algorithms zswap picks by name through its ``compressor`` module
parameter (mm/zswap.c, 6.12 and 6.18): ``lzo``, ``lzo-rle``, ``lz4``, ``lz4hc``, ``zstd``,
``deflate`` and ``842``. Each available one is a :class:`Compressor` whose ``compress`` and
``decompress`` attributes are plain callables meant for a hot loop::

    c = get_compressor("lz4")
    blob = c.compress(page)                 # raw output, may be >= len(page)
    page2 = c.decompress(blob, len(page))   # exactly len(page) bytes or DecompressError

How each maps onto the kernel (the parameters are the kernel's; the byte streams are the
libraries' and can differ from the kernel's by a few bytes for zstd and deflate, since the
kernel carries its own copies of those libraries):

``lz4``
    crypto/lz4.c: ``LZ4_compress_default`` (acceleration 1) and ``LZ4_decompress_safe``; here
    ``lz4.block`` with ``store_size=False``. ``level`` > 1 selects ``LZ4_compress_fast`` with that
    acceleration, as zram's lz4 backend does with its level.
``lz4hc``
    crypto/lz4hc.c: ``LZ4_compress_HC`` at ``LZ4HC_DEFAULT_CLEVEL`` (9).
``zstd``
    crypto/zstd.c: one zstd frame at ``ZSTD_DEF_LEVEL`` (3), content size in the frame header,
    no checksum; here ``zstandard.ZstdCompressor(level)``.
``deflate``
    crypto/deflate.c: raw deflate (no zlib header) from ``zlib_deflateInit2(level
    Z_DEFAULT_COMPRESSION, Z_DEFLATED, -DEFLATE_DEF_WINBITS (11), DEFLATE_DEF_MEMLEVEL
    (MAX_MEM_LEVEL, which is 8 in the kernel's include/linux/zconf.h), Z_DEFAULT_STRATEGY)``.
    CPython's ``zlib.compress(data, level, wbits)`` uses memLevel 8 too (DEF_MEM_LEVEL), so the
    stream parameters are the kernel's.
``lzo``
    crypto/lzo.c: ``lzo1x_1_compress`` and ``lzo1x_decompress_safe``, no header; here the
    optional ``python-lzo`` (``lzo.compress(page, 1, False)``). Absent -> not available.
``lzo-rle`` and ``842``
    No Python implementation: always reported as not available.

Hot-path cost per 4 KiB page (a page of /usr/lib/python3.11/typing.py; Python 3.11.7,
lz4 4.4.5, zstandard 0.25, zlib 1.2.13; ``timeit``, best of 7; noise is about +-0.2 us)::

    call                 bare library call    through Compressor    overhead
    lz4     compress     4.65 us              4.42 us               none (partial of the C function)
    lz4     decompress   0.94 us              1.06 us               ~0.12 us (try + length check)
    lz4hc   compress     21.8 us              21.8 us               none
    zstd    compress     13.7 us              13.7 us               none (bound C method)
    zstd    decompress   5.21 us              5.59 us               ~0.4 us (size probe + check)
    deflate compress     41.7 us              43.7 us               within noise (partial)
    deflate decompress   6.78 us              7.20 us               ~0.4 us (decompressobj, bounded)

``compress`` is bound straight to the C function (or ``functools.partial`` of it); ``decompress``
is one small closure that maps library errors to :class:`DecompressError` and refuses an output
of the wrong length, because zswap treats anything but ``dlen == PAGE_SIZE`` as a failed load.

Compressor objects hold library contexts (a zstd CCtx/DCtx) and are not thread-safe; use one per
thread. Instances are cached per ``(name, level)``.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import zlib
from collections.abc import Callable

import lz4.block as _lz4_block
import zstandard as _zstd

from ghostswap_cli.errors import GhostswapError, KernelError

try:  # optional extra: pip install 'ghostswap[lzo]' (needs liblzo2-dev to build)
    import lzo as _lzo  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    _lzo = None

__all__ = (
    "Compressor",
    "DecompressError",
    "UnknownCompressor",
    "InvalidCompressorLevel",
    "get_compressor",
    "available_compressors",
    "known_compressors",
    "default_available_compressor",
    "compressor_id",
    "batch_compressor",
    "new_compressor",
    "compressor_by_id",
    "compressor_name_by_id",
    "is_available",
    "DEFAULT_COMPRESSOR",
    "FALLBACK_COMPRESSOR",
    "COMPRESSOR_IDS",
    "COMPRESSOR_NONE_ID",
    "SAME_FILLED_ID",
    "LEVEL_RANGES",
    "MSG_COMPRESSOR_NOT_AVAILABLE",
    "MSG_COMPRESSOR_FALLBACK",
    "MSG_DEFAULT_COMPRESSOR_NOT_AVAILABLE",
    "LZ4HC_DEFAULT_CLEVEL",
    "ZSTD_DEF_LEVEL",
    "DEFLATE_DEF_LEVEL",
    "DEFLATE_DEF_WINBITS",
    "DEFLATE_DEF_MEMLEVEL",
)

# --- kernel constants ------------------------------------------------------------------------

#: include/linux/lz4.h
LZ4HC_DEFAULT_CLEVEL = 9
#: crypto/zstd.c
ZSTD_DEF_LEVEL = 3
#: crypto/deflate.c: DEFLATE_DEF_LEVEL is Z_DEFAULT_COMPRESSION (-1), which zlib maps to 6.
DEFLATE_DEF_LEVEL = zlib.Z_DEFAULT_COMPRESSION
#: crypto/deflate.c; passed negated (raw deflate, no zlib header or adler32).
DEFLATE_DEF_WINBITS = 11
#: crypto/deflate.c uses MAX_MEM_LEVEL, 8 in the kernel's include/linux/zconf.h (userspace
#: zlib's MAX_MEM_LEVEL is 9, but CPython's zlib.compress uses DEF_MEM_LEVEL, also 8).
DEFLATE_DEF_MEMLEVEL = 8

#: CONFIG_ZSWAP_COMPRESSOR_DEFAULT in mainline's Kconfig choice.
DEFAULT_COMPRESSOR = "lzo"
#: What this toolkit uses when python-lzo is missing (see default_available_compressor()).
FALLBACK_COMPRESSOR = "lz4"

# Kernel messages, verbatim from mm/zswap.c (pr_err, printed with the "zswap: " pr_fmt prefix).
#: __zswap_param_set() when the new value names no crypto algorithm (returns -ENOENT).
MSG_COMPRESSOR_NOT_AVAILABLE = "compressor %s not available"
#: __zswap_pool_create_fallback() at init: (configured name, CONFIG_ZSWAP_COMPRESSOR_DEFAULT).
MSG_COMPRESSOR_FALLBACK = "compressor %s not available, using default %s"
#: __zswap_pool_create_fallback() when the default is missing too.
MSG_DEFAULT_COMPRESSOR_NOT_AVAILABLE = "default compressor %s not available"

#: Stable small ids for persisting which compressor an entry was stored with. Never renumber:
#: rows written by older versions keep these values. 0 means "stored uncompressed".
COMPRESSOR_NONE_ID = 0
COMPRESSOR_IDS: dict[str, int] = {
    "lzo": 1,
    "lzo-rle": 2,
    "lz4": 3,
    "lz4hc": 4,
    "zstd": 5,
    "deflate": 6,
    "842": 7,
}
_NAMES_BY_ID = {v: k for k, v in COMPRESSOR_IDS.items()}

#: Inclusive level ranges accepted per compressor; None means the algorithm has no level here.
LEVEL_RANGES: dict[str, tuple[int, int] | None] = {
    "lzo": None,
    "lzo-rle": None,
    "lz4": (1, 65537),  # acceleration; LZ4_ACCELERATION_MAX
    "lz4hc": (1, 12),  # LZ4HC_CLEVEL_MAX of the lz4 library the python binding ships
    "zstd": (-(1 << 17), 22),  # ZSTD_minCLevel() .. ZSTD_maxCLevel()
    "deflate": (-1, 9),
    "842": None,
}
_DEFAULT_LEVELS: dict[str, int | None] = {
    "lzo": None,
    "lzo-rle": None,
    "lz4": 1,
    "lz4hc": LZ4HC_DEFAULT_CLEVEL,
    "zstd": ZSTD_DEF_LEVEL,
    "deflate": DEFLATE_DEF_LEVEL,
    "842": None,
}


# --- errors ----------------------------------------------------------------------------------


class UnknownCompressor(KernelError):
    """No crypto algorithm of that name here: the kernel's ``compressor %s not available``
    (``-ENOENT`` from the ``compressor`` parameter)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(errno.ENOENT, MSG_COMPRESSOR_NOT_AVAILABLE % name)


class InvalidCompressorLevel(KernelError):
    """A level outside what the algorithm accepts (``-EINVAL``)."""

    def __init__(self, name: str, level: int) -> None:
        self.name = name
        self.level = level
        rng = LEVEL_RANGES.get(name)
        if rng is None:
            text = f"compressor {name} takes no level (got {level})"
        else:
            text = f"compressor {name}: level {level} out of range {rng[0]}..{rng[1]}"
        super().__init__(errno.EINVAL, text)


class DecompressError(GhostswapError):
    """Corrupt compressed data, or data that does not decompress to exactly ``page_size`` bytes.

    Carries what the kernel's ``Decompression error from zswap (<type>:<offset> <compressor>
    <len>-><dlen>)`` alert needs: ``compressor``, ``length`` (input bytes) and ``dlen`` (output
    bytes produced, or None when the library stopped before producing any).
    """

    def __init__(self, compressor: str, length: int, dlen: int | None, reason: str) -> None:
        self.compressor = compressor
        self.length = length
        self.dlen = dlen
        self.reason = reason
        shown = "?" if dlen is None else str(dlen)
        super().__init__(f"{compressor}: decompression failed ({length}->{shown}): {reason}")


# --- the interface ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Compressor:
    """One crypto compressor, as zswap's per-pool ``crypto_acomp`` (``struct zswap_pool``).

    ``compress(page) -> bytes`` returns the raw output, which may be as long as or longer than
    the page (zswap then rejects or stores the page as-is; that decision is the caller's); it
    never raises for a bytes-like input. ``decompress(data, page_size) -> bytes`` returns exactly
    ``page_size`` bytes or raises :class:`DecompressError`, and never anything else.

    >>> c = get_compressor("zstd")
    >>> c.name, c.level, c.id
    ('zstd', 3, 5)
    """

    name: str
    level: int | None
    id: int
    compress: Callable[[bytes], bytes] = dataclasses.field(repr=False)
    decompress: Callable[[bytes, int], bytes] = dataclasses.field(repr=False)


def _checked(name: str, raw: Callable[[bytes, int], bytes],
             errors: tuple[type[BaseException], ...]) -> Callable[[bytes, int], bytes]:
    """Wrap ``raw(data, page_size)`` so only DecompressError escapes and lengths are exact."""

    def decompress(data: bytes, page_size: int) -> bytes:
        try:
            out = raw(data, page_size)
        except errors as exc:
            raise DecompressError(name, len(data), None, str(exc) or type(exc).__name__) from exc
        if len(out) != page_size:
            raise DecompressError(name, len(data), len(out), f"expected {page_size} bytes")
        return out

    decompress.__qualname__ = decompress.__name__ = f"{name}_decompress"
    return decompress


# Exceptions a library may raise on hostile input. MemoryError is included because a corrupt
# header can claim a huge output size; OverflowError/ValueError cover size arguments.
_COMMON_ERRORS: tuple[type[BaseException], ...] = (ValueError, OverflowError, MemoryError)


def _make_lz4(level: int) -> tuple[Callable[[bytes], bytes], Callable[[bytes, int], bytes]]:
    if level == 1:
        comp = functools.partial(_lz4_block.compress, store_size=False)
    else:
        comp = functools.partial(_lz4_block.compress, mode="fast", acceleration=level,
                                 store_size=False)
    # Positional uncompressed_size: the keyword form costs ~0.7 us more per call.
    dec = _checked("lz4", _lz4_block.decompress, (_lz4_block.LZ4BlockError, *_COMMON_ERRORS))
    return comp, dec


def _make_lz4hc(level: int) -> tuple[Callable[[bytes], bytes], Callable[[bytes, int], bytes]]:
    comp = functools.partial(_lz4_block.compress, mode="high_compression", compression=level,
                             store_size=False)
    # LZ4HC output is a plain LZ4 block: the kernel's lz4hc also decompresses with
    # LZ4_decompress_safe.
    dec = _checked("lz4hc", _lz4_block.decompress, (_lz4_block.LZ4BlockError, *_COMMON_ERRORS))
    return comp, dec


def _make_zstd(level: int) -> tuple[Callable[[bytes], bytes], Callable[[bytes, int], bytes]]:
    cctx = _zstd.ZstdCompressor(level=level, write_content_size=True, write_checksum=False)
    dctx = _zstd.ZstdDecompressor()
    frame_content_size = _zstd.frame_content_size
    dctx_decompress = dctx.decompress

    def raw(data: bytes, page_size: int) -> bytes:
        # zstandard allocates the frame's declared content size before decoding, ignoring
        # max_output_size: refuse a wrong declared size first (a corrupt header could claim
        # terabytes). -1 means "size not in the header", bounded by max_output_size instead.
        declared = frame_content_size(data)
        if declared != page_size and declared != -1:
            raise ValueError(f"frame declares {declared} bytes")
        # (data, max_output_size, read_across_frames, allow_extra_data): positional is cheaper.
        return dctx_decompress(data, page_size, False, False)

    return cctx.compress, _checked("zstd", raw, (_zstd.ZstdError, *_COMMON_ERRORS))


def _make_deflate(level: int) -> tuple[Callable[[bytes], bytes], Callable[[bytes, int], bytes]]:
    comp = functools.partial(zlib.compress, level=level, wbits=-DEFLATE_DEF_WINBITS)
    decompressobj = zlib.decompressobj
    wbits = -DEFLATE_DEF_WINBITS

    def raw(data: bytes, page_size: int) -> bytes:
        # A decompressobj with max_length bounds the output (zlib.decompress would inflate a
        # hostile stream ~1000x). The kernel requires Z_STREAM_END within dlen; so do we.
        d = decompressobj(wbits)
        out = d.decompress(data, page_size)
        if not d.eof:
            raise ValueError("deflate stream does not end within the page")
        return out

    return comp, _checked("deflate", raw, (zlib.error, *_COMMON_ERRORS))


def _make_lzo(level: int | None) -> tuple[Callable[[bytes], bytes],
                                          Callable[[bytes, int], bytes]]:  # pragma: no cover
    assert _lzo is not None
    lzo_compress = _lzo.compress
    lzo_decompress = _lzo.decompress

    def comp(page: bytes) -> bytes:
        # level 1 = lzo1x_1_compress, as crypto/lzo.c; header=False gives the bare stream.
        return lzo_compress(page, 1, False)

    def raw(data: bytes, page_size: int) -> bytes:
        return lzo_decompress(data, False, page_size)

    lzo_error = getattr(_lzo, "error", ValueError)
    return comp, _checked("lzo", raw, (lzo_error, *_COMMON_ERRORS))


_FACTORIES: dict[str, Callable[..., tuple[Callable[[bytes], bytes],
                                          Callable[[bytes, int], bytes]]]] = {
    "lz4": _make_lz4,
    "lz4hc": _make_lz4hc,
    "zstd": _make_zstd,
    "deflate": _make_deflate,
}
if _lzo is not None:  # pragma: no cover - depends on the machine
    _FACTORIES["lzo"] = _make_lzo


# --- registry --------------------------------------------------------------------------------


def known_compressors() -> list[str]:
    """Every crypto name zswap's ``compressor`` parameter may take, available here or not.

    >>> known_compressors()
    ['lzo', 'lzo-rle', 'lz4', 'lz4hc', 'zstd', 'deflate', '842']
    """
    return list(COMPRESSOR_IDS)


def available_compressors() -> list[str]:
    """The names :func:`get_compressor` accepts on this machine, in kernel-name order."""
    return [name for name in COMPRESSOR_IDS if name in _FACTORIES]


def is_available(name: str) -> bool:
    """``crypto_has_acomp(name, 0, 0)`` for this process."""
    return name in _FACTORIES


def default_available_compressor() -> str:
    """``lzo`` (CONFIG_ZSWAP_COMPRESSOR_DEFAULT) when python-lzo is importable, else ``lz4``.

    The caller logs :data:`MSG_COMPRESSOR_FALLBACK` when it had to fall back.
    """
    return DEFAULT_COMPRESSOR if DEFAULT_COMPRESSOR in _FACTORIES else FALLBACK_COMPRESSOR


_cache: dict[tuple[str, int | None], Compressor] = {}


def get_compressor(name: str, level: int | None = None) -> Compressor:
    """The compressor called ``name`` (a kernel crypto name) at ``level`` (None: its default).

    Raises :class:`UnknownCompressor` for a name that is unknown or not available here, and
    :class:`InvalidCompressorLevel` for a level the algorithm does not take.

    >>> get_compressor("lz4hc").level
    9
    >>> try:
    ...     get_compressor("842")
    ... except UnknownCompressor as exc:
    ...     print(exc)
    compressor 842 not available
    """
    key = (name, level)
    c = _cache.get(key)
    if c is not None:
        return c
    factory = _FACTORIES.get(name)
    if factory is None:
        raise UnknownCompressor(name)
    rng = LEVEL_RANGES[name]
    if level is None:
        effective = _DEFAULT_LEVELS[name]
    elif rng is None or isinstance(level, bool) or not rng[0] <= level <= rng[1]:
        raise InvalidCompressorLevel(name, level)
    else:
        effective = level
    comp, dec = factory(effective)
    c = Compressor(name=name, level=effective, id=COMPRESSOR_IDS[name], compress=comp,
                   decompress=dec)
    _cache[key] = c
    _cache.setdefault((name, effective), c)
    return c


def new_compressor(name: str, level: int | None = None) -> Compressor:
    """A compressor of its own (not the shared cached instance), for use in another thread:
    library contexts such as zstd's are not thread-safe."""
    shared = get_compressor(name, level)
    comp, dec = _FACTORIES[name](shared.level)
    return Compressor(name=name, level=shared.level, id=shared.id, compress=comp, decompress=dec)


def batch_compressor(compressor: Compressor) -> Callable[[list[bytes]], list[bytes]] | None:
    """A call that compresses a list of pages at once, each into the bytes ``compressor.compress``
    makes for it, or None where the library has no batch call.

    zstd: ``ZstdCompressor.multi_compress_to_buffer`` (one frame per page, one call for all;
    benchmarks/RESULTS.md measures what it saves over one call per page). lz4: the python
    binding's block API takes one buffer per call and its frame API makes frames, not the bare
    blocks zswap stores, so there is no batch call to use.
    """
    if compressor.name != "zstd":
        return None
    cctx = _zstd.ZstdCompressor(level=compressor.level, write_content_size=True,
                                write_checksum=False)
    multi = cctx.multi_compress_to_buffer

    def compress_all(pages: list[bytes]) -> list[bytes]:
        if not pages:
            return []
        return [seg.tobytes() for seg in multi(pages, threads=0)]

    return compress_all


def compressor_id(name: str) -> int:
    """The stable id persisted with an entry (see :data:`COMPRESSOR_IDS`); any known name."""
    try:
        return COMPRESSOR_IDS[name]
    except KeyError:
        raise UnknownCompressor(name) from None


def compressor_name_by_id(ident: int) -> str:
    """The kernel name for a persisted id; :class:`UnknownCompressor` for an unknown id."""
    try:
        return _NAMES_BY_ID[ident]
    except KeyError:
        raise UnknownCompressor(f"#{ident}") from None


#: The id of a 6.1 same-filled entry (``entry->length == 0``, ``entry->value``): its 8 stored
#: bytes are the word the page repeats. Not a compressor anyone can choose.
SAME_FILLED_ID = 255


def _same_filled_decompress(data: bytes, page_size: int) -> bytes:
    if len(data) != 8:
        raise DecompressError("same-filled entry does not hold one word")
    return data * (page_size // 8)  # zswap_fill_page()


_SAME_FILLED = Compressor("same-filled", None, SAME_FILLED_ID, bytes, _same_filled_decompress)


def compressor_by_id(ident: int, level: int | None = None) -> Compressor:
    """The compressor an entry was stored with, for decompressing it after the ``compressor``
    parameter changed (zswap keeps each entry's original pool). Levels do not affect
    decompression, so the default level is fine for loads."""
    if ident == SAME_FILLED_ID:
        return _SAME_FILLED
    return get_compressor(compressor_name_by_id(ident), level)
