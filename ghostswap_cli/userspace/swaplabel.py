"""swaplabel: print or change the label or UUID of a swap area.

Mirrors util-linux disk-utils/swaplabel.c and lib/swapprober.c (v2.38.1): the area must be
what libblkid calls ``swap`` (SWAPSPACE2 version 1, or the old version 0 which is refused),
the UUID is written at byte 1036 and the label (15 bytes and a NUL) at byte 1052, and a UUID
that does not parse is only a warning.

One deliberate difference: a ghost swapfile (exactly one page whose header declares more)
is accepted, since ghostswap can read it, while libblkid skips every file under 40 KiB. Other
files under 40 KiB are still refused, as util-linux refuses them.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat

from ghostswap_cli.codec.swap_header import (
    LABEL_OFFSET,
    UUID_OFFSET,
    HeaderKind,
    classify,
    parse_uuid,
)
from ghostswap_cli.errors import ToolError
from ghostswap_cli.uapi import SWAP_LABEL_LENGTH
from ghostswap_cli.userspace.common import SWAP_MINSZ, ProbeArea, Report, area_size, probe_swap
from ghostswap_cli.userspace.probe import probe_area

__all__ = ("SwaplabelCtl", "swaplabel", "TRY_HELP")

TRY_HELP = "Try 'ghostswap swaplabel --help' for more information."
MSG_NO_DEVICE = "no device specified"
MSG_UNABLE_TO_PROBE = "{}: unable to probe device"
MSG_NOT_VALID = "{}: not a valid swap partition"
MSG_UNSUPPORTED_VERSION = "{}: unsupported swap version '{}'"
MSG_CANNOT_OPEN = "cannot open {}"
MSG_BAD_UUID = "failed to parse UUID: {}"
MSG_LABEL_TOO_LONG = "label is too long. Truncating it to '{}'"
MSG_WRITE_UUID = "{}: failed to write UUID"
MSG_WRITE_LABEL = "{}: failed to write label"
MSG_WRITE_FAILED = "write failed: {}"


@dataclasses.dataclass(frozen=True)
class SwaplabelCtl:
    args: tuple[str, ...] = ()  # DEVICE; anything after it is ignored, as util-linux does
    label: str | None = None
    uuid: str | None = None


def _get_swap_prober(path: str) -> tuple[bytes, int]:
    """``get_swap_prober()``: the first 64 KiB and the size of a valid swap area, or a
    ToolError with util-linux's message."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise ToolError(f"{MSG_UNABLE_TO_PROBE.format(path)}: {os.strerror(e.errno or errno.EIO)}") from None
    try:
        st = os.fstat(fd)
        size = area_size(fd, st)
        if size is None:  # blkid_probe_set_device() refuses directories and the like
            raise ToolError(f"{MSG_UNABLE_TO_PROBE.format(path)}: {os.strerror(errno.EINVAL)}")
        area = ProbeArea.from_fd(fd, 0, size)
        sig = probe_swap(area)
        if sig is None and size < SWAP_MINSZ and stat.S_ISREG(st.st_mode):
            # ghostswap reads ghost swapfiles that libblkid's 40 KiB minimum hides
            head = area.head(65536)
            _found, cls = classify(head, size)
            if cls.kind is HeaderKind.GHOST:
                sig = probe_swap(area, minsz=False)
    except OSError as e:
        raise ToolError(f"{MSG_UNABLE_TO_PROBE.format(path)}: {os.strerror(e.errno or errno.EIO)}") from None
    finally:
        os.close(fd)
    if sig is None:
        raise ToolError(MSG_NOT_VALID.format(path))
    if sig.version != "1":
        raise ToolError(MSG_UNSUPPORTED_VERSION.format(path, sig.version))
    return area.head(65536), size


def swaplabel(ctl: SwaplabelCtl, report: Report) -> int:
    """Run swaplabel; returns the exit status (0 or 1) or raises ToolError (status 1)."""
    if not ctl.args:
        raise ToolError(f"{MSG_NO_DEVICE}\n{TRY_HELP}")
    path = ctl.args[0]
    head, size = _get_swap_prober(path)
    if ctl.label is None and ctl.uuid is None:
        result = probe_area(ProbeArea.from_bytes(head, size), path)
        for key, value in result.values:
            if key == "LABEL":
                report.out(f"LABEL: {os.fsdecode(value)}")
            elif key == "UUID":
                report.out(f"UUID:  {os.fsdecode(value)}")
        return 0
    return _change_info(path, ctl.label, ctl.uuid, report)


def _change_info(path: str, label: str | None, uuid: str | None, report: Report) -> int:
    """``change_info()``: UUID first (a bad one is only a warning), then the label."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        report.warn(f"{MSG_CANNOT_OPEN.format(path)}: {os.strerror(e.errno or errno.EIO)}")
        return 1
    try:
        if uuid is not None:
            try:
                raw = parse_uuid(uuid)
            except ValueError:
                report.warn(MSG_BAD_UUID.format(uuid))
            else:
                try:
                    os.pwrite(fd, raw, UUID_OFFSET)
                except OSError as e:
                    report.warn(f"{MSG_WRITE_UUID.format(path)}: {os.strerror(e.errno or errno.EIO)}")
                    return 1
        if label is not None:
            raw_label = os.fsencode(label)
            stored = raw_label[: SWAP_LABEL_LENGTH - 1]
            if len(raw_label) > len(stored):
                report.warn(MSG_LABEL_TOO_LONG.format(os.fsdecode(stored)))
            try:
                os.pwrite(fd, stored.ljust(SWAP_LABEL_LENGTH, b"\0"), LABEL_OFFSET)
            except OSError as e:
                report.warn(f"{MSG_WRITE_LABEL.format(path)}: {os.strerror(e.errno or errno.EIO)}")
                return 1
        try:
            os.fsync(fd)
        except OSError as e:
            if e.errno != errno.EINVAL:
                report.warn(f"{MSG_WRITE_FAILED.format(path)}: {os.strerror(e.errno or errno.EIO)}")
                return 1
    finally:
        os.close(fd)
    return 0
