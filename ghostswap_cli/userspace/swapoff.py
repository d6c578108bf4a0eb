"""swapoff: disable swap areas on the simulated kernel.

Mirrors util-linux sys-utils/swapoff.c (v2.38.1 through v2.41): ``do_swapoff()`` (``swapoff
<spec>`` with ``-v``, ``<spec>: swapoff failed: <strerror>``, ``Not superuser.`` for EPERM),
``swapoff_by()`` for ``-L``/``-U``, ``resolve_swapfile_tag()`` (LABEL/UUID of the files in
/proc/swaps, probed newest first), ``swapoff_all()`` (every area in /proc/swaps, last row
first and quietly, then fstab's swap entries that are not active, their errors ignored) and
the ``SWAPOFF_EX_*`` exit bits OR-ed over all specs. Messages are util-linux's, word for word.

The syscall is the simulator's :func:`~ghostswap_cli.kernel.swapfile.sys_swapoff`: bringing
pages back (``try_to_unuse``) and ENOMEM when the simulated RAM is short happen there.

Deliberate differences: ghost areas are probed for LABEL/UUID like files (util-linux only
probes rows of type ``file`` and cannot read a one-page header anyway); the fstab is
``$LIBMOUNT_FSTAB`` or /etc/fstab, read only (swapoff has no ``-T``); 2.41's write of -1000 to
its own ``oom_score_adj`` is not done (nothing real is swapped in).
"""

from __future__ import annotations

import dataclasses
import enum
import errno
from typing import TYPE_CHECKING

from ghostswap_cli.errors import KernelError, ToolError
from ghostswap_cli.userspace.common import Report
from ghostswap_cli.userspace.fstab import FstabEntry, FstabError, SwapsEntry, parse_fstab
from ghostswap_cli.userspace.swapon import is_active_swap, read_swaps
from ghostswap_cli.userspace.swapspec import (
    SpecResolver,
    cannot_find,
    parse_tag_string,
    valid_tagname,
)

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel

__all__ = ("SwapoffStatus", "SwapoffCtl", "swapoff", "TRY_HELP")

TRY_HELP = "Try 'ghostswap swapoff --help' for more information."
MSG_VERBOSE = "swapoff {}"
MSG_SWAPOFF_FAILED = "{}: swapoff failed"
MSG_NOT_SUPERUSER = "Not superuser."
MSG_BAD_USAGE = "bad usage"


class SwapoffStatus(enum.IntFlag):
    """``SWAPOFF_EX_*``: exit status bits, OR-ed over every spec (documented since 2.36)."""

    OK = 0
    ENOMEM = 2  # swapoff(2) failed for lack of memory
    FAILURE = 4  # swapoff(2) failed for another reason
    SYSERR = 8  # a non-swapoff(2) error
    USAGE = 16  # usage, permissions or syntax error
    ALLERR = 32  # --all: every swapoff failed
    SOMEOK = 64  # --all: some failed, some succeeded


@dataclasses.dataclass(frozen=True)
class SwapoffCtl:
    specs: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    uuids: tuple[str, ...] = ()
    all: bool = False
    verbose: bool = False
    force: bool = False  # ghostswap: drop pages that cannot be read back instead of EIO


class _NotSuperuser(Exception):
    """EPERM: util-linux stops at once with status 16 (``errx``); what was done stays done."""


def _swap_file_paths(swaps: list[SwapsEntry]) -> list[str]:
    """The rows ``resolve_swapfile_tag()`` probes, last first (ghosts included, see above)."""
    return [e.source for e in reversed(swaps) if e.swaptype in ("file", "ghost")]


class _Swapoff:
    def __init__(self, ctl: SwapoffCtl, k: Kernel, report: Report):
        self.ctl = ctl
        self.k = k
        self.report = report
        self._swaps: list[SwapsEntry] | None = None
        self._fstab: list[FstabEntry] | None = None
        self._resolver: SpecResolver | None = None

    # get_swaps() and get_fstab() read once per run, as swapon-common.c caches them
    @property
    def swaps(self) -> list[SwapsEntry]:
        if self._swaps is None:
            self._swaps = read_swaps(self.k, self.report)
        return self._swaps

    @property
    def fstab(self) -> list[FstabEntry]:
        if self._fstab is None:
            try:
                self._fstab = parse_fstab(None, self.report)
            except FstabError:
                self._fstab = []
        return self._fstab

    @property
    def resolver(self) -> SpecResolver:
        if self._resolver is None:
            paths = _swap_file_paths(self.swaps)
            for fs in self.fstab:
                tag = parse_tag_string(fs.source)
                if fs.is_swaparea and not (tag is not None and valid_tagname(tag[0])):
                    paths.append(fs.source)
            self._resolver = SpecResolver(paths)
        return self._resolver

    def do_swapoff(self, orig_special: str, quiet: bool, canonic: bool) -> int:
        """``do_swapoff()``: a status bit, or -1 when the spec names nothing."""
        if self.ctl.verbose:
            self.report.out(MSG_VERBOSE.format(orig_special))
        special = orig_special
        if not canonic:
            resolved = self.resolver.resolve_spec(orig_special)
            if resolved is None:
                return cannot_find(orig_special, self.report)
            special = resolved
        from ghostswap_cli.kernel.swapfile import sys_swapoff

        try:
            sys_swapoff(self.k, special, drop_unreadable=self.ctl.force)
        except KernelError as e:
            if e.errno == errno.EPERM:
                raise _NotSuperuser() from None
            if e.errno == errno.ENOMEM:
                self.report.warn(f"{MSG_SWAPOFF_FAILED.format(orig_special)}: {e.strerror}")
                return int(SwapoffStatus.ENOMEM)
            # EIO (pages that cannot be read back) is said even by --all: a real kernel never
            # fails swapoff with it, so util-linux has no reason to be quiet about it
            if not quiet or e.errno == errno.EIO:
                self.report.warn(f"{MSG_SWAPOFF_FAILED.format(orig_special)}: {e.strerror}")
            return int(SwapoffStatus.FAILURE)
        return int(SwapoffStatus.OK)

    def swapoff_by(self, name: str, value: str) -> int:
        special = self.resolver.resolve_tag(name, value)
        if special is None:
            return cannot_find(value, self.report)
        return self.do_swapoff(special, False, True)

    def swapoff_all(self) -> int:
        nerrs = nsucc = 0
        for e in reversed(self.swaps):
            if self.do_swapoff(e.source, True, True) == SwapoffStatus.OK:
                nsucc += 1
            else:
                nerrs += 1
        # fstab entries were probably switched off already: errors do not count
        for fs in self.fstab:
            if fs.is_swaparea and not is_active_swap(fs.source, self.swaps, self.resolver):
                self.do_swapoff(fs.source, True, False)
        if nerrs == 0:
            return int(SwapoffStatus.OK)
        if nsucc == 0:
            return int(SwapoffStatus.ALLERR)
        return int(SwapoffStatus.SOMEOK)


def swapoff(ctl: SwapoffCtl, k: Kernel, report: Report) -> int:
    """Disable what ``ctl`` names: ``-L``, ``-U``, the specs, then ``--all``.

    Returns the exit status: the OR of the ``SWAPOFF_EX_*`` bits, or 255 when a spec could not
    be resolved (util-linux ORs -1 in); 16 after ``Not superuser.`` (EPERM stops the run).
    Raises :class:`ToolError` with status 16 for a bad usage, before anything is done.
    """
    if not ctl.all and not ctl.labels and not ctl.uuids and not ctl.specs:
        raise ToolError(f"{MSG_BAD_USAGE}\n{TRY_HELP}", SwapoffStatus.USAGE)
    run = _Swapoff(ctl, k, report)
    status = 0
    try:
        for label in ctl.labels:
            status |= run.swapoff_by("LABEL", label)
        for uuid in ctl.uuids:
            status |= run.swapoff_by("UUID", uuid)
        for spec in ctl.specs:
            status |= run.do_swapoff(spec, False, False)
        if ctl.all:
            status |= run.swapoff_all()
    except _NotSuperuser:
        report.warn(MSG_NOT_SUPERUSER)
        return int(SwapoffStatus.USAGE)
    return status & 0xFF
