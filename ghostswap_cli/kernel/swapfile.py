"""swapon(2), swapoff(2), ``read_swap_header`` and ``/proc/swaps``.

Mirrors mm/swapfile.c of Linux 6.12 (log lines and errnos unchanged through 6.18), with the
ghost swapfile RFC (21 Nov 2025) applied when the machine's personality is ``ghost``:
``read_swap_header`` treats a file of exactly PAGE_SIZE bytes as a ghost (SWP_GHOST |
SWP_SOLIDSTATE, no extents, size from ``last_page``), ``nr_real_swapfiles`` counts the non-ghost
areas on the available list, and ``swap_show`` prints ``ghost`` as the type. One addition the RFC
does not have: swapon warns (``GHOST_BEFORE_REAL``) when a ghost ends up with a priority not below
a real area's, the configuration in which the RFC's writeback stalls.

With the ``distro-6.1`` configuration (``k.release == "6.1"``) the log lines are 6.1's: the
``Adding`` line ends with ``FS`` (frontswap, removed in 6.5). Everything else here is the same in
6.1, as the recorded cases of tests/fixtures/linux-6.1/ show.

Differences from the kernel, on purpose:

* a syscall is atomic: it is staged and published in one step, so a failure leaves the table
  (and every counter) exactly as before. The kernel's swapoff renumbers lower default
  priorities before ``try_to_unuse`` and does not undo that on ENOMEM; here the memory check
  runs first.
* block devices are refused (EINVAL, with a log line): the simulator never writes a real device.
* tmpfs files are accepted (the kernel refuses them because shmem has no ``read_folio``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ghostswap_cli.errors import KernelError
from ghostswap_cli.faults import fault_point
from ghostswap_cli.kernel.cluster import SwapSlots
from ghostswap_cli.uapi import (
    MAX_SWAP_BADPAGES,
    SWAP_FLAG_DISCARD,
    SWAP_FLAG_DISCARD_ONCE,
    SWAP_FLAG_DISCARD_PAGES,
    SWAP_FLAG_PREFER,
    SWAP_FLAG_PRIO_MASK,
    SWAP_FLAGS_VALID,
    SWAP_SIGNATURE,
    SWAP_SIGNATURE_SZ,
    SWP,
)

# the header parser and the backing-file probes are imported by swapon only: reading the
# table (/proc/swaps, swapshow) must not pay for them

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel

_and = int.__and__
_SWP_GHOST, _SWP_WRITEOK = int(SWP.SWP_GHOST), int(SWP.SWP_WRITEOK)

__all__ = (
    "SwapInfoStruct",
    "read_swap_header",
    "sys_swapon",
    "sys_swapoff",
    "swap_show",
    "swap_type_str",
    "seq_escape_path",
    "K",
    "HELD_DIR",
    "backing_path",
    "is_deleted",
    "hold_swapfile",
    "release_held",
    "GHOST_BEFORE_REAL",
    "GHOST_ALONGSIDE_REAL",
)

#: Where the state keeps a hard link to each active swap file: the kernel holds the open file
#: of an area, so removing its name neither frees its blocks nor loses its pages.
HELD_DIR = "held"

# x86-64 without the L1TF clamp: 50 offset bits in a swap PTE (swapfile_maximum_size)
SWAPFILE_MAXIMUM_SIZE = 1 << 50
UINT_MAX = 0xFFFFFFFF
DEF_SWAP_PRIO = -1


@dataclasses.dataclass
class SwapInfoStruct:
    """``struct swap_info_struct``: one row of the swap table, indexed by ``type``."""

    type: int
    flags: SWP
    prio: int
    path: str  # d_path of the swap file, as /proc/swaps shows it
    name: str  # the string given to swapon(2), as the "Adding" line shows it
    dev: int
    ino: int
    file_size: int
    file_mtime_ns: int
    max: int  # slots, header included
    pages: int  # usable slots: /proc/swaps Size
    label: str
    uuid: str
    nr_extents: int
    span: int
    swap_flags: int
    active_seq: int
    avail_seq: int
    badpages: tuple[int, ...] = ()
    inuse_pages_saved: int = 0  # inuse_pages as last saved, while slots are not loaded
    slots: SwapSlots | None = None
    fd: int | None = None  # descriptor for page I/O, opened on first use

    @property
    def inuse_pages(self) -> int:
        return self.slots.inuse_pages if self.slots is not None else self.inuse_pages_saved

    # tested as plain ints: IntFlag's & builds a flag object, and the swap-out path asks per page
    @property
    def is_ghost(self) -> bool:
        return bool(_and(self.flags, _SWP_GHOST))

    @property
    def writeok(self) -> bool:
        return bool(_and(self.flags, _SWP_WRITEOK))

    @property
    def full(self) -> bool:
        return self.inuse_pages >= self.pages

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _held(directory: Path, si: SwapInfoStruct) -> Path:
    return Path(directory) / HELD_DIR / f"{si.dev:x}.{si.ino}"


def _names_inode(path: str | Path, si: SwapInfoStruct) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False) if isinstance(path, Path) else os.stat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == (si.dev, si.ino)


def is_deleted(si: SwapInfoStruct) -> bool:
    """d_path's `` (deleted)``: the area's path no longer names the inode swapon opened."""
    return not _names_inode(si.path, si)


def backing_path(directory: Path, si: SwapInfoStruct) -> str:
    """A name of the inode behind ``si``: its own path while that still names it, else the
    state's hard link (:data:`HELD_DIR`); the path itself if neither does (then its pages on
    disk cannot be read back, and whoever reads them says so)."""
    if _names_inode(si.path, si):
        return si.path
    held = _held(directory, si)
    return str(held) if _names_inode(held, si) else si.path


def hold_swapfile(directory: Path, si: SwapInfoStruct) -> bool:
    """Keep the swap file reachable while the area is active, as the kernel's open file does.

    A hard link in the state directory; not possible across file systems (EXDEV) or for a file
    the user may not link (protected_hardlinks): then the area works while its name lasts."""
    held = _held(directory, si)
    if _names_inode(held, si):
        return True
    try:
        os.makedirs(held.parent, mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(held)  # a stale link of a recycled inode number
        fault_point("link")
        os.link(si.path, held, follow_symlinks=False)
    except OSError:
        return False
    if not _names_inode(held, si):  # the path was replaced between stat and link
        with contextlib.suppress(OSError):
            os.unlink(held)
        return False
    return True


def release_held(directory: Path, active: list[SwapInfoStruct]) -> None:
    """Drop the links of areas no longer active (after swapoff, or a swapon rolled back)."""
    folder = Path(directory) / HELD_DIR
    try:
        names = os.listdir(folder)
    except OSError:
        return
    keep = {_held(directory, si).name for si in active}
    for name in names:
        if name not in keep and re.fullmatch(r"[0-9a-f]+\.[0-9]+", name):
            with contextlib.suppress(OSError):
                os.unlink(folder / name)


def K(pages: int, page_size: int) -> int:  # noqa: N802 - the kernel's macro
    """Pages to KiB, as ``K(x)`` in mm/swapfile.c."""
    return pages * page_size // 1024


def _swab32(v: int) -> int:
    return int.from_bytes(v.to_bytes(4, "little"), "big")


def read_swap_header(k: Kernel, si: SwapInfoStruct, page: bytes, i_size: int, regular: bool):
    """Validate page 0; returns (maxpages, header) with maxpages 0 meaning "reject" (EINVAL).

    The log lines are the kernel's, word for word. ``si.flags`` gains SWP_GHOST |
    SWP_SOLIDSTATE when the RFC's test applies.
    """
    from ghostswap_cli.codec.swap_header import ByteOrder, parse_swap_header

    ps = k.page_size
    if page[ps - SWAP_SIGNATURE_SZ : ps] != SWAP_SIGNATURE:
        k.printk.pr_err("Unable to find swap-space signature")
        return 0, None
    version = int.from_bytes(page[1024:1028], "little")
    order = ByteOrder.LITTLE
    if _swab32(version) == 1:
        # the "endianness hack": a header written on the other byte order
        order = ByteOrder.BIG
        nr_bad = int.from_bytes(page[1032:1036], "big")
        if nr_bad > MAX_SWAP_BADPAGES(ps):
            return 0, None
    header = parse_swap_header(page, ps, order)
    if header.version != 1:
        v = header.version - (1 << 32) if header.version & 0x80000000 else header.version
        k.printk.pr_warn(f"Unable to handle swap header version {v}")
        return 0, None
    maxpages = SWAPFILE_MAXIMUM_SIZE
    last_page = header.last_page
    if not last_page:
        k.printk.pr_warn("Empty swap-file")
        return 0, None
    if last_page > maxpages:
        k.printk.pr_warn(
            f"Truncating oversized swap area, only using {K(maxpages, ps)}k out of "
            f"{K(last_page, ps)}k"
        )
    if maxpages > last_page:
        maxpages = last_page + 1
        if maxpages & UINT_MAX == 0:  # si->max is an unsigned int
            maxpages = UINT_MAX
    if not maxpages:
        return 0, None
    if k.personality == "ghost" and i_size == ps:
        # RFC: a file of exactly one page is a ghost; skip the size and bad-page checks
        si.flags |= SWP.SWP_GHOST | SWP.SWP_SOLIDSTATE
        return maxpages, header
    swapfilepages = i_size // ps
    if swapfilepages and maxpages > swapfilepages:
        k.printk.pr_warn("Swap area shorter than signature indicates")
        return 0, None
    if header.nr_badpages and regular:
        return 0, None
    if header.nr_badpages > MAX_SWAP_BADPAGES(ps):
        return 0, None
    return maxpages, header


def _open_swapfile(specialfile: str) -> tuple[int, os.stat_result]:
    """``file_open_name(O_RDWR | O_LARGEFILE)`` for the simulator: read-only on our side."""
    try:
        st = os.stat(specialfile)
    except OSError as e:
        raise KernelError(e.errno or errno.ENOENT) from None
    if stat.S_ISDIR(st.st_mode):
        raise KernelError(errno.EISDIR)
    if not os.access(specialfile, os.R_OK | os.W_OK):
        raise KernelError(errno.EACCES)
    try:
        fd = os.open(specialfile, os.O_RDONLY)
    except OSError as e:
        raise KernelError(e.errno or errno.EIO) from None
    return fd, st


def _read_page0(fd: int, page_size: int) -> bytes:
    data = os.pread(fd, page_size, 0)
    # read_mapping_folio zero-fills a page past EOF
    return data + bytes(page_size - len(data))


def _find_active(k: Kernel, st: os.stat_result) -> SwapInfoStruct | None:
    for si in k.swap_info:
        if si is not None and si.dev == st.st_dev and si.ino == st.st_ino:
            return si
    return None


def _find_deleted(k: Kernel, specialfile: str) -> SwapInfoStruct | None:
    path = os.path.abspath(specialfile)
    for si in k.active():
        if si.path == path and is_deleted(si):
            return si
    return None


def sys_swapon(k: Kernel, specialfile: str, swap_flags: int) -> SwapInfoStruct:
    """``SYSCALL_DEFINE2(swapon)``: stage a new area, validate it, then publish it."""
    from ghostswap_cli.codec.swap_header import format_uuid
    from ghostswap_cli.kernel.backing import device_props, swapfile_extents

    if swap_flags & ~SWAP_FLAGS_VALID:
        raise KernelError(errno.EINVAL)
    ps = k.page_size

    # alloc_swap_info: the lowest type whose SWP_USED is clear, never compacting the table
    type_ = next((i for i, si in enumerate(k.swap_info) if si is None), len(k.swap_info))
    if type_ >= k.max_swapfiles:
        raise KernelError(errno.EPERM)

    fd, st = _open_swapfile(specialfile)
    try:
        if stat.S_ISBLK(st.st_mode):
            k.printk.pr_err(
                f"ghostswap: {specialfile}: block devices are not simulated; use a swap file"
            )
            raise KernelError(errno.EINVAL)
        if not stat.S_ISREG(st.st_mode):
            raise KernelError(errno.EINVAL)
        # claim_swapfile: S_SWAPFILE is per inode, so a second path or a hard link is EBUSY
        if _find_active(k, st) is not None:
            raise KernelError(errno.EBUSY)
        page = _read_page0(fd, ps)
    finally:
        os.close(fd)

    si = SwapInfoStruct(
        type=type_, flags=SWP.SWP_USED, prio=0, path=os.path.realpath(specialfile),
        name=specialfile, dev=st.st_dev, ino=st.st_ino, file_size=st.st_size,
        file_mtime_ns=st.st_mtime_ns, max=0, pages=0, label="", uuid="", nr_extents=0,
        span=0, swap_flags=swap_flags, active_seq=0, avail_seq=0,
    )
    maxpages, header = read_swap_header(k, si, page, st.st_size, regular=True)
    if maxpages == 0 or header is None:
        raise KernelError(errno.EINVAL)
    si.max = maxpages
    si.pages = maxpages - 1
    si.label = header.label
    si.uuid = format_uuid(header.sws_uuid) if any(header.sws_uuid) else ""

    # setup_swap_extents
    if si.is_ghost:
        nr_extents, span = 0, 0
    else:
        ext = swapfile_extents(specialfile, maxpages, ps)
        if ext.failure is not None:
            if ext.failure.startswith("Cannot find"):
                k.printk.pr_warn(f"swapon: {ext.failure}")
            else:
                k.printk.pr_err(f"swapon: file {si.path} {ext.failure}")
            raise KernelError(errno.EINVAL)
        nr_extents, span = ext.nr_extents, ext.span_pages

    # setup_swap_map: the header slot and listed bad pages are SWAP_MAP_BAD
    bad = []
    for page_nr in header.badpages[: header.nr_badpages]:
        if page_nr == 0 or page_nr > header.last_page:
            raise KernelError(errno.EINVAL)
        if page_nr < maxpages:
            bad.append(page_nr)
    bad_unique = tuple(sorted(set(bad)))
    nr_good_pages = maxpages - 1 - len(bad_unique)
    if nr_good_pages <= 0:
        k.printk.pr_warn("Empty swap-file")
        raise KernelError(errno.EINVAL)
    si.pages = nr_good_pages
    si.badpages = bad_unique
    si.slots = SwapSlots(maxpages, bad_unique)
    si.nr_extents, si.span = nr_extents, span

    # device flags: a ghost has no bdev; a file inherits its filesystem's device
    if not si.is_ghost:
        props = device_props(st.st_dev)
        rotational = _override(k.machine["backing_rotational"], props.rotational)
        discard_ok = _override(k.machine["backing_discard"], props.discard)
        if not rotational:
            si.flags |= SWP.SWP_SOLIDSTATE
        if swap_flags & SWAP_FLAG_DISCARD and discard_ok:
            si.flags |= SWP.SWP_DISCARDABLE | SWP.SWP_AREA_DISCARD | SWP.SWP_PAGE_DISCARD
            if swap_flags & SWAP_FLAG_DISCARD_ONCE:
                si.flags &= ~SWP.SWP_PAGE_DISCARD
            elif swap_flags & SWAP_FLAG_DISCARD_PAGES:
                si.flags &= ~SWP.SWP_AREA_DISCARD

    # enable_swap_info: priority, then publish
    if swap_flags & SWAP_FLAG_PREFER:
        si.prio = swap_flags & SWAP_FLAG_PRIO_MASK
    elif k.machine["prio_scheme"] == "shared":
        si.prio = DEF_SWAP_PRIO
    else:
        k.counters["least_priority"] -= 1
        si.prio = k.counters["least_priority"]
    if _counts_as_rotational(k, si):
        k.counters["nr_rotate_swap"] += 1
    si.flags |= SWP.SWP_WRITEOK
    k.counters["seq"] += 1
    si.active_seq = si.avail_seq = k.counters["seq"]
    k.publish_swap_info(si)
    hold_swapfile(k.directory, si)

    flags = si.flags
    k.printk.pr_info(
        f"Adding {K(si.pages, ps)}k swap on {specialfile}.  Priority:{si.prio} "
        f"extents:{si.nr_extents} across:{K(si.span, ps)}k "
        f"{'SS' if flags & SWP.SWP_SOLIDSTATE else ''}"
        f"{'D' if flags & SWP.SWP_DISCARDABLE else ''}"
        f"{'s' if flags & SWP.SWP_AREA_DISCARD else ''}"
        f"{'c' if flags & SWP.SWP_PAGE_DISCARD else ''}"
        # 6.1 (CONFIG_FRONTSWAP=y, removed in 6.5): "FS" when frontswap_map was allocated,
        # which it always is there
        f"{'FS' if k.release == '6.1' else ''}"
    )
    _warn_ghost_before_real(k, si)
    return si


GHOST_BEFORE_REAL = (
    "ghost swap {ghost} (priority {gprio}) is used before {real} (priority {rprio}): zswap "
    "cannot write back ghost slots, pages stay resident and nothing reaches {real} until the "
    "ghost is full"
)
#: equal priorities: slots alternate, so only the pages on ghost slots are stuck
GHOST_ALONGSIDE_REAL = (
    "ghost swap {ghost} (priority {gprio}) is used alongside {real} (priority {rprio}): zswap "
    "cannot write back ghost slots, pages on them stay resident"
)


def _warn_ghost_before_real(k: Kernel, si: SwapInfoStruct) -> None:
    """Not in the RFC: say so, once per swapon, when it enters the configuration in which its
    writeback stalls. A ghost at a priority not below a real area gets (some of) the slots,
    ``zswap_writeback_entry`` refuses each ghost entry the shrinker picks, and pages zswap
    rejects stay in the swap cache (ghost-rfc.md section 6)."""
    if k.personality != "ghost":
        return
    others = [o for o in k.active() if o is not si and o.writeok and o.is_ghost != si.is_ghost]
    if si.is_ghost:
        pairs = [(si, o) for o in others if o.prio <= si.prio]
    else:
        pairs = [(o, si) for o in others if o.prio >= si.prio]
    if pairs:
        ghost, real = max(pairs, key=lambda pair: (pair[0].prio, pair[1].prio))
        text = GHOST_BEFORE_REAL if ghost.prio > real.prio else GHOST_ALONGSIDE_REAL
        k.printk.pr_warn(text.format(ghost=ghost.name, gprio=ghost.prio, real=real.name,
                                     rprio=real.prio))


def _override(setting: str, detected: bool) -> bool:
    return detected if setting == "auto" else setting == "1"


def _counts_as_rotational(k: Kernel, si: SwapInfoStruct) -> bool:
    """swapon bumps ``nr_rotate_swap`` unless ``si->bdev`` is non-rotational.

    A ghost has no bdev, so the RFC's swapon counts it while its swapoff skips the decrement
    (ghost-rfc.md caveat C1). We count neither side unless ``ghost_rotate_leak`` asks for the
    RFC as posted.
    """
    if si.is_ghost:
        return k.machine["ghost_rotate_leak"] == "1"
    return not si.flags & SWP.SWP_SOLIDSTATE


def sys_swapoff(k: Kernel, specialfile: str, drop_unreadable: bool = False) -> SwapInfoStruct:
    """``SYSCALL_DEFINE1(swapoff)``: find the area, bring every page back, tear it down.

    A page that cannot be read back fails the call with EIO and leaves the area active (see
    ``MM.try_to_unuse``); ``drop_unreadable`` drops such pages instead, saying how many."""
    try:
        st = os.stat(specialfile)
    except OSError as e:
        st = None
        err = e.errno or errno.ENOENT
    si = _find_active(k, st) if st is not None else None
    if si is None:
        # the kernel finds a deleted swap file by its open file; here also by the name
        # /proc/swaps lists for it (util-linux strips " (deleted)" and passes that name)
        si = _find_deleted(k, specialfile)
        if si is None and st is None:
            raise KernelError(err)
    if si is None or not si.writeok:
        raise KernelError(errno.EINVAL)
    # security_vm_enough_memory_mm under OVERCOMMIT_GUESS
    if si.pages > k.totalram_pages + k.total_swap_pages:
        raise KernelError(errno.ENOMEM)
    # try_to_unuse needs a page of RAM for every page that is not already resident
    if k.mm_pages_needed_for_unuse(si) > k.free_ram_pages:
        raise KernelError(errno.ENOMEM)

    k.try_to_unuse(si, drop_unreadable)

    if si.prio < 0 and k.machine["prio_scheme"] == "decrement":
        # keep default priorities contiguous: every lower area moves up by one
        for other in k.active_list():
            if other is not si and (other.prio, -other.active_seq) < (si.prio, -si.active_seq):
                other.prio += 1
                k.mark_dirty(other)
        k.counters["least_priority"] += 1
    if _counts_as_rotational(k, si) and not (
        si.is_ghost and k.machine["ghost_rotate_leak"] == "1"
    ):
        k.counters["nr_rotate_swap"] -= 1
    k.unpublish_swap_info(si)
    return si


def seq_escape_path(path: str) -> str:
    """``seq_file_path(m, file, " \\t\\n\\\\")``: escape those four as octal ``\\ooo``."""
    out = []
    for ch in path:
        if ch in " \t\n\\":
            out.append(f"\\{ord(ch):03o}")
        elif "\udc80" <= ch <= "\udcff":
            # a byte that is not UTF-8: the kernel prints it raw, which no text can hold;
            # octal, as the four above, reads back to the same bytes through unmangle()
            out.append(f"\\{ord(ch) - 0xDC00:03o}")
        else:
            out.append(ch)
    return "".join(out)


def swap_type_str(si: SwapInfoStruct) -> str:
    """The RFC's helper: ``ghost\\t``, ``partition`` or ``file\\t``."""
    if si.is_ghost:
        return "ghost\t"
    if si.flags & SWP.SWP_BLKDEV:
        return "partition"
    return "file\t"


def swap_show(k: Kernel) -> str:
    """The text of ``/proc/swaps``: header, then one row per used type in index order."""
    lines = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"]
    ps = k.page_size
    for si in k.swap_info:
        if si is None:
            continue
        # d_path appends " (deleted)" before seq_file_path escapes: the kernel prints
        # "\040(deleted)", which libmount unescapes and strips
        name = seq_escape_path(si.path + " (deleted)" if is_deleted(si) else si.path)
        size = K(si.pages, ps)
        inuse = K(si.inuse_pages, ps)
        pad = 40 - len(name) if len(name) < 40 else 1
        lines.append(
            f"{name}{' ' * pad}{swap_type_str(si)}\t{size}\t{chr(9) if size < 10000000 else ''}"
            f"{inuse}\t{chr(9) if inuse < 10000000 else ''}{si.prio}\n"
        )
    return "".join(lines)
