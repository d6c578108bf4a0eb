"""swapon: enable swap areas on the simulated kernel, and list them.

Mirrors util-linux sys-utils/swapon.c (v2.38.1 through v2.41; ``-T/--fstab`` as 2.39+,
``-s`` parsed as 2.41 does): ``swapon_checks()`` (permissions, owner, holes, the signature
search at 4/8/16/64 KiB, the verbose size lines, the page-size mismatch with ``--fixpgsz``,
the software-suspend rewrite), ``do_swapon()`` (priority and discard flags, ``swapon <path>``
with ``-v``, ``<path>: swapon failed: <strerror>``), ``swapon_all()`` for ``-a`` and
``parse_options()`` for ``-o`` and fstab options; ``display_summary()`` for ``-s``. The
``--show`` rows are read the way ``show_table()`` reads them: /proc/swaps parsed by libmount,
every readable path probed for LABEL and UUID. Messages are util-linux's, word for word.

The syscall is the simulator's :func:`~ghostswap_cli.kernel.swapfile.sys_swapon`; nothing
here calls the real swapon(2).

Deliberate differences:

* "insecure file owner" is only reported when ghostswap runs as root (util-linux assumes it
  always does; a normal user's own files would all be reported);
* ``--fixpgsz`` runs ghostswap's mkswap in-process (util-linux executes ``mkswap``) and keeps
  any non-zero UUID (util-linux drops a UUID whose first byte is 0);
* a fstab that cannot be read is named in the error as given (util-linux 2.39-2.41 names the
  default fstab even for ``-T FILE``);
* ``LABEL=``/``UUID=`` are resolved as described in :mod:`ghostswap_cli.userspace.swapspec`.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from typing import TYPE_CHECKING

from ghostswap_cli.codec.swap_header import SUSPEND_SIGNATURES, TOI_MAGIC, format_uuid
from ghostswap_cli.errors import KernelError, ToolError
from ghostswap_cli.uapi import (
    SWAP_FLAG_DISCARD,
    SWAP_FLAG_DISCARD_ONCE,
    SWAP_FLAG_DISCARD_PAGES,
    SWAP_FLAG_PREFER,
    SWAP_FLAG_PRIO_MASK,
    SWAP_FLAG_PRIO_SHIFT,
    SWAP_SIGNATURE,
    SWAP_SIGNATURE_SZ,
)
from ghostswap_cli.userspace.common import Report
from ghostswap_cli.userspace.fstab import (
    FstabEntry,
    FstabError,
    SwapsEntry,
    optstr_get_option,
    parse_fstab,
)
from ghostswap_cli.userspace.swapon_show import ShowRow, display_summary, read_swaps, show_rows
from ghostswap_cli.userspace.swapspec import (
    SpecResolver,
    cannot_find,
    canonicalize_path,
    parse_tag_string,
    valid_tagname,
)

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel

__all__ = (
    "SwapProp",
    "SwaponCtl",
    "swapon",
    "parse_priority",
    "parse_discard",
    "parse_options",
    "read_swaps",
    "display_summary",
    "ShowRow",
    "show_rows",
    "swap_flags",
    "is_active_swap",
    "SWAPON_EX_FAILURE",
    "TRY_HELP",
)

# main() returns the OR of per-device results, -1 on any failure: exit status 255
SWAPON_EX_FAILURE = 255
TRY_HELP = "Try 'ghostswap swapon --help' for more information."
MAX_PAGESIZE = 64 * 1024
SWAPSPACE_PAGE_SIZES = (0x1000, 0x2000, 0x4000, 0x10000)  # swap_get_header() skips 32 KiB
SWAP_FLAGS_DISCARD_VALID = SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE | SWAP_FLAG_DISCARD_PAGES
SIG_SWAPSPACE = 1
SIG_SWSUSPEND = 2
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1

# util-linux's words (sys-utils/swapon.c, lib/strutils.c)
MSG_CANNOT_OPEN = "cannot open {}"
MSG_STAT_FAILED = "stat of {} failed"
MSG_INSECURE_PERMS = "{}: insecure permissions {:04o}, {:04o} suggested."
MSG_INSECURE_OWNER = "{}: insecure file owner {}, 0 (root) suggested."
MSG_HOLES = "{}: skipping - it appears to have holes."
MSG_GET_SIZE = "{}: get size failed"
MSG_READ_HEADER = "{}: read swap header failed"
MSG_FOUND_SIGNATURE = "{}: found signature [pagesize={}, signature={}]"
MSG_SIZES = "{}: pagesize={}, swapsize={}, devsize={}"
MSG_LAST_PAGE = "{}: last_page 0x{:08x} is larger than actual size of swapspace"
MSG_PAGESIZE_MISMATCH = "{}: swap format pagesize does not match."
MSG_PAGESIZE_HINT = "{}: swap format pagesize does not match. (Use --fixpgsz to reinitialize it.)"
MSG_REINITIALIZING = "{}: reinitializing the swap."
MSG_SUSPEND = "{}: software suspend data detected. Rewriting the swap signature."
MSG_LSEEK_FAILED = "{}: lseek failed"
MSG_WRITE_SIGNATURE = "{}: write signature failed"
MSG_VERBOSE = "swapon {}"
MSG_SWAPON_FAILED = "{}: swapon failed"
MSG_NOAUTO = "{}: noauto option -- ignored"
MSG_ALREADY_ACTIVE = "{}: already active -- ignored"
MSG_INACCESSIBLE = "{}: inaccessible -- ignored"
MSG_FAILED_TO_PARSE = "failed to parse {}"
MSG_DISCARD_POLICY = "unsupported discard policy: {}"
MSG_PRIORITY = "failed to parse priority"
MSG_BAD_USAGE = "bad usage"


@dataclasses.dataclass(frozen=True)
class SwapProp:
    """``struct swap_prop``: per-device settings from the command line, -o or fstab."""

    discard: int = 0  # SWAP_FLAG_DISCARD* bits
    priority: int = -1  # negative: the kernel's default
    no_fail: bool = False


@dataclasses.dataclass(frozen=True)
class SwaponCtl:
    """``struct swapon_ctl`` for enabling areas (the --show side is the CLI's)."""

    specs: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    uuids: tuple[str, ...] = ()
    all: bool = False
    fstab: str | None = None  # -T; None: $LIBMOUNT_FSTAB or /etc/fstab
    props: SwapProp = SwapProp()
    options: str | None = None  # -o, applied after -a, before the specs
    fix_page_size: bool = False
    verbose: bool = False


# --------------------------------------------------------------------------------------------
# option values


def parse_priority(text: str) -> int:
    """``strtos16_or_err(optarg, "failed to parse priority")``."""
    body = text.lstrip(" \t\n\v\f\r")
    digits = body[1:] if body[:1] in "+-" else body
    if not text or not digits or not digits.isascii() or not digits.isdigit():
        raise ToolError(f"{MSG_PRIORITY}: '{text}'")
    value = int(body)
    if not INT16_MIN <= value <= INT16_MAX:
        raise ToolError(f"{MSG_PRIORITY}: '{text}': {os.strerror(errno.ERANGE)}")
    return value


def parse_discard(optarg: str | None) -> int:
    """``-d``/``--discard[=policy]`` (a leading ``=`` is skipped, as ``-d=once``)."""
    flags = SWAP_FLAG_DISCARD
    if optarg is not None:
        policy = optarg[1:] if optarg.startswith("=") else optarg
        if policy == "once":
            flags |= SWAP_FLAG_DISCARD_ONCE
        elif policy == "pages":
            flags |= SWAP_FLAG_DISCARD_PAGES
        else:
            raise ToolError(MSG_DISCARD_POLICY.format(policy))
    return flags


def _strtol_prefix(text: str) -> int | None:
    """``strtol(arg, &end, 10)`` that succeeded (``end > arg``, no overflow): the leading
    number, trailing bytes ignored, truncated to ``int`` as the C cast does."""
    body = text.lstrip(" \t\n\v\f\r")
    i = 1 if body[:1] in "+-" else 0
    j = i
    while j < len(body) and body[j].isascii() and body[j].isdigit():
        j += 1
    if j == i:
        return None
    value = int(body[:j])
    if not -(1 << 63) <= value < (1 << 63):
        return None  # ERANGE
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def parse_options(props: SwapProp, options: str) -> SwapProp:
    """``parse_options()``: ``nofail``, ``discard[=once|pages]`` and ``pri=N`` from a mount
    option string; discard bits add up, the priority is replaced."""
    discard, priority, no_fail = props.discard, props.priority, props.no_fail
    if optstr_get_option(options, "nofail")[0]:
        no_fail = True
    found, arg = optstr_get_option(options, "discard")
    if found:
        discard |= SWAP_FLAG_DISCARD
        if arg is not None:
            # strncmp(arg, "once", argsz): any prefix of the policy name selects it
            if "once".startswith(arg):
                discard |= SWAP_FLAG_DISCARD_ONCE
            if "pages".startswith(arg):
                discard |= SWAP_FLAG_DISCARD_PAGES
    found, arg = optstr_get_option(options, "pri")
    if found and arg is not None:
        n = _strtol_prefix(arg)
        if n is not None:
            priority = n
    return SwapProp(discard, priority, no_fail)


def swap_flags(props: SwapProp) -> int:
    """The ``swapflags`` argument ``do_swapon()`` builds from the properties."""
    flags = 0
    priority = props.priority
    if priority >= 0:
        priority = min(priority, SWAP_FLAG_PRIO_MASK)
        flags = SWAP_FLAG_PREFER | ((priority & SWAP_FLAG_PRIO_MASK) << SWAP_FLAG_PRIO_SHIFT)
    discard = props.discard
    if discard and not discard & ~SWAP_FLAGS_DISCARD_VALID:
        # both policies asked for: tell the kernel "discard" and let it enable both
        if discard & SWAP_FLAG_DISCARD_ONCE and discard & SWAP_FLAG_DISCARD_PAGES:
            flags |= SWAP_FLAG_DISCARD
        else:
            flags |= discard
    return flags


# --------------------------------------------------------------------------------------------
# reading the table


# read_swaps, display_summary, ShowRow and show_rows live in swapon_show (re-exported
# above), so that the listings do not build the option and device classes of this module


# --------------------------------------------------------------------------------------------
# the checks before swapon(2)


@dataclasses.dataclass
class _SwapDevice:
    """``struct swap_device``."""

    path: str
    label: str | None = None
    uuid: str | None = None
    pagesize: int = 0


def _detect_signature(magic: bytes) -> int:
    """``swap_detect_signature()`` on the 10 bytes before a page boundary."""
    if magic == SWAP_SIGNATURE:
        return SIG_SWAPSPACE
    if any(magic[: len(sig)] == sig for sig in SUSPEND_SIGNATURES) or magic[:8] == TOI_MAGIC:
        return SIG_SWSUSPEND
    return 0


def _swap_get_header(fd: int) -> tuple[bytes, int, int] | None:
    """``swap_get_header()``: (first 64 KiB, signature kind, page size) or None."""
    try:
        data = os.pread(fd, MAX_PAGESIZE, 0)
    except OSError:
        return None
    buf = data + bytes(MAX_PAGESIZE - len(data))
    for page in SWAPSPACE_PAGE_SIZES:
        # the smallest swap area is 10 pages, so a page of data is always there to read
        if len(data) < page - SWAP_SIGNATURE_SZ:
            break
        sig = _detect_signature(buf[page - SWAP_SIGNATURE_SZ : page])
        if sig:
            return buf, sig, page
    return None


def _swab32(v: int) -> int:
    return int.from_bytes(v.to_bytes(4, "little"), "big")


def _swap_get_size(hdr: bytes, pagesize: int) -> int:
    """``swap_get_size()``: (last_page + 1) * pagesize, either byte order; 0 pages -> 1."""
    version = int.from_bytes(hdr[1024:1028], "little")
    last_page = int.from_bytes(hdr[1028:1032], "little")
    if version == 1:
        pass
    elif _swab32(version) == 1:
        last_page = _swab32(last_page)
    else:
        last_page = 0
    return (last_page + 1) * pagesize


def _swap_get_info(dev: _SwapDevice, hdr: bytes) -> None:
    """``swap_get_info()``: the label and UUID mkswap is asked to keep."""
    volume = hdr[1052:1068]
    if volume[:1] != b"\0":
        dev.label = os.fsdecode(volume.split(b"\0", 1)[0])
    raw_uuid = hdr[1036:1052]
    if any(raw_uuid):
        dev.uuid = format_uuid(raw_uuid)


class _MkswapReport:
    """mkswap's messages as its own process would print them, in swapon's output."""

    def __init__(self, report: Report):
        self._report = report

    def out(self, line: str) -> None:
        self._report.out(line)

    def warn(self, message: str) -> None:
        self._report.raw(f"mkswap: {message}\n")

    def raw(self, text: str) -> None:
        self._report.raw(text)


def _swap_reinitialize(k: Kernel, dev: _SwapDevice, report: Report) -> bool:
    """``swap_reinitialize()``: ``mkswap [-L label] [-U uuid] path`` for the kernel's page
    size, run in-process."""
    from ghostswap_cli.userspace.mkswap import MkswapCtl, mkswap

    report.warn(MSG_REINITIALIZING.format(dev.path))
    mk = _MkswapReport(report)
    try:
        status = mkswap(MkswapCtl(args=(dev.path,), label=dev.label, uuid=dev.uuid), mk,
                        page_size=k.page_size)
    except ToolError as e:
        for i, line in enumerate(str(e).split("\n")):
            mk.raw(f"mkswap: {line}\n" if i == 0 else f"{line}\n")
        return False
    return status == 0


def _swap_rewrite_signature(dev: _SwapDevice, report: Report) -> bool:
    """``swap_rewrite_signature()``: SWAPSPACE2 over the suspend signature."""
    try:
        fd = os.open(dev.path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        report.warn(f"{MSG_CANNOT_OPEN.format(dev.path)}: {os.strerror(e.errno or errno.EIO)}")
        return False
    try:
        os.pwrite(fd, SWAP_SIGNATURE, dev.pagesize - SWAP_SIGNATURE_SZ)
    except OSError as e:
        report.warn(f"{MSG_WRITE_SIGNATURE.format(dev.path)}: {os.strerror(e.errno or errno.EIO)}")
        return False
    finally:
        os.close(fd)
    return True


def _swapon_checks(ctl: SwaponCtl, k: Kernel, dev: _SwapDevice, report: Report) -> bool:
    """``swapon_checks()``: False means "do not call swapon(2)" (the warning is out)."""
    path = dev.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, ValueError) as e:
        err = e.errno if isinstance(e, OSError) and e.errno else errno.EINVAL
        report.warn(f"{MSG_CANNOT_OPEN.format(path)}: {os.strerror(err)}")
        return False
    try:
        try:
            st = os.fstat(fd)
        except OSError as e:
            report.warn(f"{MSG_STAT_FAILED.format(path)}: {os.strerror(e.errno or errno.EIO)}")
            return False
        perm_mask = 0o7007 if stat.S_ISBLK(st.st_mode) else 0o7077
        if st.st_mode & perm_mask:
            report.warn(MSG_INSECURE_PERMS.format(path, st.st_mode & 0o7777, ~perm_mask & 0o666))
        if stat.S_ISREG(st.st_mode) and st.st_uid != 0 and os.geteuid() == 0:
            report.warn(MSG_INSECURE_OWNER.format(path, st.st_uid))

        devsize = 0
        if stat.S_ISREG(st.st_mode):
            # a one-page ghost is 4096 allocated bytes: no holes
            if st.st_blocks * 512 < st.st_size:
                report.warn(MSG_HOLES.format(path))
                return False
            devsize = st.st_size
        if stat.S_ISBLK(st.st_mode):
            try:
                devsize = os.lseek(fd, 0, os.SEEK_END)
            except OSError:
                report.warn(MSG_GET_SIZE.format(path))
                return False

        found = _swap_get_header(fd)
        if found is None:
            report.warn(MSG_READ_HEADER.format(path))
            return False
        hdr, sig, dev.pagesize = found
        if ctl.verbose:
            kind = "swap" if sig == SIG_SWAPSPACE else "suspend"
            report.warn(MSG_FOUND_SIGNATURE.format(path, dev.pagesize, kind))

        if sig == SIG_SWAPSPACE:
            swapsize = _swap_get_size(hdr, dev.pagesize)
            if ctl.verbose:
                report.warn(MSG_SIZES.format(path, dev.pagesize, swapsize, devsize))
            if swapsize > devsize:
                # a ghost says so too; util-linux only mentions it and goes on
                if ctl.verbose:
                    report.warn(MSG_LAST_PAGE.format(path, swapsize))
            elif dev.pagesize != k.page_size:
                if ctl.fix_page_size:
                    _swap_get_info(dev, hdr)
                    report.warn(MSG_PAGESIZE_MISMATCH.format(path))
                    os.close(fd)
                    fd = -1
                    if not _swap_reinitialize(k, dev, report):
                        return False
                else:
                    report.warn(MSG_PAGESIZE_HINT.format(path))
        elif sig == SIG_SWSUSPEND:
            # old suspend data would corrupt the next resume attempt
            report.warn(MSG_SUSPEND.format(path))
            if not _swap_rewrite_signature(dev, report):
                return False
        return True
    finally:
        if fd >= 0:
            os.close(fd)


def _do_swapon(ctl: SwaponCtl, k: Kernel, props: SwapProp, spec: str, canonic: bool,
               resolver: SpecResolver, report: Report) -> int:
    """``do_swapon()``: resolve, check, build the flags, call the kernel; 0 or -1."""
    if canonic:
        path = spec
    else:
        resolved = resolver.resolve_spec(spec)
        if resolved is None:
            return cannot_find(spec, report)
        path = resolved
    dev = _SwapDevice(path)
    if not _swapon_checks(ctl, k, dev, report):
        return -1
    flags = swap_flags(props)
    if ctl.verbose:
        report.out(MSG_VERBOSE.format(dev.path))
    from ghostswap_cli.kernel.swapfile import sys_swapon

    try:
        sys_swapon(k, dev.path, flags)
    except KernelError as e:
        report.warn(f"{MSG_SWAPON_FAILED.format(dev.path)}: {e.strerror}")
        return -1
    return 0


def is_active_swap(device: str, swaps: list[SwapsEntry],
                   resolver: SpecResolver | None = None) -> bool:
    """``is_active_swap()`` (``mnt_table_find_source()``): the device is a source in
    /proc/swaps, as given or canonical; a tag counts if ``resolver`` resolves it to one."""
    tag = parse_tag_string(device)
    if tag is not None and valid_tagname(tag[0]):
        found = resolver.resolve_tag(*tag) if resolver is not None else None
        return found is not None and is_active_swap(found, swaps)
    canonical = canonicalize_path(device)
    for e in reversed(swaps):
        if e.source == device or (canonical is not None and e.source == canonical):
            return True
        if canonicalize_path(e.source) == canonical:
            return True
    return False


def _swapon_all(ctl: SwaponCtl, k: Kernel, entries: list[FstabEntry], resolver: SpecResolver,
                report: Report) -> int:
    """``swapon_all()``: every fstab ``swap`` entry without ``noauto`` that is not active."""
    status = 0
    swaps: list[SwapsEntry] | None = None  # read once, as util-linux caches get_swaps()
    for fs in entries:
        if not fs.is_swaparea:
            continue
        if fs.get_option("noauto")[0]:
            if ctl.verbose:
                report.warn(MSG_NOAUTO.format(fs.source))
            continue
        prop = ctl.props
        if fs.options:
            prop = parse_options(prop, fs.options)
        device = resolver.resolve_spec(fs.source)
        if device is None:
            if not prop.no_fail:
                status |= cannot_find(fs.source, report)
            continue
        if swaps is None:
            swaps = read_swaps(k, report)
        if is_active_swap(device, swaps):
            if ctl.verbose:
                report.warn(MSG_ALREADY_ACTIVE.format(device))
            continue
        if prop.no_fail:
            try:
                accessible = os.access(device, os.R_OK)
            except ValueError:
                accessible = False
            if not accessible:
                if ctl.verbose:
                    report.warn(MSG_INACCESSIBLE.format(device))
                continue
        status |= _do_swapon(ctl, k, prop, device, True, resolver, report)
    return status


def _candidates(k: Kernel, entries: list[FstabEntry]) -> list[str]:
    """Files a ``LABEL=``/``UUID=`` may name: the active areas, then fstab's swap paths."""
    paths = [si.path for si in k.active()]
    for fs in entries:
        if not fs.is_swaparea:
            continue
        tag = parse_tag_string(fs.source)
        if tag is not None and valid_tagname(tag[0]):
            continue
        paths.append(fs.source)
    return paths


def swapon(ctl: SwaponCtl, k: Kernel, report: Report) -> int:
    """Enable what ``ctl`` names, in util-linux's order: ``-a``, then ``-L``, ``-U``, specs.

    Returns the exit status: 0, or 255 when any device failed or was not found. Raises
    :class:`ToolError` (status 1) for a bad usage or an unreadable fstab with ``-a``.
    """
    if ctl.props.no_fail and not ctl.all:
        raise ToolError(f"{MSG_BAD_USAGE}\n{TRY_HELP}")
    status = 0
    entries: list[FstabEntry] = []
    if ctl.all:
        try:
            entries = parse_fstab(ctl.fstab, report)
        except FstabError as e:
            raise ToolError(f"{MSG_FAILED_TO_PARSE.format(e.path)}: {os.strerror(e.errno)}") from None
    else:
        try:
            entries = parse_fstab(ctl.fstab, None)
        except FstabError:
            entries = []
    resolver = SpecResolver(_candidates(k, entries))
    if ctl.all:
        status |= _swapon_all(ctl, k, entries, resolver, report)
    props = ctl.props
    if ctl.options is not None:
        props = parse_options(props, ctl.options)
    for label in ctl.labels:
        device = resolver.resolve_tag("LABEL", label)
        status |= (_do_swapon(ctl, k, props, device, True, resolver, report) if device
                   else cannot_find(label, report))
    for uuid in ctl.uuids:
        device = resolver.resolve_tag("UUID", uuid)
        status |= (_do_swapon(ctl, k, props, device, True, resolver, report) if device
                   else cannot_find(uuid, report))
    for spec in ctl.specs:
        status |= _do_swapon(ctl, k, props, spec, False, resolver, report)
    return SWAPON_EX_FAILURE if status else 0
