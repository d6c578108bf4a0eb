"""Page traces: what a process's anonymous memory did under pressure, one event per page.

A trace is a sequence of events on virtual page numbers (VPNs):

``out VPN CONTENT``
    the page was swapped out (``swap_writepage()`` → ``zswap_store()``) holding CONTENT;
``in VPN``
    a swapped-out page was faulted back in (``do_swap_page()`` → ``zswap_load()``);
``free VPN``
    the process dropped the page (``zap_pte_range()`` → ``free_swap_and_cache()``).

Version 2 adds *access* events, which say what a process touched rather than what was swapped,
so the simulated kernel's reclaim decides what goes out (``ghostswap replay`` under memory limits):

``read VPN``
    the process read the page (a first read of a never-written page maps the zero page);
``write VPN CONTENT``
    the process wrote the page, which now holds CONTENT (a first write faults it in).

Any event of a version-2 trace may end with a timestamp ``@NS`` (nanoseconds since the start of
the trace, never decreasing), e.g. ``read 0x7f0000010 @1500000``. A writer that never writes an
access event or a timestamp still writes a version-1 trace, byte for byte as before.

Two encodings carry the same events. The *text* format is line based and meant to be written by
hand or by other tools; its contents are descriptors (``zero``, ``fill:0xHH``, ``random:SEED``,
``text:SEED``, ``prandom:SEED``, ``ptext:SEED``, ``file:PATH:OFFSET``, ``hex:...``), so a trace
stays small and readable. ``text:``/``random:`` pages are generated from their seed (about 10 us
a page); ``ptext:``/``prandom:`` pages are slices of text and random pools built once per process
(well under 1 us a page) with the same compressibility, for synthetic traces where page
synthesis would otherwise be a fifth of a replay. They are new kinds rather than a new format
version (versions 1 and 2 read them alike, and a ghostswap older than them stops at the first
one with "unknown kind" / "unknown content kind"), so every existing trace keeps its bytes. The
*binary* format is compact and fast to read: a 16-byte header, then records of one 64-bit word
(VPN, op, content kind) followed by the payload the kind needs (none, a 64-bit value, or the raw
page). Both are declared below once (``trace_header``, ``trace_record``); the reader's hot loop
decodes the same layout with :mod:`struct` because construct parses about 50 times slower, and
the tests check the two against each other.

Traces are untrusted input: every malformed byte ends in :class:`~ghostswap_cli.errors.TraceError`
naming the file and the line (text) or record (binary; record 0 is the header), and a ``file:``
content never reads outside the trace's folder or an explicitly allowed directory.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import operator
import os
import re
import stat
import struct
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

from construct import (
    Bytes,
    Const,
    Construct,
    Default,
    If,
    Int16ul,
    Int32ul,
    Int64ul,
    Pass,
    Struct,
    Switch,
    this,
)

from ghostswap_cli.errors import TraceError
from ghostswap_cli.faults import fault_point

__all__ = (
    "OP_OUT",
    "OP_IN",
    "OP_FREE",
    "OP_READ",
    "OP_WRITE",
    "OP_NAMES",
    "ACCESS_OPS",
    "RF_TIME",
    "MAX_T_NS",
    "K_NONE",
    "K_RAW",
    "K_ZERO",
    "K_FILL",
    "K_RANDOM",
    "K_TEXT",
    "K_FILE",
    "K_PTEXT",
    "K_PRANDOM",
    "POOL_KINDS",
    "KIND_NAMES",
    "TEXT_MAGIC",
    "TEXT_VERSION",
    "BINARY_MAGIC",
    "BINARY_VERSION",
    "TF_CAPTURED",
    "DEFAULT_PAGE_SIZE",
    "TRACE_PAGE_SIZES",
    "MAX_VPN",
    "MAX_SEED",
    "FORMATS",
    "Content",
    "parse_content",
    "format_content",
    "content_page",
    "same_filled",
    "zero_page",
    "fill_page",
    "random_page",
    "text_page",
    "POOL_BYTES",
    "pool_offset",
    "pool_text_page",
    "pool_random_page",
    "trace_header",
    "trace_record",
    "RecordHead",
    "TraceReader",
    "open_trace",
    "TraceWriter",
    "open_trace_writer",
    "TraceSummary",
    "ReuseDistances",
    "summarize",
    "convert_trace",
    "REFUSE_MESSAGE",
)

# --- events and content kinds --------------------------------------------------------------------

OP_OUT, OP_IN, OP_FREE, OP_READ, OP_WRITE = 0, 1, 2, 3, 4
OP_NAMES = {OP_OUT: "out", OP_IN: "in", OP_FREE: "free", OP_READ: "read", OP_WRITE: "write"}
ACCESS_OPS = (OP_READ, OP_WRITE)
_CONTENT_OPS = (OP_OUT, OP_WRITE)

# Content kinds. K_NONE is the kind of in/free records; K_FILE exists only in text traces (a binary
# trace stores the page read from the file as K_RAW). K_PTEXT and K_PRANDOM are text and random
# pages sliced from precomputed pools (pool_text_page, pool_random_page): other bytes than
# text:/random: of the same seed, at a fraction of the cost.
K_NONE, K_RAW, K_ZERO, K_FILL, K_RANDOM, K_TEXT, K_FILE, K_PTEXT, K_PRANDOM = range(9)
KIND_NAMES = {
    K_RAW: "raw",
    K_ZERO: "zero",
    K_FILL: "fill",
    K_RANDOM: "random",
    K_TEXT: "text",
    K_FILE: "file",
    K_PTEXT: "ptext",
    K_PRANDOM: "prandom",
}
POOL_KINDS = (K_PTEXT, K_PRANDOM)
_VALUE_KINDS = (K_FILL, K_RANDOM, K_TEXT, K_PTEXT, K_PRANDOM)  # a 64-bit word in the record

TEXT_MAGIC = "ghostswap-trace"
TEXT_VERSION = 2  # 2: read/write access events and @NS timestamps; 1: out/in/free only
BINARY_MAGIC = b"\x89GSTRACE"  # 0x89 first: never valid text, and catches 7-bit transfers
BINARY_VERSION = 2  # 2: OP_READ/OP_WRITE records and the RF_TIME bit; 1: out/in/free only
READ_VERSIONS = (1, 2)
ACCESS_VERSION = 2  # the first version with access events and timestamps
RF_TIME = 0x1  # record head, reserved bit 0 (version 2): a 64-bit timestamp in ns follows the head
MAX_T_NS = 1 << 64
TF_CAPTURED = 0x1  # pages were read from a live process (`ghostswap trace capture`)
TF_KNOWN = TF_CAPTURED

DEFAULT_PAGE_SIZE = 4096
TRACE_PAGE_SIZES = (4096, 8192, 16384, 32768, 65536)
MAX_VPN = 1 << 52  # VPNs are below 2**52 (a 64-bit address space of 4 KiB pages)
MAX_SEED = 1 << 64
MAX_OFFSET = 1 << 62
FORMATS = ("text", "binary")

REFUSE_MESSAGE = "refusing to read {path}: outside the allowed directories (use --allow-dir)"

_WORD = struct.Struct("<Q")
_VPN_MASK = MAX_VPN - 1
_MAX_LINE = 1 << 20  # a hex page of 64 KiB is 128 KiB of text; anything longer is not a trace
_CHUNK = 1 << 20


class Content(NamedTuple):
    """What an ``out`` event stores.

    ``value`` is the fill word (a 64-bit little-endian pattern, as zswap's same-filled pages) or
    the seed; ``data`` is the page for ``raw`` (and for ``file`` once read); ``path`` and ``offset``
    say where a ``file`` page comes from, as written in the trace.
    """

    kind: int
    value: int = 0
    data: bytes | None = None
    path: str | None = None
    offset: int = 0

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, "?")


# --- seeded and same-filled pages ----------------------------------------------------------------
#
# Seeded pages come from SHAKE-128 keyed by a domain string and the seed: the same bytes on every
# machine and Python version, ~8 us for a 4 KiB page, and no shared RNG state. Pages are cached
# because traces refer to the same content again and again.


@functools.cache
def zero_page(page_size: int) -> bytes:
    return bytes(page_size)


@functools.lru_cache(maxsize=256)
def fill_page(word: int, page_size: int) -> bytes:
    """A page holding the 64-bit ``word`` over and over, little-endian (zswap ``same_filled``)."""
    return word.to_bytes(8, "little") * (page_size // 8)


@functools.lru_cache(maxsize=512)
def random_page(seed: int, page_size: int) -> bytes:
    """Incompressible bytes, a function of ``seed`` only (longer pages extend shorter ones)."""
    return hashlib.shake_128(b"ghostswap-random\0" + seed.to_bytes(8, "little")).digest(page_size)


# Text pages are sentences of subject + verb + object + ending, each picked by 10 bits of the
# SHAKE stream. A page repeats phrases the way prose does, so it compresses about 2.3x with lz4 and
# 3.4x with zstd (measured on 4 KiB pages; plain English compresses ~1.5x / 2.3x, so this is text
# a little more repetitive than a novel, like logs or documentation).
_SUBJECTS = (
    "The kernel", "A process", "The swap area", "Every page", "The reclaim path", "The new design",
    "This patch", "The ghost swapfile", "A dirty page", "The zswap pool", "The allocator",
    "Each cluster", "The old code", "A user", "The system", "The compressed copy", "That mapping",
    "The page cache", "A large folio", "The last entry", "The workload", "The server",
    "The test machine", "A small device", "The daemon", "One thread", "The request", "The log",
    "Her first draft", "His reply", "The thread", "The benchmark",
)
_VERBS = (
    "writes", "reads back", "keeps", "drops", "moves", "counts", "frees", "reclaims",
    "compresses", "maps", "finds", "needs", "loses", "tracks", "stores", "rejects", "locks",
    "scans", "marks", "reuses", "sends", "checks", "wakes up", "splits", "merges", "shows", "hides",
    "copies", "flushes", "holds", "fills", "loads",
)
_OBJECTS = (
    "the cold pages", "a swap entry", "every free slot", "the whole region", "the backing file",
    "a few megabytes", "the memory map", "its working set", "the dirty bit", "the same slot again",
    "a second copy", "the page table", "all of the data", "a fresh cluster", "the old folio",
    "its own lock", "the oldest entries", "a list of extents", "the right offset", "one more byte",
    "the zero page", "a full page", "the free list", "the hot path", "two pages at once",
    "the next request", "the cache line", "its reference count", "a better answer",
    "the lower tier", "the first sector", "a long time",
)
_ENDINGS = (
    ".", " when memory runs low.", " before the next scan.", ", and nobody notices.",
    " in the background.", " under pressure.", ".", ", then waits.", " without a lock.", ".",
    " on every fault.", " at boot.", ".", " as expected.", " for now.", ", which is slow.",
)


@functools.cache
def _sentences() -> tuple[tuple[bytes, ...], int]:
    """65536 sentences (subject, verb, object, ending, then a space or a newline), picked once by
    a fixed SHAKE stream, and the length of the shortest. A text page is a run of them chosen
    16 bits at a time: one lookup per ~55 bytes keeps a page near 10 us."""
    pick = hashlib.shake_128(b"ghostswap-text-table\0").digest(4 * 65536)
    out = []
    for i in range(0, len(pick), 4):
        a, b, c, d = pick[i], pick[i + 1], pick[i + 2], pick[i + 3]
        out.append(f"{_SUBJECTS[a & 31]} {_VERBS[b & 31]} {_OBJECTS[c & 31]}"
                   f"{_ENDINGS[d & 15]}{' ' if d & 16 else chr(10)}".encode())
    return tuple(out), min(map(len, out))


@functools.lru_cache(maxsize=512)
def text_page(seed: int, page_size: int) -> bytes:
    """Text-like bytes (English words, sentences and lines), a function of ``seed`` only."""
    table, shortest = _sentences()
    shake = hashlib.shake_128(b"ghostswap-text\0" + seed.to_bytes(8, "little"))
    # Sentences average ~55 bytes: try enough for 48-byte ones, then the worst case. The page is
    # a prefix of the same endless text either way (SHAKE output extends, it never changes).
    # itemgetter picks all the sentences in one C call: half the time of map(table.__getitem__)
    for n in (page_size // 48 + 8, page_size // shortest + 1):
        text = b"".join(operator.itemgetter(*struct.unpack(f"<{n}H", shake.digest(2 * n)))(table))
        if len(text) >= page_size:
            break
    return text[:page_size]


# Pool pages: the same statistics for a slice's cost (0.3 us a page against 9 us, measured by
# benchmarks/synth.py). Each pool is built on first use, once per process (text about 0.1 s,
# with the sentence table; random about 15 ms), from its own fixed SHAKE stream: 4 MiB of sentences from the table above, and
# 4 MiB of SHAKE output, each with a 64 KiB tail so that a slice at any offset has room for the
# largest page. A seed picks the offset by a multiplicative hash (Fibonacci hashing: consecutive
# seeds land far apart), independent of the page size, so longer pages extend shorter ones as
# for text:/random:. Two seeds share a page only when their offsets coincide (the multiplier is
# odd, so seeds that differ only above bit 22 can; about 1 in 4 million for random seeds).
POOL_BYTES = 1 << 22
_POOL_SHIFT = 64 - 22
_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / the golden ratio, odd
_M64 = (1 << 64) - 1


def pool_offset(seed: int) -> int:
    """Where the page of ``seed`` starts in its pool (0 <= offset < POOL_BYTES)."""
    return (seed * _GOLDEN & _M64) >> _POOL_SHIFT


@functools.cache
def _text_pool() -> bytes:
    table, shortest = _sentences()
    need = POOL_BYTES + TRACE_PAGE_SIZES[-1]
    n = need // shortest + 1  # enough even if every pick were the shortest sentence
    picks = struct.unpack(f"<{n}H", hashlib.shake_128(b"ghostswap-text-pool\0").digest(2 * n))
    return b"".join(operator.itemgetter(*picks)(table))[:need]


@functools.cache
def _random_pool() -> bytes:
    return hashlib.shake_128(b"ghostswap-random-pool\0").digest(POOL_BYTES + TRACE_PAGE_SIZES[-1])


def pool_text_page(seed: int, page_size: int) -> bytes:
    """A text page (``ptext:SEED``): ``page_size`` bytes of the text pool from ``pool_offset(seed)``.
    Compresses like :func:`text_page` (about 2.3x lz4, 3.4x zstd per 4 KiB) for a slice's cost."""
    off = (seed * _GOLDEN & _M64) >> _POOL_SHIFT
    return _text_pool()[off : off + page_size]


def pool_random_page(seed: int, page_size: int) -> bytes:
    """An incompressible page (``prandom:SEED``): a slice of the random pool, as above."""
    off = (seed * _GOLDEN & _M64) >> _POOL_SHIFT
    return _random_pool()[off : off + page_size]


def same_filled(page: bytes) -> int | None:
    """The 64-bit word a page repeats (as zswap's ``zswap_is_page_same_filled``), else None."""
    if len(page) < 16 or len(page) % 8:
        return None
    word = page[:8]
    if page[8:16] != word or page[-8:] != word:  # most pages fail here, cheaply
        return None
    if page.count(word[:1]) == len(page) or page == word * (len(page) // 8):
        return int.from_bytes(word, "little")
    return None


def content_page(content: Content, page_size: int) -> bytes:
    """The page bytes a content stands for (``file`` contents must have been read: ``data``)."""
    kind = content.kind
    if kind == K_ZERO:
        return zero_page(page_size)
    if kind == K_FILL:
        return fill_page(content.value, page_size)
    if kind == K_RANDOM:
        return random_page(content.value, page_size)
    if kind == K_TEXT:
        return text_page(content.value, page_size)
    if kind == K_PTEXT:
        return pool_text_page(content.value, page_size)
    if kind == K_PRANDOM:
        return pool_random_page(content.value, page_size)
    if content.data is None:
        raise ValueError(f"{content.kind_name} content without its page")
    return content.data


# --- the text grammar ----------------------------------------------------------------------------

_NUM = re.compile(rb"(?:0[xX][0-9a-fA-F]{1,32}|[0-9]{1,40})\Z")
_FILL = re.compile(rb"0[xX](?:([0-9a-fA-F]{1,2})|([0-9a-fA-F]{16}))\Z")
_SPACE = re.compile(r"\s")
_SEED_KINDS = {b"random": K_RANDOM, b"text": K_TEXT, b"prandom": K_PRANDOM, b"ptext": K_PTEXT}
_OPS = {b"out": OP_OUT, b"in": OP_IN, b"free": OP_FREE, b"read": OP_READ, b"write": OP_WRITE}


class _Bad(Exception):
    """A grammar error inside one line; the reader adds the file and line number."""


def _show(token: bytes, limit: int = 40) -> str:
    text = token.decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(token: bytes) -> int | None:
    if _NUM.match(token) is None:
        return None
    return int(token[2:], 16) if token[1:2] in (b"x", b"X") else int(token)


def _vpn(token: bytes) -> int:
    v = _number(token)
    if v is None or v >= MAX_VPN:
        raise _Bad(f"bad VPN {_show(token)!r}: expected a decimal or 0x-hex number below 2**52")
    return v


def _t_ns(token: bytes) -> int:
    v = _number(token[1:])
    if v is None or v >= MAX_T_NS:
        raise _Bad(f"bad timestamp {_show(token)!r}: expected @NS, nanoseconds below 2**64")
    return v


def _parse_content(token: bytes, page_size: int | None) -> Content:
    kind, sep, arg = token.partition(b":")
    if kind == b"zero" and not sep:
        return Content(K_ZERO)
    if not sep:
        raise _Bad(f"bad content {_show(token)!r}: expected zero, fill:0xHH, random:SEED, "
                   "text:SEED, file:PATH:OFFSET or hex:BYTES")
    if kind == b"fill":
        m = _FILL.match(arg)
        if m is None:
            raise _Bad(f"bad content {_show(token)!r}: fill takes 0xHH (a byte) or "
                       "0xHHHHHHHHHHHHHHHH (a 64-bit word)")
        if m.group(1) is not None:
            return Content(K_FILL, int(m.group(1), 16) * 0x0101010101010101)
        return Content(K_FILL, int(m.group(2), 16))
    seeded = _SEED_KINDS.get(kind)
    if seeded is not None:
        seed = _number(arg)
        if seed is None or seed >= MAX_SEED:
            raise _Bad(f"bad content {_show(token)!r}: the seed must be a number below 2**64")
        return Content(seeded, seed)
    if kind == b"file":
        path, sep2, off = arg.rpartition(b":")
        offset = _number(off)
        if not sep2 or not path:
            raise _Bad(f"bad content {_show(token)!r}: expected file:PATH:OFFSET")
        if offset is None or offset >= MAX_OFFSET:
            raise _Bad(f"bad content {_show(token)!r}: bad offset {_show(off)!r}")
        if b"\0" in path:
            raise _Bad(f"bad content {_show(token)!r}: NUL in path")
        return Content(K_FILE, path=os.fsdecode(path), offset=offset)
    if kind == b"hex":
        try:
            data = bytes.fromhex(arg.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise _Bad(f"bad content {_show(token)!r}: hex: takes pairs of hex digits") from None
        if page_size is not None and len(data) != page_size:
            raise _Bad(f"page of the wrong size: hex: gives {len(data)} bytes, expected {page_size}")
        return Content(K_RAW, data=data)
    raise _Bad(f"bad content {_show(token)!r}: unknown kind {_show(kind)!r}")


def parse_content(spec: str | bytes, page_size: int | None = None) -> Content:
    """Parse one content descriptor (``zero``, ``fill:0x5a``, ``text:7``, ``file:a.bin:4096``...).

    Raises ValueError with the reason. ``page_size`` checks the length of ``hex:`` pages.
    """
    token = os.fsencode(spec) if isinstance(spec, str) else spec
    try:
        return _parse_content(token, page_size)
    except _Bad as e:
        raise ValueError(str(e)) from None


def format_content(content: Content) -> str:
    """The descriptor for ``content`` in a text trace (raw pages as ``hex:``)."""
    kind = content.kind
    if kind == K_ZERO:
        return "zero"
    if kind == K_FILL:
        word = content.value.to_bytes(8, "little")
        if word.count(word[:1]) == 8:
            return f"fill:0x{word[0]:02x}"
        return f"fill:0x{content.value:016x}"
    if kind == K_RANDOM:
        return f"random:{content.value}"
    if kind in (K_TEXT, K_PTEXT, K_PRANDOM):
        return f"{KIND_NAMES[kind]}:{content.value}"
    if kind == K_FILE:
        path = content.path or ""
        if not path or _SPACE.search(path) or path.startswith("#"):
            raise ValueError(f"file path {path!r} cannot be written in a text trace "
                             "(empty, whitespace, or a leading #)")
        return f"file:{path}:{content.offset}"
    if kind == K_RAW and content.data is not None:
        return "hex:" + content.data.hex()
    raise ValueError(f"cannot format content of kind {kind}")


# --- the binary format ---------------------------------------------------------------------------


class RecordHead(Construct):
    r"""The 64-bit little-endian word that starts every binary record::

        63     60 59     56 55     52 51                                   0
        +--------+---------+---------+--------------------------------------+
        |  kind  |   op    | reserved|                 vpn                  |
        +--------+---------+---------+--------------------------------------+

    ``op`` is OP_OUT/OP_IN/OP_FREE (version 1) or OP_READ/OP_WRITE (version 2), ``kind`` the
    content kind (K_NONE for in, free and read), ``reserved`` is zero but for bit 0 in version 2,
    RF_TIME: a timestamp follows. Parses to and builds from ``dict(op=, kind=, vpn=)``.
    """

    def _parse(self, stream, context, path):
        word = Int64ul._parsereport(stream, context, path)
        return dict(op=(word >> 56) & 0xF, kind=word >> 60, reserved=(word >> 52) & 0xF,
                    vpn=word & _VPN_MASK)

    def _build(self, obj, stream, context, path):
        word = obj["vpn"] | obj.get("reserved", 0) << 52 | obj["op"] << 56 | obj["kind"] << 60
        Int64ul._build(word, stream, context, path)
        return obj

    def _sizeof(self, context, path):
        return 8


trace_header = Struct(
    "magic" / Const(BINARY_MAGIC) * "\\x89GSTRACE",
    "version" / Int16ul * "format version, 1 or 2 (access events, timestamps)",
    "flags" / Int16ul * "TF_* bits; TF_CAPTURED: pages read from a live process",
    "page_size" / Int32ul * "bytes per page, a power of two from 4096 to 65536",
)
HEADER_SIZE = trace_header.sizeof()

trace_record = Struct(
    "head" / RecordHead(),
    "t_ns" / Default(If(lambda ctx: ctx.head.get("reserved", 0) & RF_TIME, Int64ul), None)
    * "ns since the trace's start (version 2, when the head has RF_TIME)",
    "payload" / Switch(
        this.head.kind,
        {
            K_RAW: Bytes(this._.page_size) * "the page",
            K_FILL: Int64ul * "the 64-bit word the page repeats",
            K_RANDOM: Int64ul * "the seed",
            K_TEXT: Int64ul * "the seed",
            K_PTEXT: Int64ul * "the seed (a slice of the text pool)",
            K_PRANDOM: Int64ul * "the seed (a slice of the random pool)",
        },
        Pass,
    ),
)


def _code(op: int, kind: int) -> int:
    """``word >> 52`` of a record head: reserved bits 0, then op, then kind."""
    return op << 4 | kind << 8


C_IN, C_FREE = _code(OP_IN, K_NONE), _code(OP_FREE, K_NONE)
C_RAW, C_ZERO, C_FILL, C_RANDOM, C_TEXT, C_PTEXT, C_PRANDOM = (
    _code(OP_OUT, k) for k in (K_RAW, K_ZERO, K_FILL, K_RANDOM, K_TEXT, K_PTEXT, K_PRANDOM)
)
C_READ = _code(OP_READ, K_NONE)
C_W_RAW, C_W_ZERO, C_W_FILL, C_W_RANDOM, C_W_TEXT, C_W_PTEXT, C_W_PRANDOM = (
    _code(OP_WRITE, k) for k in (K_RAW, K_ZERO, K_FILL, K_RANDOM, K_TEXT, K_PTEXT, K_PRANDOM)
)


def _bad_code(code: int, version: int = 1) -> str:
    op, kind = (code >> 4) & 0xF, code >> 8
    known = code & 0xF & (RF_TIME if version >= ACCESS_VERSION else 0)
    if code & 0xF & ~known:
        return f"reserved bits set (0x{code & 0xF & ~known:x})"
    if op not in OP_NAMES:
        return f"unknown op {op}"
    if op in ACCESS_OPS and version < ACCESS_VERSION:
        return f"{OP_NAMES[op]} record in a version {version} trace (access events need version 2)"
    if op in _CONTENT_OPS:
        return f"unknown content kind {kind}"
    return f"{OP_NAMES[op]} record with content kind {kind}"


_SEEDED = {C_FILL: K_FILL, C_RANDOM: K_RANDOM, C_TEXT: K_TEXT, C_PTEXT: K_PTEXT,
           C_PRANDOM: K_PRANDOM}
_W_SEEDED = {C_W_FILL: K_FILL, C_W_RANDOM: K_RANDOM, C_W_TEXT: K_TEXT, C_W_PTEXT: K_PTEXT,
             C_W_PRANDOM: K_PRANDOM}
_PAGE_OF = {K_FILL: fill_page, K_RANDOM: random_page, K_TEXT: text_page,
            K_PTEXT: pool_text_page, K_PRANDOM: pool_random_page}


# --- file: pages, read under the untrusted-input rules -------------------------------------------


class _PageFiles:
    """Reads ``file:PATH:OFFSET`` pages: PATH relative to ``base``; only inside allowed dirs.

    Symlinks are resolved before the check, and the opened descriptor is checked again through
    /proc/self/fd, so a path component swapped for a symlink after the check is still caught.
    Descriptors are cached (LRU, ``max_open``) because traces read the same files again and again.
    """

    def __init__(self, base: str, allow_dirs: Sequence[os.PathLike[str] | str], max_open: int = 32):
        self.base = base
        self.allowed = [os.path.realpath(base)] + [os.path.realpath(d) for d in allow_dirs]
        self.max_open = max_open
        self._open: collections.OrderedDict[str, int] = collections.OrderedDict()

    def _inside(self, real: str) -> bool:
        for a in self.allowed:
            try:
                if os.path.commonpath([real, a]) == a:
                    return True
            except ValueError:
                continue
        return False

    def _fd(self, path: str) -> int:
        fd = self._open.get(path)
        if fd is not None:
            self._open.move_to_end(path)
            return fd
        real = os.path.realpath(os.path.join(self.base, path))
        if not self._inside(real):
            raise _Bad(REFUSE_MESSAGE.format(path=path))
        try:  # never open a device or a FIFO: opening one can block or have side effects
            if not stat.S_ISREG(os.stat(real).st_mode):
                raise _Bad(f"cannot read {path}: not a regular file")
        except OSError as e:
            raise _Bad(f"cannot read {path}: {e.strerror}") from None
        try:
            fd = os.open(real, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW)
        except OSError as e:
            raise _Bad(f"cannot read {path}: {e.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _Bad(f"cannot read {path}: not a regular file")
            try:
                opened = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                opened = real  # no /proc: the realpath check above is what we have
            if not self._inside(opened):
                raise _Bad(REFUSE_MESSAGE.format(path=path))
        except BaseException:
            os.close(fd)
            raise
        self._open[path] = fd
        if len(self._open) > self.max_open:
            _, old = self._open.popitem(last=False)
            os.close(old)
        return fd

    def read(self, path: str, offset: int, size: int) -> bytes:
        fd = self._fd(path)
        try:
            data = os.pread(fd, size, offset)
        except OSError as e:
            raise _Bad(f"cannot read {path}: {e.strerror}") from None
        if len(data) != size:
            raise _Bad(f"page of the wrong size: {path} has {len(data)} bytes at offset {offset}, "
                       f"expected {size}")
        return data

    def close(self) -> None:
        while self._open:
            os.close(self._open.popitem()[1])


# --- the reader ----------------------------------------------------------------------------------


class TraceReader:
    """One open trace. Iterating yields ``(op, vpn, page)``: the page is exactly ``page_size``
    bytes for OP_OUT and OP_WRITE and None otherwise. :meth:`events` yields
    ``(op, vpn, Content | None)``; :meth:`timed` adds each event's timestamp. ``version`` is the
    trace's format version (1: out/in/free only; 2: access events and timestamps too).

    ``position`` is the line (text) or record (binary) of the last event handed out, for messages
    and progress; ``bytes_read`` of ``size`` bytes have been consumed. Iterating again starts over.
    """

    path: Path
    page_size: int
    format: str
    version: int
    flags: int
    position: int
    bytes_read: int
    size: int

    def __init__(self, path: os.PathLike[str] | str, *, allow_dirs: Sequence[os.PathLike[str] | str] = (),
                 page_size: int | None = None) -> None:
        self.path = Path(path)
        self._name = os.fspath(path)
        self.allow_dirs = tuple(allow_dirs)
        self.position = 0
        self.bytes_read = 0
        self.flags = 0
        self.version = 1
        self._explicit_page_size = False
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file ignores it
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as e:
            raise TraceError(self._name, "line 1", f"cannot open: {e.strerror}") from None
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise TraceError(self._name, "line 1", f"cannot open: {os.strerror(21)}")
            if not stat.S_ISREG(st.st_mode):
                raise TraceError(self._name, "line 1", "cannot read: a trace must be a regular "
                                 "file (this is a " + _file_kind(st.st_mode) + ")")
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        self._file: BinaryIO = os.fdopen(fd, "rb")
        try:
            if not self._file.seekable():
                raise TraceError(self._name, "line 1", "cannot read: a trace must be a regular file")
            self.size = os.fstat(self._file.fileno()).st_size
            self._files = _PageFiles(os.path.dirname(os.path.abspath(path)), allow_dirs)
            start = self._read(HEADER_SIZE)
            if start[:1] == BINARY_MAGIC[:1]:
                self.format = "binary"
                self._open_binary(start)
            else:
                self.format = "text"
                self._open_text()
            if page_size is not None and page_size != self.page_size:
                if self._explicit_page_size:
                    raise TraceError(self._name, self._where(self._page_size_at),
                                     f"the trace's page size {self.page_size} does not match "
                                     f"the expected {page_size}")
                self.page_size = page_size
        except BaseException:
            self.close()
            raise

    # error helpers
    def _where(self, n: int) -> str:
        return f"{'line' if self.format == 'text' else 'record'} {n}"

    def _error(self, n: int, message: str) -> TraceError:
        return TraceError(self._name, self._where(n), message)

    def _read(self, n: int) -> bytes:
        try:
            return self._file.read(n)
        except OSError as e:
            raise TraceError(self._name, self._where(self.position) if hasattr(self, "format")
                             else "line 1", f"cannot read: {e.strerror}") from None

    # binary ------------------------------------------------------------------------------------
    def _open_binary(self, start: bytes) -> None:
        self._page_size_at = 0
        if len(start) < HEADER_SIZE and BINARY_MAGIC.startswith(start[: len(BINARY_MAGIC)]):
            raise self._error(0, f"truncated header: {len(start)} of {HEADER_SIZE} bytes")
        if start[: len(BINARY_MAGIC)] != BINARY_MAGIC:
            raise self._error(0, "bad magic: not a ghostswap binary trace")
        h = trace_header.parse(start)
        if h.version not in READ_VERSIONS:
            raise self._error(0, f"unsupported binary trace version {h.version} "
                                 f"(this ghostswap reads versions 1 and {BINARY_VERSION})")
        self.version = h.version
        if h.flags & ~TF_KNOWN:
            raise self._error(0, f"unknown flags 0x{h.flags:04x}")
        if h.page_size not in TRACE_PAGE_SIZES:
            raise self._error(0, f"bad page size {h.page_size}: expected a power of two "
                                 "from 4096 to 65536")
        self.flags = h.flags
        self.page_size = h.page_size
        self._explicit_page_size = True
        self._data_offset = HEADER_SIZE

    def _binary(self, materialize: bool, timed: bool = False) -> Iterator[tuple]:
        """Decode records from 1 MiB chunks read into one reused buffer (fresh 1 MiB objects
        would cost a page fault per 4 KiB); each page is copied out as its own ``bytes``. A
        record that may straddle the end of the chunk waits for the next read. ``timed`` adds
        the record's timestamp (or None) as a fourth item."""
        readinto = self._file.readinto
        ps = self.page_size
        unpack = _WORD.unpack_from
        v2 = self.version >= ACCESS_VERSION
        maxrec = (16 if v2 else 8) + ps
        buf = bytearray(_CHUNK + maxrec)
        mv = memoryview(buf)
        n = pos = rec = 0
        name = self._name
        last_t = 0
        t = None
        try:
            while True:
                rem = n - pos
                if rem and pos:
                    buf[0:rem] = bytes(mv[pos:n])
                try:
                    got = readinto(mv[rem : rem + _CHUNK])
                except OSError as e:
                    raise TraceError(name, f"record {rec + 1}", f"cannot read: {e.strerror}") from None
                eof = not got
                n = rem + (got or 0)
                pos = 0
                self.bytes_read += got or 0
                limit = n - 8 if eof else n - maxrec
                while pos <= limit:
                    word = unpack(buf, pos)[0]
                    code = word >> 52
                    rec += 1
                    pos += 8
                    if code & RF_TIME and v2:
                        if pos + 8 > n:
                            raise TraceError(name, f"record {rec}", f"truncated record: timestamp "
                                             f"of {n - pos} bytes, expected 8")
                        t = unpack(buf, pos)[0]
                        pos += 8
                        code ^= RF_TIME
                        if t < last_t:
                            raise TraceError(name, f"record {rec}", f"timestamp {t} goes back "
                                             f"(the previous was {last_t})")
                        last_t = t
                    elif t is not None:
                        t = None
                    if code == C_READ and v2:
                        ev = (OP_READ, word & _VPN_MASK, None)
                    elif code == C_RAW or (code == C_W_RAW and v2):
                        end = pos + ps
                        if end > n:
                            raise TraceError(name, f"record {rec}", f"truncated record: page "
                                             f"payload of {n - pos} bytes, expected {ps}")
                        page = bytes(mv[pos:end])
                        pos = end
                        ev = (OP_OUT if code == C_RAW else OP_WRITE, word & _VPN_MASK,
                              page if materialize else Content(K_RAW, data=page))
                    elif code == C_IN:
                        ev = (OP_IN, word & _VPN_MASK, None)
                    elif code == C_FREE:
                        ev = (OP_FREE, word & _VPN_MASK, None)
                    elif code == C_ZERO or (code == C_W_ZERO and v2):
                        ev = (OP_OUT if code == C_ZERO else OP_WRITE, word & _VPN_MASK,
                              zero_page(ps) if materialize else Content(K_ZERO))
                    elif code in _SEEDED or (code in _W_SEEDED and v2):
                        if pos + 8 > n:
                            raise TraceError(name, f"record {rec}", f"truncated record: value of "
                                             f"{n - pos} bytes, expected 8")
                        value = unpack(buf, pos)[0]
                        pos += 8
                        kind = _SEEDED.get(code) or _W_SEEDED[code]
                        ev = (OP_OUT if code in _SEEDED else OP_WRITE, word & _VPN_MASK,
                              _PAGE_OF[kind](value, ps) if materialize else Content(kind, value))
                    else:
                        raise TraceError(name, f"record {rec}",
                                         f"bad record: {_bad_code(code, self.version)}")
                    self.position = rec
                    yield (*ev, t) if timed else ev
                if eof:
                    if pos < n:
                        raise TraceError(name, f"record {rec + 1}",
                                         f"truncated record: {n - pos} of 8 header bytes")
                    return
        finally:
            mv.release()

    # text --------------------------------------------------------------------------------------
    def _lines(self) -> Iterator[bytes]:
        readline = self._file.readline
        n = 0
        while True:
            n += 1
            try:
                line = readline(_MAX_LINE)
            except OSError as e:
                raise self._error(n, f"cannot read: {e.strerror}") from None
            if not line:
                return
            if len(line) >= _MAX_LINE and not line.endswith(b"\n"):
                raise self._error(n, f"line longer than {_MAX_LINE} bytes")
            yield line

    def _open_text(self) -> None:
        """Check the first line and find the page size before the first event, so ``page_size``
        is known as soon as the trace is open. Iteration parses everything again from line 1."""
        self._file.seek(0)
        self._data_offset = 0
        self.page_size = DEFAULT_PAGE_SIZE
        self._page_size_at = 1
        lineno = 0
        for lineno, line in enumerate(self._lines(), 1):  # noqa: B007
            parts = line.split()
            if lineno == 1:
                self._check_first_line(parts)
                continue
            if not parts or parts[0][:1] == b"#":
                continue
            if parts[0] == b"page-size":
                self.page_size = self._page_size_directive(lineno, parts)
                self._explicit_page_size = True
                self._page_size_at = lineno
            break
        if lineno == 0:
            raise self._error(1, "empty file: not a ghostswap trace "
                                 f"(the first line must be '{TEXT_MAGIC} 1' or '{TEXT_MAGIC} {TEXT_VERSION}')")

    def _check_first_line(self, parts: list[bytes]) -> None:
        if len(parts) >= 2 and parts[0] == TEXT_MAGIC.encode() and (
            len(parts) == 2 or parts[2][:1] == b"#"
        ):
            for v in READ_VERSIONS:
                if parts[1] == str(v).encode():
                    self.version = v
                    return
            raise self._error(1, f"unsupported trace version {_show(parts[1])!r} "
                                 f"(this ghostswap reads versions 1 and {TEXT_VERSION})")
        raise self._error(1, f"not a ghostswap trace: the first line must be "
                             f"'{TEXT_MAGIC} 1' or '{TEXT_MAGIC} {TEXT_VERSION}'")

    def _page_size_directive(self, lineno: int, parts: list[bytes]) -> int:
        if len(parts) < 2 or (len(parts) > 2 and parts[2][:1] != b"#"):
            raise self._error(lineno, "bad directive: expected 'page-size N'")
        size = _number(parts[1])
        if size not in TRACE_PAGE_SIZES:
            raise self._error(lineno, f"bad page size {_show(parts[1])!r}: expected a power of "
                                      "two from 4096 to 65536")
        return size

    def _text(self, materialize: bool, timed: bool = False) -> Iterator[tuple]:
        ps = self.page_size
        files = self._files
        seen_event = False
        seen_directive = False
        name = self._name
        lineno = 0
        last_t = 0
        v2 = self.version >= ACCESS_VERSION
        for line in self._lines():
            lineno += 1
            self.bytes_read += len(line)
            parts = line.split()
            if lineno == 1:
                self._check_first_line(parts)
                v2 = self.version >= ACCESS_VERSION
                continue
            if not parts:
                continue
            word = parts[0]
            op = _OPS.get(word)
            nparts = len(parts)
            t = None
            try:
                if op is None:
                    if word[:1] == b"#":
                        continue
                    if word == b"page-size":
                        if seen_event:
                            raise _Bad("page-size directive after the first event")
                        if seen_directive:
                            raise _Bad("duplicate page-size directive")
                        seen_directive = True
                        self._page_size_directive(lineno, parts)
                        continue
                    raise _Bad(f"unknown event {_show(word)!r}: expected out, in, free, read, write "
                               "or a page-size directive")
                if op in ACCESS_OPS and not v2:
                    raise _Bad(f"{word.decode()} events need trace version 2 "
                               f"(the first line says '{TEXT_MAGIC} 1')")
                want = 3 if op in _CONTENT_OPS else 2
                if nparts > want and parts[want][:1] == b"@":
                    if not v2:
                        raise _Bad(f"timestamps need trace version 2 (the first line says '{TEXT_MAGIC} 1')")
                    t = _t_ns(parts[want])
                    if t < last_t:
                        raise _Bad(f"timestamp {t} goes back (the previous was {last_t})")
                    last_t = t
                    want += 1
                if nparts != want and (nparts < want or parts[want][:1] != b"#"):
                    if nparts < want:
                        raise _Bad(f"{word.decode()}: missing "
                                   f"{'VPN' if nparts == 1 else 'content'}")
                    raise _Bad(f"{word.decode()}: unexpected {_show(parts[want])!r} "
                               "(comments start with #)")
                vpn = _vpn(parts[1])
                seen_event = True
                if op not in _CONTENT_OPS:
                    self.position = lineno
                    yield (op, vpn, None, t) if timed else (op, vpn, None)
                    continue
                if parts[2][:1] == b"@":
                    raise _Bad(f"{word.decode()}: missing content")
                c = _parse_content(parts[2], ps)
                if c.kind == K_FILE:
                    c = c._replace(data=files.read(c.path, c.offset, ps))
            except _Bad as e:
                raise TraceError(name, f"line {lineno}", str(e)) from None
            self.position = lineno
            x = (c.data if c.data is not None else content_page(c, ps)) if materialize else c
            yield (op, vpn, x, t) if timed else (op, vpn, x)

    # public ------------------------------------------------------------------------------------
    def _restart(self) -> None:
        if self._file.closed:
            raise ValueError("I/O operation on a closed trace")
        self._file.seek(self._data_offset)
        self.position = 0
        self.bytes_read = self._data_offset

    def __iter__(self) -> Iterator[tuple[int, int, bytes | None]]:
        self._restart()
        if self.format == "binary":
            return self._binary(True)  # type: ignore[return-value]
        return self._text(True)  # type: ignore[return-value]

    def events(self) -> Iterator[tuple[int, int, Content | None]]:
        """Like iterating, but the third item is the :class:`Content` as the trace states it
        (``file`` contents carry the page read in ``data``); pages are not generated."""
        self._restart()
        if self.format == "binary":
            return self._binary(False)  # type: ignore[return-value]
        return self._text(False)  # type: ignore[return-value]

    def word_chunks(self) -> Iterator[array]:
        """Binary traces: the records as little-endian 64-bit words, about 1 MiB at a time, for
        decoders that walk the layout themselves (the access replay's fast path). No check is
        made here; a decoder that meets anything unexpected re-reads with :meth:`timed` for the
        error message. Every record is a whole number of words (page sizes are)."""
        self._restart()
        while True:
            data = self._read(_CHUNK)
            if not data:
                return
            self.bytes_read += len(data)
            words = array("Q")
            words.frombytes(data[: len(data) // 8 * 8])
            if len(data) % 8:
                words.append(1 << 63 | 0xF << 52)  # never a valid head: makes the decoder stop
            yield words

    def timed(self, materialize: bool = True) -> Iterator[tuple[int, int, object, int | None]]:
        """``(op, vpn, page_or_content, t_ns)``: iterating (``materialize``) or :meth:`events`,
        with each event's timestamp in ns, or None for an event without one."""
        self._restart()
        if self.format == "binary":
            return self._binary(materialize, True)
        return self._text(materialize, True)

    def close(self) -> None:
        if hasattr(self, "_files"):
            self._files.close()
        if hasattr(self, "_file"):
            self._file.close()

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TraceReader {self._name!r} {self.format} page_size={self.page_size}>"


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISDIR, "directory"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def open_trace(path: os.PathLike[str] | str, *, allow_dirs: Sequence[os.PathLike[str] | str] = (),
               page_size: int | None = None) -> TraceReader:
    """Open a text or binary trace (told apart by the first byte).

    ``file:`` pages are read only from the trace's folder (and below) and from ``allow_dirs``.
    ``page_size``, when given, is the page size the caller needs: a trace that declares another
    one is refused, and a text trace without ``page-size`` takes it instead of the default 4096.
    """
    return TraceReader(path, allow_dirs=allow_dirs, page_size=page_size)


# --- the writer ----------------------------------------------------------------------------------


class TraceWriter:
    """Writes a trace to a temporary file beside ``path`` and renames it into place on
    :meth:`close`, so a failed run leaves any old file as it was (:meth:`abort` or an exception in
    the ``with`` block discards it).

    Events: ``out(vpn, content)``, ``in_(vpn)``, ``free(vpn)``, and the access events
    ``read(vpn)`` and ``write(vpn, content)`` (or ``access(vpn, content_or_None)``); each takes
    ``t_ns=`` (a timestamp in ns, never decreasing). ``out()`` and ``write()`` take the page as
    bytes (zero and same-filled pages are recognised and written as ``zero``/``fill``), a
    descriptor string (``"text:7"``, ``"file:data.bin:8192"``), or a :class:`Content`. ``file:`` paths are relative to the output's folder; a binary trace stores
    the page read from there.
    """

    def __init__(self, path: os.PathLike[str] | str, format: str = "text",
                 page_size: int = DEFAULT_PAGE_SIZE, *, flags: int = 0,
                 comments: Sequence[str] = (), allow_dirs: Sequence[os.PathLike[str] | str] = ()) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown trace format {format!r}: expected text or binary")
        if page_size not in TRACE_PAGE_SIZES:
            raise ValueError(f"bad page size {page_size}: expected a power of two from 4096 to 65536")
        if flags & ~TF_KNOWN:
            raise ValueError(f"unknown flags 0x{flags:x}")
        self.path = Path(path)
        self.format = format
        self.page_size = page_size
        self.flags = flags
        self.events = 0
        self.closed = False
        self.private = False  # holds page contents (raw pages): created 0600, like the state
        self._buffered = 0
        folder = os.path.dirname(os.path.abspath(path))
        self._files = _PageFiles(folder, allow_dirs)
        try:
            fd, self._tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as e:
            raise OSError(e.errno, e.strerror, os.fspath(path)) from None
        self._f = os.fdopen(fd, "wb", buffering=_CHUNK)
        self._needs_v2 = False
        self._last_t = 0
        # The header says version 1 until an access event or a timestamp is written (then
        # close() patches it to 2): traces of out/in/free only stay readable by older ghostswap.
        if format == "text":
            head = [f"{TEXT_MAGIC} 1"]
            head += [f"# {c}".rstrip() for text in comments for c in text.splitlines() or [""]]
            head.append(f"page-size {page_size}")
            self._f.write(("\n".join(head) + "\n").encode())
        else:
            self._f.write(trace_header.build(dict(version=1, flags=flags, page_size=page_size)))

    @staticmethod
    def _check_vpn(vpn: int) -> None:
        if not 0 <= vpn < MAX_VPN:
            raise ValueError(f"VPN {vpn} out of range (0 <= VPN < 2**52)")

    def comment(self, text: str) -> None:
        """A ``#`` line in a text trace (binary traces have no comments)."""
        if self.format == "text":
            for line in text.splitlines() or [""]:
                self._f.write(f"# {line}".rstrip().encode() + b"\n")

    def _content(self, content: bytes | str | Content) -> Content:
        if isinstance(content, (bytes, bytearray, memoryview)):
            page = bytes(content)
            if len(page) != self.page_size:
                raise ValueError(f"page of the wrong size: {len(page)} bytes, expected {self.page_size}")
            word = same_filled(page)
            if word == 0:
                return Content(K_ZERO)
            if word is not None:
                return Content(K_FILL, word)
            return Content(K_RAW, data=page)
        if isinstance(content, str):
            return parse_content(content, self.page_size)
        if isinstance(content, Content):
            return content
        raise TypeError(f"content must be bytes, a descriptor string or Content, not {type(content).__name__}")

    def _check_t(self, t_ns: int | None) -> int:
        """The record-head bit for ``t_ns``; a timestamp makes the trace version 2."""
        if t_ns is None:
            return 0
        if not 0 <= t_ns < MAX_T_NS:
            raise ValueError(f"timestamp {t_ns} out of range (0 <= t_ns < 2**64)")
        if t_ns < self._last_t:
            raise ValueError(f"timestamp {t_ns} goes back (the previous was {self._last_t})")
        self._last_t = t_ns
        self._needs_v2 = True
        return RF_TIME

    def out(self, vpn: int, content: bytes | str | Content, *, t_ns: int | None = None) -> None:
        """The page was swapped out holding ``content``."""
        self._content_event(OP_OUT, vpn, content, t_ns)

    def write(self, vpn: int, content: bytes | str | Content, *, t_ns: int | None = None) -> None:
        """The process wrote the page, which now holds ``content`` (an access event)."""
        self._needs_v2 = True
        self._content_event(OP_WRITE, vpn, content, t_ns)

    def read(self, vpn: int, *, t_ns: int | None = None) -> None:
        """The process read the page (an access event)."""
        self._needs_v2 = True
        self._event(OP_READ, vpn, t_ns)

    def access(self, vpn: int, content: bytes | str | Content | None = None, *,
               t_ns: int | None = None) -> None:
        """A read (``content`` None) or a write of ``content``."""
        if content is None:
            self.read(vpn, t_ns=t_ns)
        else:
            self.write(vpn, content, t_ns=t_ns)

    def _content_event(self, op: int, vpn: int, content: bytes | str | Content, t_ns: int | None) -> None:
        self._check_vpn(vpn)
        c = self._content(content)
        if c.kind in _VALUE_KINDS and not 0 <= c.value < MAX_SEED:
            raise ValueError(f"value {c.value} does not fit 64 bits")
        if c.kind == K_RAW and (c.data is None or len(c.data) != self.page_size):
            raise ValueError(f"page of the wrong size: {len(c.data or b'')} bytes, expected {self.page_size}")
        if self.format == "text":
            text = format_content(c)  # before the timestamp is taken: a bad path changes nothing
            tbit = self._check_t(t_ns)
            self.events += 1
            if c.kind == K_RAW:
                self.private = True
            stamp = f" @{t_ns}" if tbit else ""
            self._write(f"{OP_NAMES[op]} 0x{vpn:x} {text}{stamp}\n".encode(errors="surrogateescape"))
            return
        if c.kind == K_FILE:
            data = c.data
            if data is None:
                try:
                    data = self._files.read(c.path or "", c.offset, self.page_size)
                except _Bad as e:
                    raise TraceError(os.fspath(self.path), f"record {self.events + 1}", str(e)) from None
            if len(data) != self.page_size:
                raise ValueError(f"page of the wrong size: {len(data)} bytes, expected {self.page_size}")
            c = Content(K_RAW, data=data)
        if c.kind not in (K_RAW, K_ZERO, *_VALUE_KINDS):
            raise ValueError(f"unknown content kind {c.kind}")
        tbit = self._check_t(t_ns)
        self.events += 1
        head = _WORD.pack(vpn | tbit << 52 | op << 56 | c.kind << 60)
        if tbit:
            head += _WORD.pack(t_ns)  # type: ignore[arg-type]
        if c.kind == K_RAW:
            self.private = True
            self._write(head + c.data)  # type: ignore[operator]
        elif c.kind == K_ZERO:
            self._write(head)
        else:
            self._write(head + _WORD.pack(c.value))

    def in_(self, vpn: int, *, t_ns: int | None = None) -> None:
        """A swapped-out page was faulted back in."""
        self._event(OP_IN, vpn, t_ns)

    def free(self, vpn: int, *, t_ns: int | None = None) -> None:
        """The process dropped the page."""
        self._event(OP_FREE, vpn, t_ns)

    def _event(self, op: int, vpn: int, t_ns: int | None = None) -> None:
        self._check_vpn(vpn)
        tbit = self._check_t(t_ns)
        self.events += 1
        if self.format == "text":
            stamp = f" @{t_ns}" if tbit else ""
            self._write(f"{OP_NAMES[op]} 0x{vpn:x}{stamp}\n".encode())
        elif tbit:
            self._write(_WORD.pack(vpn | tbit << 52 | op << 56) + _WORD.pack(t_ns))  # type: ignore[arg-type]
        else:
            self._write(_WORD.pack(vpn | op << 56))

    def _write(self, data: bytes) -> None:
        try:
            self._buffered += len(data)
            if self._buffered >= _CHUNK:
                self._buffered -= _CHUNK
                fault_point("trace")  # the buffer goes to the file now
            self._f.write(data)
        except OSError as e:
            raise self._named(e) from None

    def _named(self, e: OSError) -> OSError:
        """The error of a write, naming the trace being written (a full disk names no file)."""
        return OSError(e.errno, e.strerror, os.fspath(self.path)) if e.filename is None else e

    def _stamp_version(self) -> None:
        """Access events or timestamps were written: say version 2 in the header (the version
        is one digit in text and a fixed 16-bit field in binary, so it is patched in place)."""
        self._f.flush()
        if self.format == "text":
            self._f.seek(len(TEXT_MAGIC) + 1)
            self._f.write(str(TEXT_VERSION).encode())
        else:
            self._f.seek(len(BINARY_MAGIC))
            self._f.write(struct.pack("<H", BINARY_VERSION))

    def close(self) -> None:
        """Finish the file and move it into place (0600 when it holds page contents)."""
        if self.closed:
            return
        self.closed = True
        self._files.close()
        try:
            fault_point("trace")
            if self._needs_v2:
                self._stamp_version()
            self._f.close()
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self._tmp, (0o600 if self.private else 0o666) & ~umask)
            os.replace(self._tmp, self.path)
        except OSError as e:
            self._discard()
            raise self._named(e) from None
        except BaseException:
            self._discard()
            raise

    def abort(self) -> None:
        """Throw the partial file away; the destination stays as it was."""
        if self.closed:
            return
        self.closed = True
        self._files.close()
        try:
            self._f.close()  # may fail again flushing what is left: the file goes anyway
        except OSError:
            pass
        finally:
            self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def open_trace_writer(path: os.PathLike[str] | str, format: str = "text",
                      page_size: int = DEFAULT_PAGE_SIZE, *, flags: int = 0,
                      comments: Sequence[str] = (),
                      allow_dirs: Sequence[os.PathLike[str] | str] = ()) -> TraceWriter:
    """A :class:`TraceWriter`; use it as a context manager or call ``close()``."""
    return TraceWriter(path, format, page_size, flags=flags, comments=comments, allow_dirs=allow_dirs)


# --- summaries and conversion --------------------------------------------------------------------


@dataclasses.dataclass
class TraceSummary:
    """What ``ghostswap trace info`` prints.

    Swapped-out pages are counted under the replay rules: ``out`` swaps a page out, ``in`` and
    ``free`` release it. An ``out`` of a page already out or an ``in`` of a page not out is
    counted as invalid and changes nothing.

    Access traces (version 2) also get ``accesses`` (reads + writes; ``ops`` then has ``read``
    and ``write``), the span of their timestamps, and ``reuse_distance``: for each access, how
    many *other* distinct pages were touched since the same page's previous access (its LRU
    stack distance), in power-of-two buckets ``0``, ``1``, ``2-3``, ``4-7``...; ``cold`` counts
    first touches (and touches after a ``free``). Under plain LRU with room for M pages, an
    access hits exactly when its distance is below M, so the histogram is the trace's
    miss-ratio curve (:meth:`lru_hit_pages`).
    """

    path: str
    format: str
    page_size: int
    flags: int = 0
    version: int = 1
    events: int = 0
    ops: dict[str, int] = dataclasses.field(
        default_factory=lambda: {n: 0 for n in OP_NAMES.values() if n not in ("read", "write")})
    kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    unique_pages: int = 0
    peak_swapped: int = 0
    peak_position: int = 0
    swapped_at_end: int = 0
    invalid_out: int = 0
    invalid_in: int = 0
    free_not_swapped: int = 0
    file_bytes: int = 0
    accesses: int = 0
    first_t_ns: int | None = None
    last_t_ns: int | None = None
    reuse_distance: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def out_bytes(self) -> int:
        return self.ops["out"] * self.page_size

    @property
    def peak_bytes(self) -> int:
        return self.peak_swapped * self.page_size

    def lru_hit_pages(self, pages: int) -> int:
        """Accesses a plain LRU of ``pages`` pages would hit: every bucket wholly below
        ``pages`` (exact when ``pages`` is a power of two, a lower bound otherwise)."""
        hits = 0
        for name, count in self.reuse_distance.items():
            if name != "cold" and int(name.rpartition("-")[2]) < pages:
                hits += count
        return hits

    def to_dict(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        d["captured"] = bool(self.flags & TF_CAPTURED)
        d["out_bytes"] = self.out_bytes
        d["peak_bytes"] = self.peak_bytes
        return d


#: Events handled per batch by :func:`summarize` (its memory beyond the page states).
SUMMARY_BATCH = 1 << 18


def _bucket_name(b: int) -> str:
    if b == 0:
        return "0"
    if b == 1:
        return "1"
    return f"{1 << (b - 1)}-{(1 << b) - 1}"


class ReuseDistances:
    """Exact LRU stack distances in O(log n) per access and one dict entry per live page.

    Each live page is marked in a Fenwick tree at the time of its last access; the distance of
    an access is the number of marks after the page's own. When the clock reaches the tree's
    size the live marks are renumbered 0..live-1 in order (amortised O(1) per access), so the
    tree never holds more than twice the live pages, however long the trace.
    """

    def __init__(self) -> None:
        self.last: dict[int, int] = {}
        self.buckets = [0] * 66  # [0]: cold, [1 + b]: bucket b
        self._size = 1024
        self._tree = [0] * (self._size + 1)
        self._now = 0

    def _add(self, i: int, delta: int) -> None:
        tree, size = self._tree, self._size
        i += 1
        while i <= size:
            tree[i] += delta
            i += i & -i

    def _prefix(self, i: int) -> int:  # marks at positions <= i
        tree = self._tree
        total = 0
        i += 1
        while i > 0:
            total += tree[i]
            i -= i & -i
        return total

    def _compact(self) -> None:
        order = sorted(self.last, key=self.last.__getitem__)
        self._size = max(1024, 2 * len(order))
        self._tree = [0] * (self._size + 1)
        for i, vpn in enumerate(order):
            self.last[vpn] = i
            self._add(i, 1)
        self._now = len(order)

    def access(self, vpn: int) -> int:
        """Record an access; returns its distance (-1 for a cold one)."""
        if self._now >= self._size:
            self._compact()
        prev = self.last.get(vpn)
        if prev is None:
            d = -1
            self.buckets[0] += 1
        else:
            d = len(self.last) - self._prefix(prev)
            self._add(prev, -1)
            self.buckets[1 + d.bit_length()] += 1
        self.last[vpn] = self._now
        self._add(self._now, 1)
        self._now += 1
        return d

    def forget(self, vpn: int) -> None:
        prev = self.last.pop(vpn, None)
        if prev is not None:
            self._add(prev, -1)

    def histogram(self) -> dict[str, int]:
        top = max((i for i, c in enumerate(self.buckets) if c), default=0)
        out = {"cold": self.buckets[0]}
        for i in range(1, top + 1):
            out[_bucket_name(i - 1)] = self.buckets[i]
        return out


def summarize(reader: TraceReader, progress: object = None) -> TraceSummary:
    """Read the whole trace once; ``progress(reader)`` is called every 4096 events if given.

    Memory: about 8 bytes per distinct page (:class:`~ghostswap_cli.codec.pagestates.PageStates`)
    and a batch of events, whatever the trace holds."""
    import numpy as np

    from ghostswap_cli.codec.pagestates import OP_TOUCH, PageStates

    s = TraceSummary(path=os.fspath(reader.path), format=reader.format,
                     page_size=reader.page_size, flags=reader.flags, file_bytes=reader.size,
                     version=reader.version)
    # out/in/free follow the replay's rules; read/write only name their page (OP_TOUCH), and
    # the reuse distances of an access trace keep one entry per live page
    states = PageStates()
    ops_total = [0] * len(OP_NAMES)
    kinds: collections.Counter[int] = collections.Counter()
    reuse = ReuseDistances()
    peak = 0
    first_t = last_t = None
    ops, vpns, where = array("B"), array("Q"), array("q")

    def flush() -> None:
        nonlocal peak
        if not ops:
            return
        o = np.frombuffer(ops, dtype=np.uint8).copy()  # copies: the arrays are refilled
        r = states.batch(o, np.frombuffer(vpns, dtype=np.uint64).copy())
        s.invalid_out += r.invalid_out
        s.invalid_in += r.invalid_in
        s.free_not_swapped += r.free_not_swapped
        if r.peak > peak:
            peak = r.peak
            s.peak_position = where[r.peak_index]
        del ops[:], vpns[:], where[:]

    add_op, add_vpn, add_pos = ops.append, vpns.append, where.append
    live = reuse.last
    for n, (op, vpn, c, t) in enumerate(reader.timed(materialize=False), 1):
        ops_total[op] += 1
        if t is not None:
            if first_t is None:
                first_t = t
            last_t = t
        if op in (OP_READ, OP_WRITE):
            reuse.access(vpn)
            add_op(OP_TOUCH)
            add_vpn(vpn)
            add_pos(reader.position)
            if op == OP_WRITE:
                kinds[c.kind] += 1  # type: ignore[union-attr]
        elif op == OP_FREE and vpn in live:
            reuse.forget(vpn)  # an access trace's page unmapped while resident
        else:
            add_op(op)
            add_vpn(vpn)
            add_pos(reader.position)
            if op == OP_OUT:
                kinds[c.kind] += 1  # type: ignore[union-attr]
        if not n % SUMMARY_BATCH:
            flush()
        if progress is not None and not (n & 4095):
            progress(reader)  # type: ignore[operator]
    flush()
    s.events = sum(ops_total)
    names = [OP_OUT, OP_IN, OP_FREE] + ([OP_READ, OP_WRITE] if reader.version >= ACCESS_VERSION else [])
    s.ops = {OP_NAMES[i]: ops_total[i] for i in names}
    s.kinds = {KIND_NAMES[k]: kinds[k] for k in sorted(kinds)}
    s.unique_pages = states.pages
    s.peak_swapped = peak
    s.swapped_at_end = states.swapped
    s.accesses = ops_total[OP_READ] + ops_total[OP_WRITE]
    s.first_t_ns, s.last_t_ns = first_t, last_t
    if s.accesses:
        s.reuse_distance = reuse.histogram()
    return s


def convert_trace(src: TraceReader, dst: os.PathLike[str] | str, format: str,
                  progress: object = None) -> int:
    """Write ``src`` to ``dst`` in ``format``; returns the number of events.

    Seeded, zero and fill contents stay descriptors. To binary, ``file:`` pages are stored raw.
    To text, raw pages become ``hex:`` (or ``zero``/``fill`` when they are) and ``file:`` pages
    keep their reference, rewritten relative to the output's folder.
    """
    src_dir = os.path.dirname(os.path.abspath(src.path))
    dst_dir = os.path.dirname(os.path.abspath(dst))
    comments = [f"converted from {src.format} trace {src.path.name}"] if format == "text" else []
    with open_trace_writer(dst, format, src.page_size, flags=src.flags, comments=comments) as w:
        for n, (op, vpn, c, t) in enumerate(src.timed(materialize=False), 1):
            if op in (OP_OUT, OP_WRITE):
                assert c is not None
                if c.kind == K_FILE and format == "text" and src_dir != dst_dir:
                    path = os.path.relpath(os.path.join(src_dir, c.path or ""), dst_dir)
                    c = c._replace(path=path)
                elif c.kind == K_RAW:
                    c = w._content(c.data or b"")
                if op == OP_OUT:
                    w.out(vpn, c, t_ns=t)
                else:
                    w.write(vpn, c, t_ns=t)
            elif op == OP_IN:
                w.in_(vpn, t_ns=t)
            elif op == OP_READ:
                w.read(vpn, t_ns=t)
            else:
                w.free(vpn, t_ns=t)
            if progress is not None and not (n & 4095):
                progress(src)  # type: ignore[operator]
        return w.events
