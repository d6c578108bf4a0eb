"""Swap page I/O against the real file behind a swap area.

Mirrors mm/page_io.c: ``__swap_writepage`` writes a page to its slot (``offset * PAGE_SIZE`` in
the file, page 0 being the header); ``swap_read_folio`` reads it back. With the RFC, a write to a
ghost area fails with AOP_WRITEPAGE_ACTIVATE (the page stays resident) and a read of a ghost
slot that neither the zeromap nor zswap holds finds no data (the kernel's SIGBUS).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ghostswap_cli.errors import KernelError
from ghostswap_cli.faults import fault_point

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel
    from ghostswap_cli.kernel.swapfile import SwapInfoStruct

__all__ = ("AOP_WRITEPAGE_ACTIVATE", "PageIO")

AOP_WRITEPAGE_ACTIVATE = 0x80000


class PageIO:
    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.page_size = k.page_size

    def _fd(self, si: SwapInfoStruct) -> int:
        fd = si.fd
        if fd is None:
            from ghostswap_cli.kernel.swapfile import backing_path

            try:
                fd = os.open(backing_path(self.k.directory, si), os.O_RDWR | os.O_NOFOLLOW)
            except OSError as e:
                raise KernelError(e.errno or 5, f"{si.path}: {e.strerror}") from None
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (si.dev, si.ino):
                os.close(fd)
                raise KernelError(5, f"{si.path}: swap file was replaced while active")
            si.fd = fd
        return fd

    def swap_writepage_disk(self, si: SwapInfoStruct, offset: int, page: bytes) -> None:
        """``swap_writepage_bdev_sync``: the page lands in the file at its slot."""
        fd = self._fd(si)
        try:
            fault_point("swapfile")
            n = os.pwrite(fd, page, offset * self.page_size)
        except OSError as e:
            n, err = -1, e
        if n != len(page):
            # end_swap_bio_write's line; the command fails and nothing of it is committed
            self.k.printk.pr_err(f"Write-error on swap-device ({os.major(si.dev)}:"
                                   f"{os.minor(si.dev)}:{offset * (self.page_size // 512)})")
            code = err.errno if n < 0 and err.errno else 5
            raise KernelError(code, f"{si.path}: write of swap slot {offset} failed: "
                                    f"{os.strerror(code)}")
        self.k.counters["pswpout"] += 1

    def swap_read_disk(self, si: SwapInfoStruct, offset: int) -> bytes:
        data = os.pread(self._fd(si), self.page_size, offset * self.page_size)
        self.k.counters["pswpin"] += 1
        if len(data) != self.page_size:
            # the file was truncated under us: the kernel would get an I/O error
            return data + bytes(self.page_size - len(data))
        return data
