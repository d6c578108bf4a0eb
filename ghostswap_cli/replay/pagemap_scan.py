"""The ``PAGEMAP_SCAN`` ioctl on ``/proc/PID/pagemap`` (Linux 6.7+, fs/proc/task_mmu.c).

One call walks a range of the target's page tables and returns runs of pages by category
(``struct page_region``). What a tracer outside the process really gets from it:

- ``PAGE_IS_PRESENT``, ``PAGE_IS_SWAPPED``, ``PAGE_IS_PFNZERO``, ``PAGE_IS_HUGE``, ``PAGE_IS_FILE``
  on any mapping: the same facts as reading pagemap, in ranges instead of one word per page;
- ``PAGE_IS_SOFT_DIRTY`` only with ``CONFIG_MEM_SOFT_DIRTY``;
- ``PAGE_IS_WRITTEN`` is ``!pte_uffd_wp(pte)`` (``pagemap_page_category()``): it means "written
  since write-protected" only on a VMA registered with userfaultfd in ``UFFDIO_REGISTER_MODE_WP``
  with ``UFFD_FEATURE_WP_ASYNC``, and that registration is made by the process that owns the memory
  (see :mod:`ghostswap_cli.replay.uffd_inject`). Elsewhere every present page reads as written.
  ``PM_SCAN_WP_MATCHING`` write-protects what it reports, so each scan reads and re-arms at once.
- There is no "accessed" category upstream (``PAGE_IS_ACCESSED`` is only a proposed patch), so
  reads of pages already present are invisible to this ioctl.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator

__all__ = (
    "PAGE_IS_WPALLOWED",
    "PAGE_IS_WRITTEN",
    "PAGE_IS_FILE",
    "PAGE_IS_PRESENT",
    "PAGE_IS_SWAPPED",
    "PAGE_IS_PFNZERO",
    "PAGE_IS_HUGE",
    "PAGE_IS_SOFT_DIRTY",
    "PM_SCAN_WP_MATCHING",
    "PM_SCAN_CHECK_WPASYNC",
    "PAGEMAP_SCAN",
    "pagemap_scan",
    "pagemap_scan_supported",
)

# include/uapi/linux/fs.h
PAGE_IS_WPALLOWED = 1 << 0
PAGE_IS_WRITTEN = 1 << 1
PAGE_IS_FILE = 1 << 2
PAGE_IS_PRESENT = 1 << 3
PAGE_IS_SWAPPED = 1 << 4
PAGE_IS_PFNZERO = 1 << 5
PAGE_IS_HUGE = 1 << 6
PAGE_IS_SOFT_DIRTY = 1 << 7
PM_SCAN_WP_MATCHING = 1 << 0
PM_SCAN_CHECK_WPASYNC = 1 << 1


class PageRegion(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64), ("categories", ctypes.c_uint64)]


class PmScanArg(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("start", ctypes.c_uint64),
        ("end", ctypes.c_uint64),
        ("walk_end", ctypes.c_uint64),
        ("vec", ctypes.c_uint64),
        ("vec_len", ctypes.c_uint64),
        ("max_pages", ctypes.c_uint64),
        ("category_inverted", ctypes.c_uint64),
        ("category_mask", ctypes.c_uint64),
        ("category_anyof_mask", ctypes.c_uint64),
        ("return_mask", ctypes.c_uint64),
    ]


def _iowr(kind: str, nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord(kind) << 8) | nr  # _IOC(_IOC_READ|_IOC_WRITE, ...)


PAGEMAP_SCAN = _iowr("f", 16, ctypes.sizeof(PmScanArg))
_VEC_LEN = 512
_libc = ctypes.CDLL(None, use_errno=True)
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]


def pagemap_scan(
    fd: int,
    start: int,
    end: int,
    *,
    category_mask: int = 0,
    category_anyof_mask: int = 0,
    return_mask: int = PAGE_IS_PRESENT,
    flags: int = 0,
) -> Iterator[tuple[int, int, int]]:
    """``(start, end, categories)`` runs of pages in ``[start, end)`` that have every category
    of ``category_mask`` and one of ``category_anyof_mask``; OSError from the ioctl."""
    vec = (PageRegion * _VEC_LEN)()
    arg = PmScanArg(size=ctypes.sizeof(PmScanArg), flags=flags, start=start, end=end,
                    vec=ctypes.addressof(vec), vec_len=_VEC_LEN, category_mask=category_mask,
                    category_anyof_mask=category_anyof_mask, return_mask=return_mask)
    while arg.start < end:
        n = _libc.ioctl(fd, PAGEMAP_SCAN, ctypes.byref(arg))
        if n < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        for i in range(n):
            yield vec[i].start, vec[i].end, vec[i].categories
        # walk_end says how far the kernel got; a full vector stops it early
        if arg.walk_end <= arg.start or arg.walk_end >= end:
            break
        arg.start = arg.walk_end


def pagemap_scan_supported(fd: int) -> tuple[bool, str]:
    """Whether the running kernel has the ioctl (6.7+), probed on an empty range."""
    try:
        list(pagemap_scan(fd, 0, 0x1000))
    except OSError as e:
        if e.errno in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP):
            return False, f"the kernel has no PAGEMAP_SCAN ioctl (Linux 6.7+): {e.strerror}"
        return False, f"PAGEMAP_SCAN failed: {e.strerror}"
    return True, ""
