"""Asynchronous userfaultfd write-protection, set up inside a traced process from outside.

``PAGEMAP_SCAN`` reports ``PAGE_IS_WRITTEN`` faithfully only on VMAs registered with a userfaultfd
in write-protect mode with ``UFFD_FEATURE_WP_ASYNC`` (fs/userfaultfd.c, mm/userfaultfd.c). Async
means no fault is ever sent to user space: the kernel lifts the protection itself on the first write
and the page reads as written until the next ``PM_SCAN_WP_MATCHING`` scan re-protects it. The
target pays one minor fault per page per interval it writes, nothing for reads.

A userfaultfd belongs to the mm of the process that calls ``userfaultfd(2)``, so the calls below
are made *by the target*, injected with ptrace (:mod:`ghostswap_cli.replay.ptrace`):
``userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY)``, ``UFFDIO_API`` with
``UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED``, then one ``UFFDIO_REGISTER`` (mode WP)
per anonymous VMA, again for VMAs that appear later (a new mmap or brk never merges with a
registered VMA: ``is_mergeable_vma()`` compares the userfaultfd context).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable

from ghostswap_cli.replay.ptrace import PtraceError, Tracee

__all__ = ("UffdWriteProtect", "UffdError")

NR_CLOSE, NR_IOCTL, NR_USERFAULTFD = 3, 16, 323  # x86-64 (arch/x86/entry/syscalls/syscall_64.tbl)
UFFD_API = 0xAA
UFFD_USER_MODE_ONLY = 1
UFFD_FEATURE_WP_UNPOPULATED = 1 << 13
UFFD_FEATURE_WP_ASYNC = 1 << 15
UFFDIO_REGISTER_MODE_WP = 1 << 1
UFFDIO_API = (3 << 30) | (24 << 16) | (0xAA << 8) | 0x3F  # _IOWR(UFFDIO, _UFFDIO_API, uffdio_api)
UFFDIO_REGISTER = (3 << 30) | (32 << 16) | (0xAA << 8) | 0x00
_O_CLOEXEC, _O_NONBLOCK = 0o2000000, 0o4000
_API = struct.Struct("<QQQ")  # struct uffdio_api {api, features, ioctls}
_REG = struct.Struct("<QQQQ")  # struct uffdio_register {range.start, range.len, mode, ioctls}
_BATCH = 64  # registrations per injection


class UffdError(PtraceError):
    pass


class UffdWriteProtect:
    """The target's own userfaultfd, opened by :meth:`open` (target stopped), with the
    ranges registered so far."""

    def __init__(self, tracee: Tracee) -> None:
        self.tracee = tracee
        self.fd: int | None = None
        self.registered: set[tuple[int, int]] = set()
        self.failed: dict[tuple[int, int], str] = {}

    def open(self) -> None:
        features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED
        (fd,), _ = self.tracee.syscalls(
            [(NR_USERFAULTFD, (_O_CLOEXEC | _O_NONBLOCK | UFFD_USER_MODE_ONLY,))])
        if fd < 0:
            raise UffdError(f"userfaultfd() in process {self.tracee.pid} failed: {os.strerror(-fd)}"
                            + (" (vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE)" if -fd == 1 else ""))
        self.fd = fd
        scratch = _API.pack(UFFD_API, features, 0)
        # the address of the scratch is known only inside syscalls(); it is rsp-based and stable
        addr = self._scratch_addr(len(scratch))
        (r,), _ = self.tracee.syscalls([(NR_IOCTL, (fd, UFFDIO_API, addr))], scratch=scratch)
        if r < 0:
            self.close()
            raise UffdError(f"UFFDIO_API with UFFD_FEATURE_WP_ASYNC refused: {os.strerror(-r)} "
                            "(needs Linux 6.7+ with CONFIG_PTE_MARKER_UFFD_WP)")

    def _scratch_addr(self, size: int) -> int:
        regs = self.tracee.get_regs()
        return (regs.rsp - 128 - size) & ~0xF

    def register(self, ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Register the ``(start, end)`` ranges not yet registered; the ones newly registered."""
        if self.fd is None:
            raise UffdError("userfaultfd not open")
        todo = [r for r in ranges if r not in self.registered and r not in self.failed]
        done: list[tuple[int, int]] = []
        for i in range(0, len(todo), _BATCH):
            batch = todo[i : i + _BATCH]
            scratch = b"".join(_REG.pack(s, e - s, UFFDIO_REGISTER_MODE_WP, 0) for s, e in batch)
            base = self._scratch_addr(len(scratch))
            calls = [(NR_IOCTL, (self.fd, UFFDIO_REGISTER, base + k * _REG.size)) for k in range(len(batch))]
            results, _ = self.tracee.syscalls(calls, scratch=scratch)
            for rng, r in zip(batch, results, strict=True):
                if r < 0:
                    self.failed[rng] = os.strerror(-r)
                else:
                    self.registered.add(rng)
                    done.append(rng)
        return done

    def forget(self, live: set[tuple[int, int]]) -> None:
        """Drop ranges that are no longer mappings (unmapped, or split by mprotect)."""
        self.registered &= live
        for rng in [r for r in self.failed if r not in live]:
            del self.failed[rng]

    def close(self) -> None:
        """Close the target's userfaultfd (which unregisters every range); target stopped."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            self.tracee.syscalls([(NR_CLOSE, (fd,))])
