"""mkswap: set up a swap area on a device or file, or write a ghost swapfile.

Mirrors ``main()`` of util-linux disk-utils/mkswap.c (v2.38.1 through v2.41; the options that
2.39/2.40 added — ``--endianness``, ``--offset``, ``--size``, ``--file`` — as in 2.41, with the
``--file`` chmod fix of commit 6d87ff515). Messages are util-linux's, word for word.

Deliberate differences, each for safety or because ghostswap knows more:

* the mounted/partitioned checks run before the size is read, and a whole disk with
  partitions, or any non-swap file-system signature, is refused without ``-f``;
* every check (including ``Unable to set up swap-space: unreadable``) runs before the first
  byte is written, so a failed run leaves the target as it was;
* nothing is written outside the area: with ``--offset`` the 1024 bootbits zeroed are the
  area's, not the device's first 1024 bytes (util-linux 2.40-2.41 zeroes the latter), and a
  target shorter than one page is refused instead of being extended;
* holes are found with FIEMAP as util-linux does, and with SEEK_DATA/SEEK_HOLE where the file
  system has no FIEMAP (util-linux then stays silent);
* ``--ghost`` (new) writes a one-page file whose header declares the requested size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import stat
import sys
import uuid as _uuid

from ghostswap_cli.codec.swap_header import (
    BOOTBITS_SIZE,
    ByteOrder,
    SwapHeader,
    build_swap_header,
    format_uuid,
    parse_uuid,
)
from ghostswap_cli.errors import ToolError
from ghostswap_cli.fiemap import (
    FIEMAP_EXTENT_DATA_INLINE,
    FIEMAP_EXTENT_DELALLOC,
    FIEMAP_EXTENT_SHARED,
    extents_fitting,
    fiemap_extents,
)
from ghostswap_cli.uapi import MIN_GOODPAGES, SWAP_LABEL_LENGTH
from ghostswap_cli.units import SizeError, parse_size, size_to_human_string
from ghostswap_cli.userspace.common import (
    DEFAULT_PATHS,
    ActiveSwap,
    ProbeArea,
    Report,
    SystemPaths,
    disk_partitions,
    is_mounted,
    is_swap_device,
    mounted_partitions,
    probe_partition_table,
    probe_superblocks,
    system_page_size,
)

__all__ = ("MkswapCtl", "mkswap", "check_extents", "check_blocks", "TRY_HELP")

SWAP_VERSION = 1
UINT32_MAX = 0xFFFFFFFF
OFF_T_MAX = (1 << 63) - 1
SIGNATURE_OFFSET = 1024

# util-linux's words (disk-utils/mkswap.c, lib/strutils.c, lib/blkdev.c)
TRY_HELP = "Try 'ghostswap mkswap --help' for more information."
MSG_EXCLUSIVE = "mutually exclusive arguments: {}"
MSG_PAGESIZE_PARSE = "parsing page size failed"
MSG_VERSION_PARSE = "parsing version number failed"
MSG_VERSION = "swapspace version {} is not supported"
MSG_ENDIANNESS = "invalid endianness {} is not supported"
MSG_OFFSET_PARSE = "Invalid offset"
MSG_SIZE_PARSE = "Invalid size"
MSG_BLOCKS_PARSE = "invalid block count argument"
MSG_LOCK_MODE = "unsupported lock mode: {}"
MSG_ONE_DEVICE = "only one device argument is currently supported"
MSG_UUID = "error: parsing UUID failed"
MSG_BAD_PAGESIZE = "Bad user-specified page size {}"
MSG_USER_PAGESIZE = "Using user-specified page size {}, instead of the system value {}"
MSG_NOWHERE = "error: Nowhere to set up swap on?"
MSG_CANNOT_OPEN = "cannot open {}"
MSG_CANNOT_SIZE = "cannot determine size of {}"
MSG_OFFSET_LARGE = "offset larger than file size"
MSG_SIZE_LARGER = "error: size {} KiB is larger than device size {} KiB"
MSG_TOO_SMALL = "error: swap area needs to be at least {} KiB"
MSG_TRUNCATING = "warning: truncating swap area to {} KiB"
MSG_MOUNTED = "error: {} is mounted; will not make swapspace"
MSG_NOT_REGULAR = "cannot create swap file {}: node isn't regular file"
MSG_CHMOD = "cannot set permissions on swap file {}"
MSG_ALLOCATE = "couldn't allocate swap file {}"
MSG_CHECK_FILE = "warning: checking bad blocks from swap file is not supported: {}"
MSG_PERMS = "{}: insecure permissions {:04o}, fix with: chmod {:04o} {}"
MSG_OWNER = "{}: insecure file owner {}, fix with: chown 0:0 {}"
MSG_TOO_MANY_BAD = "too many bad pages: {}"
MSG_UNREADABLE = "Unable to set up swap-space: unreadable"
MSG_WIPING = "{}: warning: wiping old {} signature."
MSG_BOOTBITS = "{}: warning: don't erase bootbits sectors"
MSG_BOOTBITS_PT = "        ({} partition table detected). Use -f to force.\n"
MSG_SETTING_UP = "Setting up swapspace version {}, size = {} ({} bytes)"
MSG_LABEL_TRUNCATED = "Label was truncated."
MSG_WRITE_SIGNATURE = "{}: unable to write signature page"
MSG_WRITE_FAILED = "write failed"
MSG_ERASE_BOOTBITS = "unable to erase bootbits sectors"
MSG_LOCKED = "{}: device already locked"
MSG_LOCK_FAILED = "{}: failed to get lock"
MSG_LOCK_WAIT = "mkswap: {}: device already locked, waiting to get lock ... "
EXTENTS_HEADER = (
    "mkswap: {} contains holes or other unsupported extents.\n"
    "        This swap file can be rejected by kernel on swap activation!\n"
)
EXTENTS_MORE = "        Use --verbose for more details.\n"

# ghostswap's own words, in util-linux's style
MSG_HAS_PARTITIONS = "error: {} has partitions; will not make swapspace (use -f to force)"
MSG_HAS_SIGNATURE = "error: {} contains an existing {} signature; will not make swapspace (use -f to force)"
MSG_SHORTER_THAN_PAGE = "error: {} is shorter than one page ({} bytes); will not make swapspace"
MSG_GHOST_SIZE = "error: --ghost needs the size of the area (--size or SIZE)"
MSG_GHOST_LONG = "error: {} is longer than one page; use -f to truncate it to a ghost swapfile"


@dataclasses.dataclass(frozen=True)
class MkswapCtl:
    """The command line as util-linux's ``struct mkswap_control`` receives it (option text
    unparsed, so the parse errors are util-linux's)."""

    args: tuple[str, ...] = ()  # DEVICE [SIZE]; more is an error
    check: bool = False
    force: bool = False
    quiet: bool = False
    pagesize: str | None = None
    label: str | None = None
    uuid: str | None = None
    swapversion: str | None = None
    endianness: str | None = None
    offset: str | None = None
    size: str | None = None
    file: bool = False
    ghost: bool = False
    lock: str | None = None  # --lock value ("1" for a bare --lock)
    verbose: bool = False


# --------------------------------------------------------------------------------------------
# number parsing as lib/strutils.c


class _ParseError(Exception):
    def __init__(self, erange: bool):
        self.erange = erange


def _strtoimax_prefix(text: str) -> str:
    """strtoimax() skips leading white space."""
    return text.lstrip(" \t\n\v\f\r")


def _strtou(text: str, limit: int) -> int:
    """``ul_strtou64()`` (base 10) plus an upper bound; negative numbers are ERANGE."""
    t = _strtoimax_prefix(text)
    body = t[1:] if t[:1] in "+-" else t
    if not t or not body.isdigit() or not body.isascii():
        raise _ParseError(erange=False)
    value = int(t)
    if value < 0 or value > limit:
        raise _ParseError(erange=True)
    return value


def _strtos32(text: str) -> int:
    t = _strtoimax_prefix(text)
    body = t[1:] if t[:1] in "+-" else t
    if not t or not body.isdigit() or not body.isascii():
        raise _ParseError(erange=False)
    value = int(t)
    if not -(1 << 31) <= value < (1 << 31):
        raise _ParseError(erange=True)
    return value


def _num_or_err(text: str, message: str, parse) -> int:
    try:
        return parse(text)
    except _ParseError as e:
        suffix = f": {os.strerror(errno.ERANGE)}" if e.erange else ""
        raise ToolError(f"{message}: '{text}'{suffix}") from None


def _size_or_err(text: str, message: str) -> int:
    """``strtosize_or_err()``: errno is always set, so err() appends its text."""
    try:
        value = parse_size(text)
    except SizeError:
        raise ToolError(f"{message}: '{text}': {os.strerror(errno.EINVAL)}") from None
    if value > (1 << 64) - 1:
        raise ToolError(f"{message}: '{text}': {os.strerror(errno.ERANGE)}")
    return value


def _lock_operation(mode: str | None) -> int | None:
    """``blkdev_lock()``: None for no lock, else the flock() operation."""
    if mode is None:
        mode = os.environ.get("LOCK_BLOCK_DEVICE")
    if mode is None:
        return None
    if mode.lower() == "yes" or mode == "1":
        return fcntl.LOCK_EX
    if mode.lower() == "nonblock":
        return fcntl.LOCK_EX | fcntl.LOCK_NB
    if mode.lower() == "no" or mode == "0":
        return None
    raise ToolError(MSG_LOCK_MODE.format(mode))


# --------------------------------------------------------------------------------------------
# the checks mkswap makes on the open device


_EXTENT_COUNT = extents_fitting(8192)  # util-linux's BUFSIZ-sized request


def _fiemap_problems(fd: int, size: int, stop_early: bool) -> list[tuple[str, int]] | None:
    """``check_extents()``: holes and shared/inline/delalloc extents; None without FIEMAP."""
    problems: list[tuple[str, int]] = []
    last_logical = 0
    mapped_any = False
    try:
        for logical, _phys, length, flags in fiemap_extents(fd, 0, None, _EXTENT_COUNT):
            mapped_any = True
            if logical > last_logical:
                problems.append(("hole detected at offset {}", last_logical))
            last_logical = logical + length
            if flags & FIEMAP_EXTENT_DATA_INLINE:
                problems.append(("data inline extent at offset {}", logical))
            if flags & FIEMAP_EXTENT_SHARED:
                problems.append(("shared extent at offset {}", logical))
            if flags & FIEMAP_EXTENT_DELALLOC:
                problems.append(("unallocated extent at offset {}", logical))
            if stop_early and problems:
                return problems
    except OSError:
        # the first call failing means no FIEMAP here; a later one ends the walk
        return problems if mapped_any else None
    if last_logical < size:
        problems.append(("hole detected at offset {}", last_logical))
    return problems


def _seek_hole_problems(fd: int, size: int) -> list[tuple[str, int]]:
    """Holes by SEEK_DATA/SEEK_HOLE, for file systems without FIEMAP (tmpfs)."""
    problems: list[tuple[str, int]] = []
    pos = 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                problems.append(("hole detected at offset {}", pos))
            break
        if data > pos:
            problems.append(("hole detected at offset {}", pos))
        try:
            pos = os.lseek(fd, data, os.SEEK_HOLE)
        except OSError:
            break
    return problems


def check_extents(fd: int, size: int, devname: str, verbose: bool, report: Report) -> int:
    """Warn about holes and unsupported extents as util-linux's ``check_extents()``; returns
    how many were reported."""
    problems = _fiemap_problems(fd, size, stop_early=not verbose)
    if problems is None:
        problems = _seek_hole_problems(fd, size)
    if not problems:
        return 0
    report.raw("\n")
    report.raw(EXTENTS_HEADER.format(devname))
    report.raw("\n" if verbose else EXTENTS_MORE)
    if verbose:
        for text, off in problems:
            report.raw(" - " + text.format(off) + "\n")
    report.raw("\n")
    return len(problems)


def check_blocks(fd: int, npages: int, pagesize: int, report: Report, quiet: bool) -> list[int]:
    """``check_blocks()``: every page that does not read back whole is bad."""
    max_bad = (pagesize - 1024 - 128 * 4 - 10) // 4
    bad: list[int] = []
    for page in range(npages):
        try:
            got = len(os.pread(fd, pagesize, page * pagesize))
        except OSError:
            got = -1
        if got != pagesize:
            if len(bad) == max_bad:
                raise ToolError(MSG_TOO_MANY_BAD.format(max_bad))
            bad.append(page)
    if not quiet:
        n = len(bad)
        report.out(f"{n} bad page" if n == 1 else f"{n} bad pages")
    return bad


# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Plan:
    devname: str
    pagesize: int
    npages: int
    offset: int
    byteorder: ByteOrder
    uuid: bytes
    label: bytes | None
    label_truncated: bool
    st: os.stat_result | None  # before anything was opened; None: does not exist yet


def _parse_options(ctl: MkswapCtl) -> tuple[int | None, ByteOrder, int, int, int | None]:
    """Option values as getopt's loop in main() turns them into numbers (or exits)."""
    if ctl.check and ctl.quiet:
        raise ToolError(MSG_EXCLUSIVE.format("--check --quiet"))
    if ctl.ghost and ctl.offset is not None:
        raise ToolError(MSG_EXCLUSIVE.format("--offset --ghost"))
    user_pagesize = None
    if ctl.pagesize is not None:
        user_pagesize = _num_or_err(ctl.pagesize, MSG_PAGESIZE_PARSE, lambda t: _strtou(t, UINT32_MAX))
    if ctl.swapversion is not None:
        version = _num_or_err(ctl.swapversion, MSG_VERSION_PARSE, _strtos32)
        if version != SWAP_VERSION:
            raise ToolError(MSG_VERSION.format(version))
    order = ByteOrder(sys.byteorder)
    if ctl.endianness is not None:
        if ctl.endianness == "little":
            order = ByteOrder.LITTLE
        elif ctl.endianness == "big":
            order = ByteOrder.BIG
        elif ctl.endianness != "native":
            raise ToolError(MSG_ENDIANNESS.format(ctl.endianness))
    offset = 0
    if ctl.offset is not None:
        offset = _num_or_err(ctl.offset, MSG_OFFSET_PARSE, lambda t: _strtou(t, OFF_T_MAX))
    filesz = 0
    if ctl.size is not None:
        filesz = _size_or_err(ctl.size, MSG_SIZE_PARSE)
    lock = _lock_operation(ctl.lock)
    return user_pagesize, order, offset, filesz, lock


def _make_uuid(text: str | None) -> bytes:
    if text is None or text == "random":
        return _uuid.uuid4().bytes
    if text == "clear":
        return bytes(16)
    if text == "time":
        return _uuid.uuid1().bytes
    try:
        return parse_uuid(text)
    except ValueError:
        raise ToolError(MSG_UUID) from None


def _device_size(path: str, st: os.stat_result) -> int:
    """``get_size()``'s open + ``blkdev_get_size()``."""
    if stat.S_ISDIR(st.st_mode):
        raise ToolError(f"{MSG_CANNOT_OPEN.format(path)}: {os.strerror(errno.EISDIR)}")
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISBLK(st.st_mode):
        # checked before open(): a FIFO would block it
        raise ToolError(f"{MSG_CANNOT_SIZE.format(path)}: {os.strerror(errno.ENOTBLK)}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ToolError(f"{MSG_CANNOT_OPEN.format(path)}: {os.strerror(e.errno or errno.EIO)}") from None
    try:
        if stat.S_ISREG(st.st_mode):
            return os.fstat(fd).st_size
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ToolError(f"{MSG_CANNOT_OPEN.format(path)}: {os.strerror(e.errno or errno.EIO)}") from None


def _safety_checks(path: str, st: os.stat_result | None, force: bool, paths: SystemPaths,
                   swaps: tuple[ActiveSwap, ...] = ()) -> None:
    # check_mount() -> check_mount_point(): /proc/swaps first (the simulated kernel's), then
    # the mount table
    if is_swap_device(path, swaps) or is_mounted(path, paths):
        raise ToolError(MSG_MOUNTED.format(path))
    if st is not None and stat.S_ISBLK(st.st_mode):
        parts = disk_partitions(st.st_rdev, paths.sysfs)
        busy = mounted_partitions(parts, paths)
        if busy:
            raise ToolError(MSG_MOUNTED.format(f"/dev/{busy[0]}"))
        if parts and not force:
            raise ToolError(MSG_HAS_PARTITIONS.format(path))


def _existing_signatures(path: str, offset: int, size: int, force: bool) -> None:
    """Refuse to overwrite a file system (or LUKS volume) unless ``-f``."""
    if size <= 0 or force:
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # the open for writing reports it
    try:
        sigs = probe_superblocks(ProbeArea.from_fd(fd, offset, size))
    finally:
        os.close(fd)
    for sig in sigs:
        if not sig.is_swap:
            raise ToolError(MSG_HAS_SIGNATURE.format(path, sig.type))


def _prepare(ctl: MkswapCtl, report: Report, paths: SystemPaths, system_ps: int,
             swaps: tuple[ActiveSwap, ...] = ()):
    user_pagesize, order, offset, filesz, lock = _parse_options(ctl)
    if len(ctl.args) > 2:
        raise ToolError(f"{MSG_ONE_DEVICE}\n{TRY_HELP}")
    devname = ctl.args[0] if ctl.args else None
    block_count = ctl.args[1] if len(ctl.args) > 1 else None
    uuid = _make_uuid(ctl.uuid)

    # init_signature_page()
    if user_pagesize:
        if (user_pagesize >= 1 << 31 or user_pagesize & (user_pagesize - 1)
                or user_pagesize < 1540 + 10):
            raise ToolError(MSG_BAD_PAGESIZE.format(user_pagesize))
        if not ctl.quiet and user_pagesize != system_ps:
            report.warn(MSG_USER_PAGESIZE.format(user_pagesize, system_ps))
        pagesize = user_pagesize
    else:
        pagesize = system_ps

    if devname is None:
        raise ToolError(f"{MSG_NOWHERE}\n{TRY_HELP}")
    npages = 0
    if block_count is not None:
        blks = _num_or_err(block_count, MSG_BLOCKS_PARSE, lambda t: _strtou(t, (1 << 64) - 1))
        npages = blks // (pagesize // 1024)
    ghost = ctl.ghost
    creating = ctl.file or ghost
    if ghost and not filesz and block_count is None:
        raise ToolError(MSG_GHOST_SIZE)

    st = _stat_or_none(devname)
    _safety_checks(devname, st, ctl.force, paths, swaps)

    # get_size()
    if creating and filesz:
        size = filesz
    elif ghost:
        size = npages * pagesize
    else:
        if st is None:
            raise ToolError(f"{MSG_CANNOT_OPEN.format(devname)}: {os.strerror(errno.ENOENT)}")
        size = _device_size(devname, st)
    if offset > size:
        raise ToolError(MSG_OFFSET_LARGE)
    sz = (size - offset) // pagesize
    if not npages:
        npages = sz
    elif npages > sz and not ctl.force:
        raise ToolError(MSG_SIZE_LARGER.format(npages * (pagesize // 1024), sz * (pagesize // 1024)))
    if npages < MIN_GOODPAGES:
        raise ToolError(MSG_TOO_SMALL.format(MIN_GOODPAGES * pagesize // 1024))
    if npages > UINT32_MAX:
        npages = UINT32_MAX
        if not ctl.quiet:
            report.warn(MSG_TRUNCATING.format(npages * pagesize // 1024))

    # what the area will be once opened: the existing length, the --file size or one page
    if creating and st is not None and not stat.S_ISREG(st.st_mode):
        raise ToolError(MSG_NOT_REGULAR.format(devname))
    if ghost:
        final_size = pagesize
        if st is not None and st.st_size > pagesize and not ctl.force:
            raise ToolError(MSG_GHOST_LONG.format(devname))
    elif creating and filesz:
        final_size = filesz
    else:
        final_size = size
    if st is not None and (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        existing = min(final_size, st.st_size) if stat.S_ISREG(st.st_mode) else final_size
        _existing_signatures(devname, offset, existing - offset, ctl.force)
    if offset + pagesize > final_size:
        raise ToolError(MSG_SHORTER_THAN_PAGE.format(devname, pagesize))

    label = None
    truncated = False
    if ctl.label is not None:
        raw = os.fsencode(ctl.label)
        label = raw[: SWAP_LABEL_LENGTH - 1]
        truncated = len(raw) > len(label)
    plan = _Plan(devname, pagesize, npages, offset, order, uuid, label, truncated, st)
    return plan, lock, filesz


def _open_for_write(ctl: MkswapCtl, plan: _Plan, filesz: int) -> int:
    """``open_device()``: create/resize for --file and --ghost, O_EXCL for block devices."""
    path = plan.devname
    if ctl.file or ctl.ghost:
        if plan.st is not None and not stat.S_ISREG(plan.st.st_mode):
            raise ToolError(MSG_NOT_REGULAR.format(path))
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
    else:
        flags = os.O_RDWR | os.O_CLOEXEC
        if plan.st is not None and stat.S_ISBLK(plan.st.st_mode):
            flags |= os.O_EXCL
    try:
        return os.open(path, flags, 0o600)
    except OSError as e:
        raise ToolError(f"{MSG_CANNOT_OPEN.format(path)}: {os.strerror(e.errno or errno.EIO)}") from None


def _take_lock(fd: int, path: str, operation: int | None, report: Report) -> None:
    if operation is None:
        return
    waited = False
    if not operation & fcntl.LOCK_NB:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            report.raw(MSG_LOCK_WAIT.format(path))
            waited = True
        except OSError:
            pass
    try:
        fcntl.flock(fd, operation)
    except BlockingIOError:
        raise ToolError(MSG_LOCKED.format(path)) from None
    except OSError as e:
        raise ToolError(f"{MSG_LOCK_FAILED.format(path)}: {os.strerror(e.errno or errno.EIO)}") from None
    if waited:
        report.raw("OK\n")


def _resize(fd: int, path: str, length: int) -> None:
    try:
        os.ftruncate(fd, length)
        os.posix_fallocate(fd, 0, length)
    except OSError as e:
        raise ToolError(f"{MSG_ALLOCATE.format(path)}: {os.strerror(e.errno or errno.EIO)}") from None


def _pwrite_all(fd: int, data: bytes, offset: int, path: str) -> None:
    try:
        while data:
            n = os.pwrite(fd, data, offset)
            data, offset = data[n:], offset + n
    except OSError as e:
        raise ToolError(f"{MSG_WRITE_SIGNATURE.format(path)}: {os.strerror(e.errno or errno.EIO)}") from None


def mkswap(
    ctl: MkswapCtl,
    report: Report,
    *,
    paths: SystemPaths = DEFAULT_PATHS,
    page_size: int | None = None,
    swaps: tuple[ActiveSwap, ...] = (),
) -> int:
    """Run mkswap; returns 0 or raises :class:`ToolError` (status 1) with util-linux's text.

    ``page_size`` stands for the system page size (default :func:`system_page_size`);
    ``swaps`` is the simulated kernel's swap table (:func:`active_swaps`).
    """
    system_ps = page_size or system_page_size()
    plan, lock, filesz = _prepare(ctl, report, paths, system_ps, swaps)
    path = plan.devname

    fd = _open_for_write(ctl, plan, filesz)
    try:
        _refuse_swapfile_write(fd, ctl, filesz, swaps)
        _write(fd, ctl, plan, lock, filesz, report)
    except BaseException:
        if plan.st is None:  # a file this run created goes again
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    finally:
        os.close(fd)
    return 0


def _refuse_swapfile_write(fd: int, ctl: MkswapCtl, filesz: int,
                           swaps: tuple[ActiveSwap, ...]) -> None:
    """The kernel marks an active swap file S_SWAPFILE and fails every write and truncate of
    it with ETXTBSY. The simulated kernel cannot mark a real inode, so the first write this
    run would do fails here, with the message util-linux prints for it (reached when the area
    is named by another path than /proc/swaps lists, which check_mount() does not catch)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or not any(
            (s.dev, s.ino) == (st.st_dev, st.st_ino) for s in swaps):
        return
    if ctl.ghost or (ctl.file and filesz):
        raise ToolError(f"{MSG_ALLOCATE.format(ctl.args[0])}: {os.strerror(errno.ETXTBSY)}")
    raise ToolError(MSG_ERASE_BOOTBITS)


def _write(fd: int, ctl: MkswapCtl, plan: _Plan, lock: int | None, filesz: int, report: Report) -> None:
    """From ``open_device()`` on: lock, create/resize, warnings, checks, wipe, header."""
    path, pagesize = plan.devname, plan.pagesize
    _take_lock(fd, path, lock, report)
    if ctl.file and not ctl.ghost and plan.st is not None:
        try:
            os.fchmod(fd, 0o600)  # 6d87ff515: compare chmod()'s result with 0, not 9
        except OSError as e:
            raise ToolError(f"{MSG_CHMOD.format(path)}: {os.strerror(e.errno or errno.EIO)}") from None
    if ctl.ghost:
        _resize(fd, path, pagesize)  # exactly one page, allocated
    elif ctl.file and filesz:
        _resize(fd, path, filesz)
    st = os.fstat(fd)
    check = ctl.check
    if check and stat.S_ISREG(st.st_mode):
        check = False
        if not ctl.quiet:
            report.warn(MSG_CHECK_FILE.format(path))

    perm_mask = 0o7007 if stat.S_ISBLK(st.st_mode) else 0o7077
    if not ctl.quiet and st.st_mode & perm_mask:
        report.warn(MSG_PERMS.format(path, st.st_mode & 0o7777, ~perm_mask & 0o666, path))
    if not ctl.quiet and os.getuid() == 0 and stat.S_ISREG(st.st_mode) and st.st_uid != 0:
        report.warn(MSG_OWNER.format(path, st.st_uid, path))

    badpages: list[int] = []
    if check:
        badpages = check_blocks(fd, plan.npages, pagesize, report, ctl.quiet)
    if plan.npages - MIN_GOODPAGES < len(badpages):
        raise ToolError(MSG_UNREADABLE)
    if not ctl.quiet and stat.S_ISREG(st.st_mode):
        check_extents(fd, st.st_size, path, ctl.verbose, report)

    _wipe_device(fd, ctl, plan, st, report)

    header = SwapHeader(
        page_size=pagesize,
        byteorder=plan.byteorder,
        version=SWAP_VERSION,
        last_page=plan.npages - 1,
        nr_badpages=len(badpages),
        sws_uuid=plan.uuid,
        sws_volume=(plan.label or b"").ljust(SWAP_LABEL_LENGTH, b"\0"),
        badpages=tuple(badpages),
    )
    nbytes = (plan.npages - len(badpages) - 1) * pagesize
    if not ctl.quiet:
        human = size_to_human_string(nbytes, space=True, three_letter=True)
        report.out(MSG_SETTING_UP.format(SWAP_VERSION, human, nbytes))
        if plan.label_truncated:
            report.warn(MSG_LABEL_TRUNCATED)
        head = f"LABEL={os.fsdecode(plan.label)}, " if plan.label is not None else "no label, "
        report.out(f"{head}UUID={format_uuid(plan.uuid)}")

    page = build_swap_header(header)
    _pwrite_all(fd, page[SIGNATURE_OFFSET:], plan.offset + SIGNATURE_OFFSET, path)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise ToolError(f"{MSG_WRITE_FAILED}: {os.strerror(e.errno or errno.EIO)}") from None


def _wipe_device(fd: int, ctl: MkswapCtl, plan: _Plan, st: os.stat_result, report: Report) -> None:
    """``wipe_device()``: keep the bootbits of a partitioned device unless -f, else zero them
    and wipe every old signature libblkid finds, announcing each."""
    path = plan.devname
    size = (st.st_size if stat.S_ISREG(st.st_mode) else os.lseek(fd, 0, os.SEEK_END)) - plan.offset
    area = ProbeArea.from_fd(fd, plan.offset, size)
    force = ctl.force or ctl.ghost  # a ghost page is written as `mkswap -f` writes it
    if not force:
        pttype = probe_partition_table(area)
        if pttype is not None:
            if not ctl.quiet:
                report.warn(MSG_BOOTBITS.format(path))
                report.raw(MSG_BOOTBITS_PT.format(pttype))
            return
    _pwrite_all(fd, bytes(BOOTBITS_SIZE), plan.offset, path)
    # With -f libblkid's prober is created after the bootbits are gone; without it, the prober
    # that looked for a partition table still holds the first sectors as they were.
    view = area.zeroed(0, BOOTBITS_SIZE) if force else area
    for sig in probe_superblocks(view):
        if not ctl.quiet:
            report.warn(MSG_WIPING.format(path, sig.type))
        _pwrite_all(fd, bytes(len(sig.magic)), plan.offset + sig.offset, path)
