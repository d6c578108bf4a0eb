"""Capture a page trace from a live process: its real memory, as if it were all swapped out.

``/proc/PID/maps`` lists the mappings; ``/proc/PID/pagemap`` says which pages are present (or
already swapped), so pages the process never touched are left out; ``/proc/PID/mem`` gives their
contents (the kernel's ``mem_rw()`` → ``access_remote_vm()``, which needs ptrace access: root, or
the same user when ``kernel.yama.ptrace_scope`` allows it). The trace swaps every captured page
out and then back in, either all at once (``out-in``: the peak is every page) or one mapping at a
time (``interleave``: the peak is the largest mapping).

The process keeps running while it is read, so the capture is not an atomic snapshot; pages that
vanish (a mapping unmapped meanwhile) or cannot be read ([vvar], device mappings) are counted and
skipped, never fatal.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from ghostswap_cli.codec.trace import (
    MAX_VPN,
    TF_CAPTURED,
    TRACE_PAGE_SIZES,
    open_trace_writer,
    same_filled,
)
from ghostswap_cli.errors import ToolError

__all__ = (
    "MAPS_FILTERS",
    "ORDERS",
    "MapEntry",
    "CaptureResult",
    "read_maps",
    "select_mappings",
    "capture",
)

MAPS_FILTERS = ("anon", "all")
ORDERS = ("out-in", "interleave")
# special mappings /proc/PID/mem cannot read (or that are not the process's memory at all)
UNREADABLE_SPECIAL = ("[vvar]", "[vvar_vclock]", "[vsyscall]")
ANON_NAMES = ("", "[heap]", "[stack]")
_CHUNK_PAGES = 64
PM_PRESENT = 1 << 63  # Documentation/admin-guide/mm/pagemap.rst
PM_SWAP = 1 << 62


@dataclasses.dataclass(frozen=True)
class MapEntry:
    """One line of /proc/PID/maps (``show_map_vma()`` in fs/proc/task_mmu.c)."""

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str

    @property
    def readable(self) -> bool:
        return self.perms[:1] == "r"

    @property
    def private(self) -> bool:
        return self.perms[3:4] == "p"

    @property
    def anonymous(self) -> bool:
        """Private memory not backed by a file: the heap, stacks, anonymous and named-anon
        (``[anon:NAME]``, Linux 5.17) mappings; what swap holds."""
        return self.private and self.inode == 0 and (
            self.path in ANON_NAMES or self.path.startswith(("[anon:", "[stack:"))
        )


def _parse_maps_line(line: str) -> MapEntry | None:
    parts = line.split(None, 5)
    if len(parts) < 5:
        return None
    try:
        start_s, end_s = parts[0].split("-")
        return MapEntry(int(start_s, 16), int(end_s, 16), parts[1], int(parts[2], 16), parts[3],
                        int(parts[4]), parts[5].rstrip("\n") if len(parts) > 5 else "")
    except ValueError:
        return None


def read_maps(pid: int) -> list[MapEntry]:
    """The mappings of process ``pid``; ToolError if it does not exist or cannot be inspected."""
    try:
        text = Path(f"/proc/{pid}/maps").read_text(errors="surrogateescape")
    except FileNotFoundError:
        raise ToolError(f"no process with PID {pid}") from None
    except OSError as e:
        raise ToolError(f"cannot read /proc/{pid}/maps: {e.strerror}") from None
    return [m for m in map(_parse_maps_line, text.splitlines()) if m is not None]


def select_mappings(maps: list[MapEntry], maps_filter: str = "anon") -> tuple[list[MapEntry], dict[str, int]]:
    """The mappings to capture and, for the others, how many were skipped for which reason."""
    if maps_filter not in MAPS_FILTERS:
        raise ValueError(f"unknown maps filter {maps_filter!r}: expected anon or all")
    chosen: list[MapEntry] = []
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for m in maps:
        if m.path in UNREADABLE_SPECIAL:
            skip("special")
        elif not m.readable:
            skip("not readable")
        elif maps_filter == "anon" and not m.anonymous:
            skip("not anonymous")
        else:
            chosen.append(m)
    return chosen, skipped


@dataclasses.dataclass
class CaptureResult:
    """Counts of what a capture did. ``pages`` were written (each out, then in)."""

    pid: int
    page_size: int
    mappings: int = 0
    mappings_selected: int = 0
    mappings_skipped: dict[str, int] = dataclasses.field(default_factory=dict)
    pages: int = 0
    zero_pages: int = 0
    same_filled_pages: int = 0
    not_present_pages: int = 0
    unreadable_pages: int = 0
    truncated: bool = False  # stopped at max_pages
    peak_swapped: int = 0
    events: int = 0

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _open_proc(pid: int, name: str) -> int | None:
    try:
        return os.open(f"/proc/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ToolError(f"no process with PID {pid}") from None
    except PermissionError:
        if name == "pagemap":
            return None
        raise ToolError(f"cannot read the memory of process {pid}: permission denied (it needs "
                        "ptrace access: root, or the same user with kernel.yama.ptrace_scope=0)") from None
    except OSError as e:
        if name == "pagemap":
            return None
        raise ToolError(f"cannot open /proc/{pid}/{name}: {e.strerror}") from None


def _present(pagemap: int | None, first_vpn: int, count: int) -> list[bool]:
    """Which of ``count`` pages from ``first_vpn`` are present or swapped; all, without pagemap."""
    if pagemap is None:
        return [True] * count
    try:
        raw = os.pread(pagemap, 8 * count, 8 * first_vpn)
    except OSError:
        return [True] * count
    words = struct.unpack(f"<{len(raw) // 8}Q", raw[: len(raw) // 8 * 8])
    flags = [bool(w & (PM_PRESENT | PM_SWAP)) for w in words]
    return flags + [True] * (count - len(flags))


def _read_pages(mem: int, addr: int, count: int, ps: int) -> list[bytes | None]:
    """``count`` pages from ``addr``; None for a page that cannot be read (EIO for [vvar] and
    device memory, or a mapping gone since /proc/PID/maps was read)."""
    try:
        data = os.pread(mem, count * ps, addr)
    except OSError:
        data = b""
    pages: list[bytes | None] = [data[i : i + ps] for i in range(0, len(data) // ps * ps, ps)]
    for i in range(len(pages), count):  # a short read or an error: page by page from there
        try:
            page = os.pread(mem, ps, addr + i * ps)
        except OSError as e:
            if e.errno not in (errno.EIO, errno.EFAULT, errno.ENOMEM, errno.EPERM, errno.EACCES):
                raise ToolError(f"reading process memory at 0x{addr + i * ps:x}: {e.strerror}") from None
            page = b""
        pages.append(page if len(page) == ps else None)
    return pages


def _present_pages(
    mem: int, vpn0: int, present: list[bool], ps: int
) -> Iterator[tuple[int, bytes | None]]:
    """(index, page or None) for each present page, reading runs of present pages at once.
    Pages that are not present are never read: reading one would map the zero page into the
    process, changing what the next capture sees."""
    i, count = 0, len(present)
    while i < count:
        if not present[i]:
            i += 1
            continue
        j = i
        while j < count and present[j]:
            j += 1
        yield from enumerate(_read_pages(mem, (vpn0 + i) * ps, j - i, ps), i)
        i = j


def capture(
    pid: int,
    output: os.PathLike[str] | str,
    *,
    max_pages: int | None = None,
    maps_filter: str = "anon",
    order: str = "out-in",
    progress: Callable[[int, int], None] | None = None,
) -> CaptureResult:
    """Write a binary trace of process ``pid``'s memory to ``output`` (flag TF_CAPTURED).

    ``progress(done, total)`` is called per chunk of pages. Raises ToolError when the process is
    gone or its memory cannot be read at all; the output is then left as it was.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}: expected out-in or interleave")
    if max_pages is not None and max_pages < 1:
        raise ValueError("--max-pages must be at least 1")
    ps = os.sysconf("SC_PAGE_SIZE")
    if ps not in TRACE_PAGE_SIZES:
        raise ToolError(f"page size {ps} cannot be written in a trace")
    maps = read_maps(pid)
    chosen, skipped = select_mappings(maps, maps_filter)
    result = CaptureResult(pid=pid, page_size=ps, mappings=len(maps), mappings_selected=len(chosen),
                           mappings_skipped=skipped)
    total = sum((m.end - m.start) // ps for m in chosen)
    if max_pages is not None:
        total = min(total, max_pages)
    mem = _open_proc(pid, "mem")
    pagemap = _open_proc(pid, "pagemap")
    done = 0
    try:
        with open_trace_writer(output, "binary", ps, flags=TF_CAPTURED) as w:
            pending_in: list[int] = []
            for m in chosen:
                if result.truncated:
                    break
                first = m.start // ps
                npages = (m.end - m.start) // ps
                for off in range(0, npages, _CHUNK_PAGES):
                    count = min(_CHUNK_PAGES, npages - off)
                    vpn0 = first + off
                    present = _present(pagemap, vpn0, count)
                    result.not_present_pages += present.count(False)
                    for i, page in _present_pages(mem, vpn0, present, ps):
                        vpn = vpn0 + i
                        if page is None or vpn >= MAX_VPN:
                            result.unreadable_pages += 1
                            continue
                        word = same_filled(page)
                        if word == 0:
                            result.zero_pages += 1
                        elif word is not None:
                            result.same_filled_pages += 1
                        w.out(vpn, page)
                        pending_in.append(vpn)
                        result.pages += 1
                        result.peak_swapped = max(result.peak_swapped, len(pending_in))
                        if max_pages is not None and result.pages >= max_pages:
                            result.truncated = True
                            break
                    done += count
                    if progress is not None:
                        progress(min(done, total), total)
                    if result.truncated:
                        break
                if order == "interleave":
                    for vpn in pending_in:
                        w.in_(vpn)
                    pending_in.clear()
            for vpn in pending_in:
                w.in_(vpn)
            result.events = w.events
    finally:
        os.close(mem)
        if pagemap is not None:
            os.close(pagemap)
    return result
