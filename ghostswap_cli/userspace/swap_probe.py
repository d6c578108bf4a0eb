"""libblkid's swap prober, the part of :mod:`ghostswap_cli.userspace.common` every listing needs.

:class:`ProbeArea` (a device or file as libblkid reads it), :class:`Signature`, the ``swap``
prober (``probe_swap()`` + ``swap_set_info()``) and ``blkid_probe_set_label()``: what
``swapon --show``, ``swapshow``, swaplabel and the ``LABEL=``/``UUID=`` resolution read a
swap header with. Apart from the other probers, the mounts and the partition checks (which
``common`` keeps, and re-exports these) so that listing the areas builds none of those.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from ghostswap_cli.codec.swap_header import TOI_MAGIC, find_swap_header
from ghostswap_cli.uapi import PAGE_SIZES, SWAP_LABEL_LENGTH

if TYPE_CHECKING:
    from ghostswap_cli.codec.swap_header import FoundSignature

__all__ = ("SWAP_MINSZ", "area_size", "ProbeArea", "Signature", "probe_swap", "blkid_label")

# libblkid swap_idinfo.minsz / swsuspend_idinfo.minsz: "10 pages" of 4 KiB, whatever the page size
SWAP_MINSZ = 10 * 4096


def area_size(fd: int, st: os.stat_result) -> int | None:
    """The bytes libblkid probes on ``fd``: a regular file's length, a block device's size
    (its end, by seeking); None for anything else (blkid_probe_set_device refuses it)."""
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    if stat.S_ISBLK(st.st_mode):
        return os.lseek(fd, 0, os.SEEK_END)
    return None


_HEAD = 69632  # 68 KiB: every magic below sits in here (btrfs at 64 KiB + 64 is the last)


class ProbeArea:
    """A window of a device or file read as libblkid reads it.

    ``read(off, n)`` returns None when the range runs past the end (``blkid_probe_get_buffer``
    fails there) and the bytes otherwise. ``zeroed()`` returns a view with a range wiped in
    memory, as blkid_do_wipe() leaves the device for the next probe.
    """

    def __init__(self, size: int, reader: Callable[[int, int], bytes], head: bytes | None = None,
                 zeros: tuple[tuple[int, int], ...] = ()):
        self.size = max(size, 0)
        self._reader = reader
        self._head = head if head is not None else reader(0, min(self.size, _HEAD))
        self._zeros = zeros

    @classmethod
    def from_bytes(cls, data: bytes, size: int | None = None) -> ProbeArea:
        """An area over ``data``; ``size`` may claim more (reads past ``data`` give zeros)."""
        data = bytes(data)
        total = len(data) if size is None else size

        def reader(off: int, n: int) -> bytes:
            chunk = data[off : off + n]
            return chunk + bytes(n - len(chunk))

        return cls(total, reader)

    @classmethod
    def from_fd(cls, fd: int, offset: int, size: int) -> ProbeArea:
        """The ``size`` bytes of ``fd`` from ``offset`` (short reads are zero-filled)."""

        def reader(off: int, n: int) -> bytes:
            chunk = os.pread(fd, n, offset + off)
            return chunk + bytes(n - len(chunk))

        return cls(size, reader)

    def read(self, off: int, n: int) -> bytes | None:
        if off < 0 or n < 0 or off + n > self.size:
            return None
        data = self._head[off : off + n] if off + n <= len(self._head) else self._reader(off, n)
        for zoff, zlen in self._zeros:
            lo, hi = max(off, zoff), min(off + n, zoff + zlen)
            if lo < hi:
                data = data[: lo - off] + bytes(hi - lo) + data[hi - off :]
        return data

    def zeroed(self, off: int, n: int) -> ProbeArea:
        return ProbeArea(self.size, self._reader, self._head, (*self._zeros, (off, n)))

    def head(self, n: int) -> bytes:
        """The first ``min(n, size)`` bytes (with in-memory wipes applied)."""
        return self.read(0, min(n, self.size)) or b""


# a NamedTuple, not a frozen dataclass: every listing builds this class at import, and a
# frozen dataclass compiles six methods for it there
class Signature(NamedTuple):
    """One signature libblkid would report: TYPE, USAGE and where its magic is."""

    type: str
    usage: str
    offset: int  # of the magic, from the start of the area
    magic: bytes  # what blkid_do_wipe() zeroes
    version: str | None = None
    found: FoundSignature | None = None  # swap and swsuspend: the header as the codec read it

    @property
    def is_swap(self) -> bool:
        return self.type in ("swap", "swsuspend")


def _magic_at(area: ProbeArea, off: int, magic: bytes) -> bool:
    """``blkid_probe_get_idmag()``: the 1 KiB block holding the magic must be readable."""
    block = area.read(off & ~0x3FF, 1024)
    if block is None:
        return False
    rel = off & 0x3FF
    return block[rel : rel + len(magic)] == magic


def _page_sizes(area: ProbeArea) -> tuple[int, ...]:
    return tuple(ps for ps in PAGE_SIZES if ps <= area.size)


def probe_swap(area: ProbeArea, *, minsz: bool = True) -> Signature | None:
    """libblkid's ``swap`` prober (``probe_swap()`` + ``swap_set_info()``).

    The first SWAP-SPACE/SWAPSPACE2 magic decides; SWAPSPACE2 needs version 1 (either byte
    order) and a non-zero last_page; a TuxOnIce magic at offset 0 makes it TuxOnIce's.
    ``minsz=False`` drops libblkid's 40 KiB minimum (ghostswap's probe reads ghost files).
    """
    if minsz and area.size < SWAP_MINSZ:
        return None
    sizes = _page_sizes(area)
    found = find_swap_header(area.head(max(sizes, default=0)), sizes)
    if found is None:
        return None
    if _magic_at(area, 0, TOI_MAGIC):
        return None
    off = found.page_size - 10
    if found.header is None:
        return Signature("swap", "other", off, found.signature, "0", found)
    h = found.header
    if h.version != 1 or h.last_page == 0:
        return None
    return Signature("swap", "other", off, found.signature, "1", found)


def blkid_label(volume: bytes) -> bytes | None:
    """``blkid_probe_set_label()``: up to the first NUL, trailing white space removed."""
    raw = bytes(volume[:SWAP_LABEL_LENGTH]).split(b"\0", 1)[0].rstrip(b" \t\n\v\f\r")
    return raw or None
