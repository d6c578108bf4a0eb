"""The file-backed store that holds zswap's compressed objects and raw pages.

Plays the part zsmalloc's pages play in the kernel: the bytes of every stored object live here,
in one ``mmap``-ed file of the state directory, addressed by a 32-bit handle. Accounting of
what zsmalloc *would* use is separate (:mod:`ghostswap_cli.kernel.zsmalloc`); this module is
about keeping the bytes safe and cheap to reach.

Layout
======
The file starts with a 16-byte header (magic ``GSARENA\\0``, version, granule shift, a random
arena id). Objects follow, each aligned to a 16-byte granule; an object of ``length`` bytes
occupies ``ceil(length / 16)`` granules. A handle is ``byte offset >> 4``, so handle 0 is the
header (never an object) and a 32-bit handle reaches 64 GiB. Objects are 1..65536 bytes
(a raw 64 KiB page is the largest).

Allocation: one LIFO free list per granule count (``array('I')`` stacks of handles, 4 bytes per
free extent, 4096 classes, created on first use) and a bump pointer. ``store`` pops the exact
class or bumps; ``free`` pushes. No splitting, no coalescing, no scans: every operation is O(1).
Space freed in one class is reused only by objects of the same rounded size, so the allocated
part of the file is bounded by the sum over classes of (peak number of extents of that class x
its size), not by the peak of the live total; :meth:`Arena.rebuild` repacks the free lists from
a live set when a shift in object sizes makes that matter. The file grows by ``mremap``
(``mmap.resize``): 1 MiB at first, then doubling, in steps of at most 64 MiB. Each new stretch
is reserved with ``posix_fallocate`` (a full disk then fails the store with :class:`ArenaFull`
instead of killing the process with SIGBUS on a write through the map; on file systems without
fallocate the file is sparse and that protection is lost), and the map is pre-faulted 1 MiB
ahead of the bump pointer (``MADV_POPULATE_WRITE``). Growth is never undone by the arena.

Crash safety: deferred reuse
============================
The simulator commits its index (SQLite) at checkpoints; the committed index must stay readable
after a crash at any point. Protocol, per checkpoint::

    blob = arena.dump_state()     # free lists as they will be after this commit
    arena.flush()                 # optional: msync + fsync, for power-loss durability
    db.execute(..., blob); db.commit()
    arena.commit()                # only after the database commit succeeded

and after a failed or aborted command (or a crash): drop the Arena, and
``Arena.open(path, last_committed_blob)``.

Invariants (tested in tests/kernel/test_arena.py):

I1. An extent referenced by the last committed index is not handed out again before
    :meth:`Arena.commit`: ``free(..., deferred=True)`` parks it on a pending list that only
    ``commit()`` releases. ``free(..., deferred=False)`` is for objects allocated after the last
    commit and makes the extent reusable at once. ``deferred=None`` (the default) decides
    safely by itself: immediate only for extents at or above the bump pointer of the last
    commit (those cannot be in the committed index), deferred otherwise.
I2. ``dump_state()`` describes the state right after ``commit()``: the bump pointer, and the
    free lists with the pending extents merged in (the new index no longer references them).
    No operation may come between ``dump_state()`` and ``commit()``; ``commit()`` raises
    :class:`ArenaError` if it can tell that one did.
I3. Reopening with the last committed blob forgets everything since: extents allocated after
    that commit are free again (on a free list of the blob, or above its bump pointer), and
    extents freed after it are live again with their bytes intact (by I1, nothing overwrote
    them). So a rollback needs no undo log and leaks nothing.
I4. Live extents, free extents and pending extents never overlap, and together they cover
    granules ``1 .. bump - 1`` exactly (:meth:`Arena.check` verifies this against a live set).

Memory: nothing per live object (the caller keeps ``handle`` and ``length`` in its own index);
4 bytes per free or pending extent; a few hundred bytes of fixed state.

Concurrency: no locking inside. Two ``Arena`` objects on one file (in one process or several)
are safe only under the caller's lock, and only one of them may write between commits.
"""

from __future__ import annotations

import errno
import mmap
import os
import secrets
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable
from pathlib import Path

from ghostswap_cli.errors import GhostswapError, StateError
from ghostswap_cli.faults import fault_point

__all__ = (
    "Arena",
    "ArenaError",
    "ArenaFull",
    "GRANULE",
    "GRANULE_SHIFT",
    "MAX_OBJECT_SIZE",
    "MAX_ARENA_BYTES",
    "INITIAL_FILE_SIZE",
    "MAX_GROWTH_STEP",
    "POPULATE_CHUNK",
    "next_file_size",
)

GRANULE_SHIFT = 4
GRANULE = 1 << GRANULE_SHIFT
#: Largest object: a raw 64 KiB page.
MAX_OBJECT_SIZE = 65536
_MAX_G = MAX_OBJECT_SIZE >> GRANULE_SHIFT
#: 2**32 granules: what a 32-bit handle addresses.
MAX_ARENA_BYTES = (1 << 32) << GRANULE_SHIFT
INITIAL_FILE_SIZE = 1 << 20
MAX_GROWTH_STEP = 64 << 20
#: How far ahead of the bump pointer the map is pre-faulted.
POPULATE_CHUNK = 1 << 20
# MADV_POPULATE_WRITE (include/uapi/asm-generic/mman-common.h, Linux 5.14); Python 3.11's mmap
# module does not name it.
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23) if sys.platform == "linux" else 0

_FILE_MAGIC = b"GSARENA\0"
_FILE_VERSION = 1
_FILE_HEADER = struct.Struct("<8sHHI")  # magic, version, granule shift, arena id
_HEADER_G = 1  # the header takes granule 0
_STATE_MAGIC = b"GSAS"
_STATE_VERSION = 1
# magic, version, granule shift, arena id, bump, nr classes, nr handles, crc32 of the arrays
_STATE_HEADER = struct.Struct("<4sHHIQIII")
_LITTLE = sys.byteorder == "little"


class ArenaError(GhostswapError):
    """The arena file or a handle is not usable (bad handle, foreign file, misuse)."""


class ArenaFull(ArenaError):
    """The arena reached :data:`MAX_ARENA_BYTES` (the 32-bit handle space) or the disk is full."""


def next_file_size(current: int, needed: int) -> int:
    """The file size after growing from ``current`` to hold ``needed`` bytes: doubling, in
    steps of at most :data:`MAX_GROWTH_STEP`, never past :data:`MAX_ARENA_BYTES`."""
    new = current
    while new < needed:
        new += min(new, MAX_GROWTH_STEP)
    return min(new, MAX_ARENA_BYTES)


def _reserve(fd: int, old: int, new: int, path: Path) -> None:
    """Extend the file from ``old`` to ``new`` bytes with blocks reserved where the file system
    can (posix_fallocate); plain ftruncate (sparse) where it cannot."""
    try:
        fault_point("pool")
        os.posix_fallocate(fd, old, new - old)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise ArenaFull(f"{path}: cannot grow arena to {new} bytes: {exc.strerror}") from None
        os.ftruncate(fd, new)


def _granules(length: int) -> int:
    return (length + GRANULE - 1) >> GRANULE_SHIFT


class Arena:
    """An mmap-ed object store with size-class free lists and deferred reuse (see module doc).

    ``Arena(path, create=True)`` makes a new file (mode 0600, refusing to overwrite one);
    ``Arena(path)`` or :meth:`Arena.open` opens an existing file with a committed state blob
    (None: nothing was ever committed, so everything is free).
    """

    __slots__ = (
        "path", "arena_id", "_fd", "_mm", "_size", "_ready", "_populate", "_free", "_pending",
        "_pending_classes", "_bump", "_committed_bump", "_free_g", "_pending_g", "_dump_sig",
    )

    def __init__(self, path: Path | str, create: bool = False, *,
                 state: bytes | None = None) -> None:
        self.path = Path(path)
        self._fd = -1
        self._mm: mmap.mmap | None = None
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
        try:
            if create:
                if state is not None:
                    raise ArenaError("a new arena has no committed state to load")
                fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o600)
            else:
                fd = os.open(self.path, flags)
        except FileExistsError:
            raise ArenaError(f"{self.path}: arena file already exists") from None
        except FileNotFoundError:
            raise ArenaError(f"{self.path}: no such arena file") from None
        except OSError as exc:
            raise ArenaError(f"{self.path}: cannot open arena: {exc.strerror}") from None
        self._fd = fd
        try:
            if create:
                self.arena_id = secrets.randbits(32)
                hdr = _FILE_HEADER.pack(_FILE_MAGIC, _FILE_VERSION, GRANULE_SHIFT, self.arena_id)
                os.pwrite(fd, hdr, 0)
                _reserve(fd, 0, INITIAL_FILE_SIZE, self.path)
                size = INITIAL_FILE_SIZE
            else:
                size = os.fstat(fd).st_size
                hdr = os.pread(fd, _FILE_HEADER.size, 0)
                if len(hdr) < _FILE_HEADER.size:
                    raise ArenaError(f"{self.path}: not a ghostswap arena (too short)")
                magic, version, shift, self.arena_id = _FILE_HEADER.unpack(hdr)
                if magic != _FILE_MAGIC or shift != GRANULE_SHIFT:
                    raise ArenaError(f"{self.path}: not a ghostswap arena")
                if version != _FILE_VERSION:
                    raise ArenaError(f"{self.path}: arena format version {version} unsupported")
                if size < INITIAL_FILE_SIZE:
                    _reserve(fd, size, INITIAL_FILE_SIZE, self.path)
                    size = INITIAL_FILE_SIZE
            self._mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            self._size = size
            # Bytes below this were pre-faulted (or need no pre-faulting): see _grow().
            self._ready = 0
            self._populate = _MADV_POPULATE_WRITE
            self._free: list[array | None] = [None] * (_MAX_G + 1)
            self._pending: list[array | None] = [None] * (_MAX_G + 1)
            self._pending_classes: list[int] = []
            self._bump = _HEADER_G
            self._free_g = 0
            self._pending_g = 0
            self._dump_sig: tuple[int, int, int] | None = None
            if state is not None:
                self._load_state(state)
            self._committed_bump = self._bump
        except BaseException:
            self.close()
            if create:  # leave no half-made file behind
                self.path.unlink(missing_ok=True)
            raise

    @classmethod
    def open(cls, path: Path | str, state: bytes | None) -> Arena:
        """Open ``path`` with the last committed ``state`` (creating the file if it is missing
        and ``state`` is None). This is also the rollback: the result knows nothing of what
        happened after that commit."""
        p = Path(path)
        if state is None and not p.exists():
            return cls(p, create=True)
        if state is not None and not p.exists():
            raise StateError(f"{p}: arena file is missing but the state refers to it")
        return cls(p, state=state)

    # -- hot path ------------------------------------------------------------------------------

    def store(self, data: bytes) -> int:
        """Allocate ``len(data)`` bytes, copy ``data`` in and return the handle."""
        n = len(data)
        if not 0 < n <= MAX_OBJECT_SIZE:
            raise ValueError(f"object length {n} outside 1..{MAX_OBJECT_SIZE}")
        g = (n + 15) >> 4
        fl = self._free[g]
        if fl:
            h = fl.pop()
            self._free_g -= g
        else:
            h = self._bump
            end = h + g
            if end << 4 > self._ready:
                self._grow(end)
            self._bump = end
        off = h << 4
        self._mm[off:off + n] = data  # type: ignore[index]
        return h

    def alloc(self, length: int) -> int:
        """Reserve an extent for ``length`` bytes; fill it with :meth:`write`."""
        if not 0 < length <= MAX_OBJECT_SIZE:
            raise ValueError(f"object length {length} outside 1..{MAX_OBJECT_SIZE}")
        g = (length + 15) >> 4
        fl = self._free[g]
        if fl:
            self._free_g -= g
            return fl.pop()
        h = self._bump
        end = h + g
        if end << 4 > self._ready:
            self._grow(end)
        self._bump = end
        return h

    def write(self, handle: int, data: bytes) -> None:
        """Copy ``data`` into the extent at ``handle`` (allocated for at least len(data))."""
        off = handle << 4
        end = off + len(data)
        if handle < _HEADER_G or end > self._bump << 4:
            raise ArenaError(f"arena handle {handle} (+{len(data)} bytes) out of range")
        self._mm[off:end] = data  # type: ignore[index]

    def read(self, handle: int, length: int) -> bytes:
        """The ``length`` bytes stored at ``handle`` (a copy: one mmap slice)."""
        off = handle << 4
        end = off + length
        if handle < _HEADER_G or end > self._bump << 4 or length < 0:
            raise ArenaError(f"arena handle {handle} (+{length} bytes) out of range")
        return self._mm[off:end]  # type: ignore[index]

    def free(self, handle: int, length: int, deferred: bool | None = None) -> None:
        """Give back the extent of an object of ``length`` bytes at ``handle``.

        ``deferred=True``: the last committed index may reference it; reusable after the next
        :meth:`commit`. ``deferred=False``: allocated since the last commit; reusable now.
        ``None``: immediate when ``handle`` lies above the last commit's bump pointer, else
        deferred (always safe). Double frees are not detected here (see :meth:`check`).
        """
        g = (length + 15) >> 4
        if handle < _HEADER_G or handle + g > self._bump or not 0 < length <= MAX_OBJECT_SIZE:
            raise ArenaError(f"arena handle {handle} (+{length} bytes) out of range")
        if deferred is None:
            deferred = handle < self._committed_bump
        if deferred:
            pl = self._pending[g]
            if pl is None:
                pl = self._pending[g] = array("I")
            if not pl:
                self._pending_classes.append(g)
            pl.append(handle)
            self._pending_g += g
        else:
            fl = self._free[g]
            if fl is None:
                fl = self._free[g] = array("I")
            fl.append(handle)
            self._free_g += g

    # -- checkpoints ---------------------------------------------------------------------------

    def commit(self) -> None:
        """The caller's index commit succeeded: pending extents become reusable (I1, I2)."""
        if self._dump_sig is not None and self._dump_sig != self._sig():
            self._dump_sig = None
            raise ArenaError("arena changed between dump_state() and commit()")
        self._dump_sig = None
        free = self._free
        pending = self._pending
        for g in self._pending_classes:
            pl = pending[g]
            fl = free[g]
            if fl is None:
                free[g] = pl
                pending[g] = array("I")
            else:
                fl.extend(pl)  # type: ignore[arg-type]
                del pl[:]  # type: ignore[index]
        self._pending_classes.clear()
        self._free_g += self._pending_g
        self._pending_g = 0
        self._committed_bump = self._bump

    def dump_state(self) -> bytes:
        """The allocator state to persist with the next commit, as it will be after
        :meth:`commit` (pending extents counted free). Compact: a 32-byte header, 8 bytes per
        non-empty class and 4 bytes per free extent, little-endian, CRC32-checked."""
        classes = array("I")
        counts = array("I")
        handles = array("I")
        free = self._free
        pending = self._pending
        for g in range(1, _MAX_G + 1):
            fl = free[g]
            pl = pending[g]
            n = (len(fl) if fl else 0) + (len(pl) if pl else 0)
            if n:
                classes.append(g)
                counts.append(n)
                if fl:
                    handles.extend(fl)
                if pl:
                    handles.extend(pl)
        if not _LITTLE:  # pragma: no cover - big-endian host
            for a in (classes, counts, handles):
                a.byteswap()
        body = classes.tobytes() + counts.tobytes() + handles.tobytes()
        head = _STATE_HEADER.pack(_STATE_MAGIC, _STATE_VERSION, GRANULE_SHIFT, self.arena_id,
                                  self._bump, len(classes), len(handles), zlib.crc32(body))
        self._dump_sig = self._sig()
        return head + body

    def _sig(self) -> tuple[int, int, int]:
        return (self._bump, self._free_g, self._pending_g)

    def _load_state(self, state: bytes) -> None:
        hs = _STATE_HEADER.size
        if len(state) < hs:
            raise StateError(f"{self.path}: arena state is truncated")
        magic, version, shift, arena_id, bump, nclasses, nhandles, crc = \
            _STATE_HEADER.unpack_from(state)
        if magic != _STATE_MAGIC or version != _STATE_VERSION or shift != GRANULE_SHIFT:
            raise StateError(f"{self.path}: arena state has an unknown format")
        if arena_id != self.arena_id:
            raise StateError(f"{self.path}: arena state belongs to another arena file "
                             f"({arena_id:08x}, file is {self.arena_id:08x})")
        body = state[hs:]
        if len(body) != 4 * (2 * nclasses + nhandles) or zlib.crc32(body) != crc:
            raise StateError(f"{self.path}: arena state is corrupt (length or checksum)")
        if not _HEADER_G <= bump <= 1 << 32 or bump << GRANULE_SHIFT > self._size:
            raise StateError(f"{self.path}: arena state points past the end of the file")
        classes = array("I")
        classes.frombytes(body[: 4 * nclasses])
        counts = array("I")
        counts.frombytes(body[4 * nclasses: 8 * nclasses])
        handles = array("I")
        handles.frombytes(body[8 * nclasses:])
        if not _LITTLE:  # pragma: no cover - big-endian host
            for a in (classes, counts, handles):
                a.byteswap()
        if sum(counts) != nhandles:
            raise StateError(f"{self.path}: arena state is corrupt (counts)")
        pos = 0
        free_g = 0
        prev = 0
        for g, n in zip(classes, counts, strict=True):
            if not prev < g <= _MAX_G or n == 0:
                raise StateError(f"{self.path}: arena state is corrupt (class {g})")
            prev = g
            fl = handles[pos:pos + n]
            pos += n
            if min(fl) < _HEADER_G or max(fl) + g > bump:
                raise StateError(f"{self.path}: arena state is corrupt (extent out of range)")
            self._free[g] = fl
            free_g += g * n
        self._bump = bump
        self._free_g = free_g
        if free_g > bump - _HEADER_G:
            raise StateError(f"{self.path}: arena state is corrupt (free space > arena)")

    # -- growth, durability, lifetime ----------------------------------------------------------

    def _grow(self, end_g: int) -> None:
        """Make bytes up to granule ``end_g`` usable.

        Extends the file when needed (:func:`next_file_size`; the new stretch is reserved with
        ``posix_fallocate`` so that a full disk shows up here as :class:`ArenaFull` rather than
        as a SIGBUS on a later store through the map), then pre-faults the map ahead of the bump
        pointer with one ``madvise(MADV_POPULATE_WRITE)`` (Linux 5.14+): each fresh page of a
        shared file mapping otherwise costs a fault (~2.4 us per 1200-byte store measured on
        6.18/ext4, ~0.7 us with pre-faulting). Kernels without the advice fault lazily."""
        need = end_g << GRANULE_SHIFT
        if need > self._size:
            if need > MAX_ARENA_BYTES:
                raise ArenaFull(f"{self.path}: arena full ({MAX_ARENA_BYTES} bytes addressable)")
            new = next_file_size(self._size, need)
            _reserve(self._fd, self._size, new, self.path)
            self._mm.resize(new)  # type: ignore[union-attr]  # ftruncate (no-op now) + mremap
            self._size = new
        page = mmap.PAGESIZE
        start = max(self._ready, (self._bump << GRANULE_SHIFT) & ~(page - 1))
        ready = min(self._size, (max(need, start + POPULATE_CHUNK) + page - 1) & ~(page - 1))
        if self._populate and ready > start:
            try:
                self._mm.madvise(self._populate, start, ready - start)  # type: ignore[union-attr]
            except (OSError, ValueError):
                self._populate = 0  # not supported here: fault lazily from now on
        self._ready = ready

    def flush(self) -> None:
        """Write dirty pages and the file size to disk (msync + fsync). Needed before the
        index commit only for durability against power loss; a process crash loses nothing
        already written to the map."""
        self._mm.flush()  # type: ignore[union-attr]
        os.fsync(self._fd)

    def close(self) -> None:
        """Unmap and close. Uncommitted changes are simply forgotten (see I3)."""
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @property
    def closed(self) -> bool:
        return self._mm is None

    def __enter__(self) -> Arena:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- accounting ----------------------------------------------------------------------------

    @property
    def used_bytes(self) -> int:
        """Bytes held by live objects, rounded up to granules (pending frees count as free)."""
        return (self._bump - _HEADER_G - self._free_g - self._pending_g) << GRANULE_SHIFT

    @property
    def free_bytes(self) -> int:
        """Bytes on the free lists (reusable now)."""
        return self._free_g << GRANULE_SHIFT

    @property
    def pending_bytes(self) -> int:
        """Bytes freed since the last commit that wait for it."""
        return self._pending_g << GRANULE_SHIFT

    @property
    def bump_bytes(self) -> int:
        """End of the allocated part of the file (header included)."""
        return self._bump << GRANULE_SHIFT

    @property
    def file_bytes(self) -> int:
        """Size of the file and of the mapping."""
        return self._size

    # -- checking and repair -------------------------------------------------------------------

    def _extents(self, live: Iterable[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
        # (start, end, kind, length): kind 0 live, 1 free, 2 pending
        ext = [(h, h + _granules(n), 0, n) for h, n in live]
        for kind, lists in ((1, self._free), (2, self._pending)):
            for g, fl in enumerate(lists):
                if fl:
                    ext.extend((h, h + g, kind, g << GRANULE_SHIFT) for h in fl)
        ext.sort()
        return ext

    def check(self, live: Iterable[tuple[int, int]], limit: int = 50) -> list[str]:
        """Verify I4 against ``live`` (every (handle, length) the caller's index references).

        Returns problems as one-line strings (empty: consistent): extents out of range,
        overlapping extents (live/live, live/free, free/free...), and granules that are neither
        live nor free (leaked). At most ``limit`` problems are listed, then a count.
        """
        kinds = ("live", "free", "pending")
        problems: list[str] = []
        extra = 0

        def report(text: str) -> None:
            nonlocal extra
            if len(problems) < limit:
                problems.append(text)
            else:
                extra += 1

        cur_end = _HEADER_G
        cur: tuple[int, int, int, int] | None = None
        leaked_g = 0
        gaps = 0
        for e in self._extents(live):
            start, end, kind, length = e
            if start < _HEADER_G or end > self._bump or length <= 0:
                report(f"{kinds[kind]} extent {start}+{length} out of range "
                       f"(objects live in granules {_HEADER_G}..{self._bump - 1})")
                continue
            if start < cur_end and cur is not None:
                report(f"{kinds[kind]} extent {start}+{length} overlaps "
                       f"{kinds[cur[2]]} extent {cur[0]}+{cur[3]}")
            elif start > cur_end:
                leaked_g += start - cur_end
                gaps += 1
            if end > cur_end:
                cur_end, cur = end, e
        if cur_end < self._bump:
            leaked_g += self._bump - cur_end
            gaps += 1
        if leaked_g:
            report(f"{leaked_g << GRANULE_SHIFT} bytes in {gaps} gaps are neither live nor "
                   "free (leaked)")
        if extra:
            problems.append(f"... and {extra} more problems")
        return problems

    def rebuild(self, live: Iterable[tuple[int, int]]) -> None:
        """Replace the free lists by the gaps between the ``live`` extents and lower the bump
        pointer to the end of the last one (repair, or repacking after a change of object
        sizes). Call it right after opening with the committed state and with that state's
        complete live set, then dump and commit. Raises :class:`ArenaError` if live extents
        overlap or fall outside the file (nothing is changed then)."""
        spans = sorted((h, h + _granules(n)) for h, n in live)
        free: list[array | None] = [None] * (_MAX_G + 1)
        free_g = 0
        cur = _HEADER_G
        for start, end in spans:
            if start < cur or end << GRANULE_SHIFT > self._size or end <= start:
                raise ArenaError(f"cannot rebuild: live extent at {start} overlaps or is out "
                                 "of range")
            gap = start - cur
            free_g += gap
            while gap:
                g = min(gap, _MAX_G)
                fl = free[g]
                if fl is None:
                    fl = free[g] = array("I")
                fl.append(cur)
                cur += g
                gap -= g
            cur = end
        self._free = free
        self._pending = [None] * (_MAX_G + 1)
        self._pending_classes.clear()
        self._free_g = free_g
        self._pending_g = 0
        self._bump = cur
        self._committed_bump = min(self._committed_bump, cur)
        self._dump_sig = None

    def __repr__(self) -> str:
        state = "closed" if self._mm is None else (
            f"used={self.used_bytes} free={self.free_bytes} pending={self.pending_bytes} "
            f"file={self._size}")
        return f"<Arena {self.path} {state}>"
