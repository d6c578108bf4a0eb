"""probe: identify swap areas as ``blkid -p`` does, ghost headers included.

Mirrors ``lowprobe_device()`` of util-linux misc-utils/blkid.c (v2.38.1) for the ``swap`` and
``swsuspend`` types: the same keys in the same order (LABEL, UUID, VERSION, TYPE, USAGE), the
same quoting (``safe_print()``), the same output formats (full, value, export) and exit status 2
when nothing is identified. ghostswap adds its own keys after blkid's: PAGESIZE, ENDIANNESS,
PAGES (declared, header page included), BYTES, BADPAGES, KIND (file, ghost, short, invalid) and
REASON, and a JSON format.

Differences from blkid, on purpose: files under 40 KiB are probed (so one-page ghost headers
are found; blkid skips them); a header with a signature that blkid rejects (bad version,
last_page 0) still gets a line with ghostswap's keys and KIND="invalid" but no TYPE, and the
status stays 2; every file is probed (blkid stops at the first it cannot identify). A file with
no signature at all prints nothing, as with blkid (exit status 2); missing, unreadable and
unsupported files get blkid's ``error:`` line.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import stat

from ghostswap_cli.codec.swap_header import (
    PADDING_OFFSET,
    HeaderKind,
    classify,
    find_swap_header,
    format_uuid,
)
from ghostswap_cli.errors import ToolError
from ghostswap_cli.userspace.common import (
    ProbeArea,
    Report,
    Signature,
    area_size,
    blkid_label,
    probe_partition_table,
    probe_swap,
    probe_swsuspend,
)

__all__ = (
    "ProbeResult",
    "probe_file",
    "probe_area",
    "render",
    "probe",
    "OUTPUT_FORMATS",
    "PROBE_EX_OK",
    "PROBE_EX_NOTFOUND",
    "PROBE_EX_USAGE",
)

# misc-utils/blkid.c
PROBE_EX_OK = 0
PROBE_EX_NOTFOUND = 2  # BLKID_EXIT_NOTFOUND
PROBE_EX_USAGE = 4  # BLKID_EXIT_OTHER

OUTPUT_FORMATS = ("full", "value", "export", "json")
MSG_FORMAT = "unsupported output format {}"
MSG_ERROR = "error: {}: {}"
MSG_NOT_FILE = "not a regular file or block device"
MSG_NO_FILE = "no file specified"
TRY_HELP = "Try 'ghostswap probe --help' for more information."

REASON_SUSPEND = "software suspend data"
_PROBE_BYTES = 65536


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """What probing one path found. ``values`` are blkid's keys (empty when blkid would not
    identify it), ``extra`` ghostswap's; ``error`` is set when the path could not be read."""

    path: str
    values: tuple[tuple[str, bytes], ...] = ()
    extra: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    file_size: int = 0

    @property
    def identified(self) -> bool:
        return bool(self.values)

    def get(self, key: str) -> str | None:
        for k, v in (*self.values, *((k, v.encode()) for k, v in self.extra)):
            if k == key:
                return os.fsdecode(v)
        return None


def _padding_clean(page: bytes) -> bool:
    """``swap_set_info()`` trusts LABEL and UUID only if ``padding[32]`` and ``[33]`` are 0."""
    return not any(page[PADDING_OFFSET + 128 : PADDING_OFFSET + 136])


def _label_uuid(page: bytes) -> list[tuple[str, bytes]]:
    if not _padding_clean(page):
        return []
    values = []
    label = blkid_label(page[1052:1068]) if page[1052:1053] != b"\0" else None
    if label:
        values.append(("LABEL", label))
    raw_uuid = page[1036:1052]
    if any(raw_uuid):
        values.append(("UUID", format_uuid(raw_uuid).encode()))
    return values


def _partition_table(area: ProbeArea) -> list[tuple[str, bytes]]:
    """blkid -p's PTUUID and PTTYPE of a disk image (libblkid partitions/dos.c, gpt.c)."""
    pttype = probe_partition_table(area)
    if pttype is None:
        return []
    values = []
    if pttype == "dos":
        ident = int.from_bytes(area.read(440, 4) or bytes(4), "little")
        if ident:
            values.append(("PTUUID", f"{ident:08x}".encode()))
    elif pttype == "gpt":
        guid = area.read(512 + 56, 16)
        if guid and any(guid):
            values.append(("PTUUID", format_uuid(guid[3::-1] + guid[5:3:-1] + guid[7:5:-1]
                                                 + guid[8:]).encode()))
    values.append(("PTTYPE", pttype.encode()))
    return values


def probe_area(area: ProbeArea, path: str = "", *, regular_file: bool = True) -> ProbeResult:
    """Probe an area (a file's or device's bytes) for swap and swsuspend signatures."""
    head = area.head(_PROBE_BYTES)
    sig: Signature | None = probe_swsuspend(area, minsz=False) or probe_swap(area, minsz=False)
    values: list[tuple[str, bytes]] = []
    extra: list[tuple[str, str]] = []
    if sig is not None:
        if sig.found is not None and sig.found.header is not None:
            values.extend(_label_uuid(head))
        values.append(("VERSION", (sig.version or "").encode()))
        values.append(("TYPE", sig.type.encode()))
        values.append(("USAGE", sig.usage.encode()))
    found = sig.found if sig is not None else find_swap_header(head, tuple(
        ps for ps in (4096, 8192, 16384, 32768, 65536) if ps <= area.size))
    if found is None:
        if sig is None:
            values.extend(_partition_table(area))
        return ProbeResult(path, tuple(values), (), None, area.size)
    extra.append(("PAGESIZE", str(found.page_size)))
    if found.is_suspend:
        kind, reason = HeaderKind.INVALID.value, REASON_SUSPEND
    else:
        _f, cls = classify(head, area.size, found.page_size, regular_file=regular_file)
        kind, reason = cls.kind.value, cls.reason
        h = found.header
        if h is not None:
            extra += [
                ("ENDIANNESS", h.byteorder.value),
                ("PAGES", str(h.nr_pages)),
                ("BYTES", str(h.declared_bytes)),
                ("BADPAGES", str(h.nr_badpages)),
            ]
    extra.append(("KIND", kind))
    if reason:
        extra.append(("REASON", reason))
    return ProbeResult(path, tuple(values), tuple(extra), None, area.size)


def probe_file(path: str) -> ProbeResult:
    """Open ``path`` read-only and probe it; never raises for a bad path or bad bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return ProbeResult(path, error=os.strerror(e.errno or errno.EIO))
    except ValueError:  # an embedded NUL
        return ProbeResult(path, error=os.strerror(errno.EINVAL))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            return ProbeResult(path, error=os.strerror(errno.EISDIR))
        size = area_size(fd, st)
        if size is None:
            return ProbeResult(path, error=MSG_NOT_FILE)
        area = ProbeArea.from_fd(fd, 0, size)
        return probe_area(area, path, regular_file=stat.S_ISREG(st.st_mode))
    except OSError as e:
        return ProbeResult(path, error=os.strerror(e.errno or errno.EIO))
    finally:
        os.close(fd)


def _safe(value: bytes, escape: bytes) -> str:
    """blkid's ``safe_print()``: ^X for control bytes, M- for the high half, \\ before the
    bytes in ``escape``."""
    out = []
    for ch in value:
        if ch >= 128:
            out.append("M-")
            ch -= 128
        if ch < 32 or ch == 0x7F:
            out.append("^" + chr(ch ^ 0x40))
            continue
        if ch in escape:
            out.append("\\")
        out.append(chr(ch))
    return "".join(out)


ESCAPE_FULL = b'"\\'
ESCAPE_EXPORT = b" \\\"'$`<>"


def _pairs(r: ProbeResult) -> list[tuple[str, bytes]]:
    return [*r.values, *((k, v.encode()) for k, v in r.extra)]


def render(results: list[ProbeResult], fmt: str = "full") -> str:
    """The stdout text for ``results`` in blkid's ``-o full|value|export`` or as JSON."""
    if fmt == "json":
        files = []
        for r in results:
            entry: dict[str, object] = {"file": r.path, "identified": r.identified}
            for key, value in _pairs(r):
                text = os.fsdecode(value)
                entry[key.lower()] = int(text) if key in ("PAGESIZE", "PAGES", "BYTES", "BADPAGES") else text
            if r.error:
                entry["error"] = r.error
            files.append(entry)
        return json.dumps({"files": files}, indent=2) + "\n"
    chunks = []
    for r in results:
        pairs = _pairs(r)
        if not pairs:
            continue
        if fmt == "value":
            chunks.append("".join(_safe(v, b"") + "\n" for _k, v in pairs))
        elif fmt == "export":
            body = "".join(f"{k}={_safe(v, ESCAPE_EXPORT)}\n" for k, v in pairs)
            chunks.append(f"DEVNAME={r.path}\n{body}")
        else:
            fields = "".join(f' {k}="{_safe(v, ESCAPE_FULL)}"' for k, v in pairs)
            chunks.append(f"{r.path}:{fields}\n")
    return ("\n" if fmt == "export" else "").join(chunks)


def probe(paths: list[str], fmt: str, report: Report) -> int:
    """Probe every path, write the results, return 0 if one was identified, else 2."""
    if fmt not in OUTPUT_FORMATS:
        raise ToolError(MSG_FORMAT.format(fmt), PROBE_EX_USAGE)
    if not paths:
        raise ToolError(f"{MSG_NO_FILE}\n{TRY_HELP}", PROBE_EX_USAGE)
    results = [probe_file(p) for p in paths]
    text = render(results, fmt)
    for line in text.splitlines():
        report.out(line)
    for r in results:
        if r.error:
            report.warn(MSG_ERROR.format(r.path, r.error))
        # a file with no signature gets nothing, as from blkid -p: only the exit status 2
    return PROBE_EX_OK if any(r.identified for r in results) else PROBE_EX_NOTFOUND
