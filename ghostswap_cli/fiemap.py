"""The FS_IOC_FIEMAP ioctl (linux/fiemap.h): a file's extents as the file system maps them.

Read by mkswap (util-linux's ``check_extents()``: holes and extents a swap area cannot use) and
by the simulated swapon (``iomap_swapfile_activate``'s walk of a swapfile); each reads the
extents its own way.
"""

from __future__ import annotations

import fcntl
import struct
from collections.abc import Iterator

__all__ = (
    "FIEMAP_EXTENT_DATA_INLINE",
    "FIEMAP_EXTENT_DELALLOC",
    "FIEMAP_EXTENT_LAST",
    "FIEMAP_EXTENT_SHARED",
    "fiemap_extents",
)

FS_IOC_FIEMAP = 0xC020660B
FIEMAP_FLAG_SYNC = 0x1
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_DELALLOC = 0x4
FIEMAP_EXTENT_DATA_INLINE = 0x200
FIEMAP_EXTENT_SHARED = 0x2000
FIEMAP_MAX_OFFSET = (1 << 64) - 1
_HEAD = struct.Struct("=QQIIII")  # struct fiemap
_EXTENT = struct.Struct("=QQQQQIIII")  # struct fiemap_extent


def extents_fitting(buffer_bytes: int) -> int:
    """How many extents one call returns into a buffer of ``buffer_bytes`` (util-linux sizes
    its request by an 8192-byte buffer)."""
    return (buffer_bytes - _HEAD.size) // _EXTENT.size


def fiemap_extents(fd: int, start: int, end: int | None, per_call: int
                   ) -> Iterator[tuple[int, int, int, int]]:
    """``(logical, physical, length, flags)`` of each extent from ``start``, ``per_call`` at a
    time, until the extent flagged last, an empty answer, or ``end`` (None: ask for the whole
    file, ``fm_length`` = ~0, as util-linux does). The ioctl's OSError reaches the caller:
    file systems without FIEMAP answer EOPNOTSUPP, ENOTTY or EINVAL."""
    pos = start
    while end is None or pos < end:
        buf = bytearray(_HEAD.size + _EXTENT.size * per_call)
        length = FIEMAP_MAX_OFFSET if end is None else end - pos
        _HEAD.pack_into(buf, 0, pos, length, FIEMAP_FLAG_SYNC, 0, per_call, 0)
        fcntl.ioctl(fd, FS_IOC_FIEMAP, buf, True)
        mapped = _HEAD.unpack_from(buf, 0)[3]
        if mapped == 0:
            return
        last = False
        for i in range(mapped):
            logical, physical, length, _r1, _r2, flags, *_ = _EXTENT.unpack_from(
                buf, _HEAD.size + i * _EXTENT.size)
            yield logical, physical, length, flags
            pos = logical + length
            if flags & FIEMAP_EXTENT_LAST:
                last = True
        if last:
            return
