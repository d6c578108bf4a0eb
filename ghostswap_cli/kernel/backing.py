"""What the simulated kernel learns from the real file behind a swap area.

The block device under a swapfile decides ``SWP_SOLIDSTATE`` (``bdev_nonrot``) and whether
discard is possible (``bdev_max_discard_sectors``); the file's extents decide the dmesg
``extents:N across:Mk`` figures and whether the file has holes. We read all of that from the
real machine, read-only: sysfs for the device, FIEMAP (or SEEK_HOLE where FIEMAP is missing) for
the file, as ``iomap_swapfile_activate`` (fs/iomap/swapfile.c) walks it.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path

from ghostswap_cli.fiemap import (
    FIEMAP_EXTENT_DATA_INLINE,
    FIEMAP_EXTENT_DELALLOC,
    FIEMAP_EXTENT_SHARED,
    fiemap_extents,
)

__all__ = ("DeviceProps", "device_props", "Extents", "swapfile_extents")

_EXTENTS_PER_CALL = 256


@dataclasses.dataclass(frozen=True)
class DeviceProps:
    rotational: bool
    discard: bool


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def device_props(st_dev: int) -> DeviceProps:
    """Rotational and discard support of the block device holding a file (sysfs, read-only).

    Files on something without a block device (tmpfs, overlay) count as rotational without
    discard: ``bdev_nonrot`` is false when nothing says otherwise.
    """
    base = Path(f"/sys/dev/block/{os.major(st_dev)}:{os.minor(st_dev)}")
    for queue in (base / "queue", base / ".." / "queue"):
        rot = _read_int(queue / "rotational")
        if rot is not None:
            discard = _read_int(queue / "discard_max_bytes") or 0
            return DeviceProps(rotational=bool(rot), discard=discard > 0)
    return DeviceProps(rotational=True, discard=False)


@dataclasses.dataclass(frozen=True)
class Extents:
    """The outcome of walking a swapfile's pages (``max`` of them counted)."""

    nr_extents: int
    span_pages: int  # 1 + highest - lowest physical page, the header page not counted
    failure: str | None = None  # the reason iomap_swapfile_fail would print, or None


def _fiemap(fd: int, start: int, length: int) -> list[tuple[int, int, int, int]] | None:
    """The extents of ``length`` bytes from ``start``; None where the file system has no
    FIEMAP (the caller falls back to SEEK_HOLE)."""
    try:
        return list(fiemap_extents(fd, start, start + length, _EXTENTS_PER_CALL))
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.EBADRQC):
            return None
        raise


def swapfile_extents(path: str | Path, max_pages: int, page_size: int) -> Extents:
    """Walk a regular file as ``iomap_swapfile_activate`` (fs/iomap/swapfile.c) does.

    The whole file is mapped, whole pages of it (``ALIGN_DOWN(i_size, PAGE_SIZE)``), whatever
    the header's ``last_page``: a hole anywhere gives ``has unallocated extents``, inline data
    ``is inline``, reflinked blocks ``has shared extents``. Physically contiguous extents merge,
    and each merged extent is trimmed to whole pages. ``iomap_swapfile_add_extent`` then stops
    adding once ``max_pages`` are in, clamps only the page count of the extent that reaches
    it, and takes the span from that extent's whole end, so a header shorter than its file
    still reports ``across:`` the extents it touched. (Every release from 5.x to 6.18.)
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        length = size - size % page_size
        if length <= 0:
            return Extents(0, 0, "has unallocated extents")
        extents = _fiemap(fd, 0, length)
        if extents is None:
            return _extents_by_seek(fd, length, max_pages, page_size)
    finally:
        os.close(fd)
    merged: list[list[int]] = []  # [logical, physical, length]
    expect = 0
    for lo, ph, ln, fl in extents:
        if lo >= length:
            break
        if lo > expect:
            return Extents(0, 0, "has unallocated extents")
        if fl & FIEMAP_EXTENT_DATA_INLINE:
            return Extents(0, 0, "is inline")
        if fl & FIEMAP_EXTENT_DELALLOC:
            return Extents(0, 0, "has unallocated extents")
        if fl & FIEMAP_EXTENT_SHARED:
            return Extents(0, 0, "has shared extents")
        ln = min(ln, length - lo)
        if merged and merged[-1][1] + merged[-1][2] == ph:
            merged[-1][2] += ln
        else:
            merged.append([lo, ph, ln])
        expect = lo + ln
    if expect < length:
        return Extents(0, 0, "has unallocated extents")
    nr = 0
    nr_pages = 0
    lowest = None
    highest = 0
    for lo, ph, ln in merged:
        if nr_pages >= max_pages:
            break  # iomap_swapfile_add_extent: "isi->nr_pages >= isi->sis->max" adds nothing
        first = -(-ph // page_size)
        nxt = (ph + ln) // page_size
        if first >= nxt:
            continue
        nr_pages += min(nxt - first, max_pages - nr_pages)
        reported = first + 1 if lo == 0 else first
        lowest = reported if lowest is None else min(lowest, reported)
        highest = max(highest, nxt - 1)
        nr += 1
    if nr == 0 or lowest is None:
        return Extents(0, 0, "Cannot find a single usable page in file.")
    return Extents(nr, 1 + highest - lowest)


def _extents_by_seek(fd: int, length: int, max_pages: int, page_size: int) -> Extents:
    """Without FIEMAP (tmpfs and friends), SEEK_HOLE still finds holes; count one extent
    across the whole file, as one physically contiguous extent would be."""
    try:
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
    except OSError:
        hole = length
    if hole < length:
        return Extents(0, 0, "has unallocated extents")
    return Extents(1, length // page_size - 1)


def has_holes(path: str | Path) -> bool:
    """util-linux swapon's test: fewer allocated bytes than the file's size."""
    st = os.stat(path)
    return st.st_blocks * 512 < st.st_size

