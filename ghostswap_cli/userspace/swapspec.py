"""Naming a swap area: paths, ``LABEL=``/``UUID=`` tags, and reading LABEL and UUID back.

Mirrors what swapon and swapoff get from libmount and libblkid (util-linux v2.41):
``blkid_parse_tag_string()`` and ``mnt_valid_tagname()`` decide whether a spec is a tag,
``canonicalize_path()`` turns a path into the absolute, symlink-free name that is handed to
the kernel, ``mnt_resolve_spec()`` does one or the other, and lib/swapprober.c's
``get_swap_prober()`` reads LABEL and UUID with libblkid's swap prober and warns in its words
(``not a valid swap partition``, ``unsupported swap version '0'``). ``cannot_find()`` is
swapon-common.c's message.

Differences from util-linux, on purpose:

* util-linux resolves ``LABEL=``/``UUID=`` through udev's /dev/disk/by-* links, i.e. for block
  devices only (swapoff also probes the regular files listed in /proc/swaps). The simulator
  only activates files, so a tag is resolved by probing candidate files instead: the areas in
  the simulated /proc/swaps and the ``swap`` entries of fstab that name a path.
  ``PARTLABEL=``, ``PARTUUID=`` and ``ID=`` name partitions, which never match a file, so they
  are always "cannot find the device".
* libblkid ignores files under 40 KiB, so util-linux cannot read a one-page ghost header; we
  read it (the prober here has no minimum size), so ghosts have a LABEL and UUID too.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from ghostswap_cli.userspace.swap_probe import ProbeArea, area_size, blkid_label, probe_swap

if TYPE_CHECKING:
    from ghostswap_cli.userspace.common import Report

__all__ = (
    "TAG_NAMES",
    "MSG_CANNOT_FIND",
    "MSG_NOT_VALID",
    "MSG_UNSUPPORTED_VERSION",
    "MSG_UNABLE_TO_PROBE",
    "SwapIds",
    "parse_tag_string",
    "valid_tagname",
    "canonicalize_path",
    "probe_swap_ids",
    "SpecResolver",
    "cannot_find",
)

# libmount mnt_valid_tagname()
TAG_NAMES = ("ID", "UUID", "LABEL", "PARTUUID", "PARTLABEL")
# tags a swap header carries; the others name partitions or disks
SWAP_TAGS = ("LABEL", "UUID")

MSG_CANNOT_FIND = "cannot find the device for {}"  # swapon-common.c cannot_find()
MSG_NOT_VALID = "{}: not a valid swap partition"  # lib/swapprober.c
MSG_UNSUPPORTED_VERSION = "{}: unsupported swap version '{}'"
MSG_UNABLE_TO_PROBE = "{}: unable to probe device"
MSG_AMBIGUOUS = "{}: ambiguous probing result; use wipefs(8)"

_PROBE_BYTES = 65536


def parse_tag_string(token: str) -> tuple[str, str] | None:
    """``blkid_parse_tag_string()``: ``NAME=value`` (value optionally quoted) or None.

    An empty value, or an opening quote without its closing one, is not a tag.
    """
    if "=" not in token:
        return None
    name, value = token.split("=", 1)
    if value[:1] in ('"', "'"):
        q = value[0]
        value = value[1:]
        end = value.rfind(q)
        if end < 0:
            return None
        value = value[:end]
    if not value:
        return None
    return name, value


def valid_tagname(name: str) -> bool:
    """``mnt_valid_tagname()``."""
    return name in TAG_NAMES


def canonicalize_path(path: str) -> str | None:
    """``canonicalize_path()``: ``realpath()``, or the path unchanged when that fails;
    None for an empty path."""
    if not path:
        return None
    try:
        return os.path.realpath(path, strict=True)
    except (OSError, ValueError):
        return path


# a NamedTuple, not a frozen dataclass: every listing builds this class at import, and a
# frozen dataclass compiles six methods for it there
class SwapIds(NamedTuple):
    """What ``get_swap_prober()`` learned: LABEL and UUID (None when absent), or nothing
    (``ok`` False) with the warning util-linux would print (None when it prints none)."""

    ok: bool
    label: str | None = None
    uuid: str | None = None
    warning: str | None = None


def probe_swap_ids(path: str) -> SwapIds:
    """Probe ``path`` with libblkid's swap prober, as ``get_swap_prober()``; no minimum size.

    LABEL and UUID are only trusted when the header's padding is clean (``swap_set_info()``);
    an all-zero UUID is no UUID. The SWAP-SPACE (version 0) format is found but refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as e:
        err = e.errno if isinstance(e, OSError) and e.errno else errno.EINVAL
        return SwapIds(False, warning=f"{MSG_UNABLE_TO_PROBE.format(path)}: {os.strerror(err)}")
    try:
        size = area_size(fd, os.fstat(fd))
        if size is None:
            return SwapIds(False, warning=MSG_NOT_VALID.format(path))
        sig = probe_swap(ProbeArea.from_fd(fd, 0, size), minsz=False)
    except OSError as e:
        return SwapIds(False, warning=f"{MSG_UNABLE_TO_PROBE.format(path)}: {os.strerror(e.errno or errno.EIO)}")
    finally:
        os.close(fd)
    if sig is None:
        return SwapIds(False, warning=MSG_NOT_VALID.format(path))
    if sig.version != "1":
        return SwapIds(False, warning=MSG_UNSUPPORTED_VERSION.format(path, sig.version))
    header = sig.found.header if sig.found is not None else None
    if header is None or not header.padding_clean:
        return SwapIds(True)
    label = None
    if header.sws_volume[:1] != b"\0":
        raw = blkid_label(header.sws_volume)
        label = os.fsdecode(raw) if raw else None
    return SwapIds(True, label=label, uuid=header.uuid)


def cannot_find(special: str, report: Report) -> int:
    """swapon-common.c ``cannot_find()``: warn and return -1."""
    report.warn(MSG_CANNOT_FIND.format(special))
    return -1


class SpecResolver:
    """``mnt_resolve_spec()`` / ``mnt_resolve_tag()`` over a set of candidate files.

    ``candidates`` are probed in order, each at most once per resolver, and only when a tag
    has to be resolved.
    """

    def __init__(self, candidates: Iterable[str] = ()):
        self._candidates = list(dict.fromkeys(c for c in candidates if c))
        self._ids: dict[str, SwapIds] = {}

    def ids(self, path: str) -> SwapIds:
        if path not in self._ids:
            self._ids[path] = probe_swap_ids(path)
        return self._ids[path]

    def resolve_tag(self, name: str, value: str) -> str | None:
        """The first candidate whose LABEL or UUID is ``value``; None for other tags."""
        if name not in SWAP_TAGS:
            return None
        for path in self._candidates:
            ids = self.ids(path)
            if not ids.ok:
                continue
            found = ids.label if name == "LABEL" else ids.uuid
            if found is not None and found == value:
                return canonicalize_path(path)
        return None

    def resolve_spec(self, spec: str) -> str | None:
        """A tag is resolved by probing, anything else is canonicalized as a path."""
        tag = parse_tag_string(spec)
        if tag is not None and valid_tagname(tag[0]):
            return self.resolve_tag(*tag)
        return canonicalize_path(spec)
