"""Compress a trace's swap-outs ahead of the replay, in a second process.

In Python the replay is bound by one CPU: compressing a page costs as much as all the kernel's
bookkeeping for it. A second process reads the same trace and compresses the pages that go
out, in order, with the same compressor; the replay takes the compressed bytes instead of
compressing inline (``zswap_store(swp, page, compressed)``). Threads do not help here: each
page is one short call into lz4 or zstd, and the GIL hand-over after every call costs more than
the call.

The two share the work rather than one waiting for the other: when the next page's compressed
form has not arrived, the replay compresses that page itself, and the second process, finding
itself behind, skips ahead past the replay's position (which the replay publishes in a shared
word). So the replay never waits, and each page is compressed by whichever process gets to it.

The result is the same as compressing inline: the same compressor makes the same bytes for the
same page. The second process also takes each page's CRC32, which every swap-in is checked
against, from the same bytes it compressed. If a ``file:`` page changed between the two reads,
the two copies differ and a swap-in can report that page as corrupt; it never returns wrong data
silently. If the second process fails for any reason, the replay compresses inline from there.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import os
import pickle
import signal
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ("CompressAhead", "worthwhile")

CHUNK = 16  # swap-outs per message: small runs share the work finely (measured best of 16..1024)
POLL_EVERY = 8  # swap-outs compressed inline between looks at an empty pipe
#: After this many swap-outs the replay looks at how many came compressed from the second
#: process; below MIN_SHARE of them it stops that process and goes on inline. A second CPU
#: that is busy (other users, or an SMT sibling of the first) cannot keep ahead, and each page
#: it does hand over costs the replay an unpickle: on a loaded 2-vCPU machine compressing ahead
#: made a replay 1.7x slower before this check (benchmarks/RESULTS.md). A 60 ms probe of two
#: processes compressing at once, tried first, misjudged such a machine either way: the first
#: swap-outs of the replay itself are the measurement.
CHECK_AFTER = 8192
MIN_SHARE = 0.2
MIN_TRACE_BYTES = 4 << 20  # below this, starting a process costs more than it saves
_F_SETPIPE_SZ = 1031
_NONE = (None, None)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worthwhile(trace_size: int) -> bool:
    """``auto``: a second CPU to run on and a trace long enough (the caller checks that the
    system has fork at all). Whether the second process then pays is measured on the replay
    itself: see CHECK_AFTER."""
    return usable_cpus() > 1 and trace_size >= MIN_TRACE_BYTES


class CompressAhead:
    """``(compressed, crc32)`` for each swap-out of ``trace``, in trace order, or ``(None,
    None)`` where the caller is to compress the page itself (a page the second process has not
    reached, a zero page, which the swap core keeps as a bit, or every page once the second
    process has ended or failed). Iterate once; the iterator never ends."""

    def __init__(self, trace: Path, *, allow_dirs: Sequence[os.PathLike[str] | str],
                 page_size: int, compressor: str, level: int | None) -> None:
        from ghostswap_cli.codec.trace import open_trace
        from ghostswap_cli.kernel.compressors import new_compressor

        self.description = f"{compressor} in a second process"
        self._shared = mmap.mmap(-1, 8)  # the replay's position, in swap-outs
        self._position = memoryview(self._shared).cast("Q")
        r, w = os.pipe()
        with contextlib.suppress(OSError):  # capped by /proc/sys/fs/pipe-max-size
            import fcntl

            fcntl.fcntl(w, _F_SETPIPE_SZ, 1 << 20)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child, measured through the replay's results
            status = 1
            # a collection would walk (and so copy, page by page) the parent's whole heap
            gc.disable()
            try:
                os.close(r)
                # drop the parent's state lock, database and pool: only the parent uses them
                os.closerange(3, w)
                os.closerange(w + 1, 1 << 16)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                with open_trace(trace, allow_dirs=allow_dirs, page_size=page_size) as reader:
                    _compress_trace(reader, w, self._position,
                                    new_compressor(compressor, level).compress, page_size)
                status = 0
            except BaseException:  # noqa: BLE001 - the parent goes on inline; nothing to report
                pass
            finally:
                os._exit(status)
        os.close(w)
        os.set_blocking(r, False)
        self.pid = pid
        self._fd = r
        self._buf = bytearray()
        self._eof = False
        self.pages = 0  # pages whose compressed form came from the second process
        self.stopped_at = 0  # swap-outs handed out when it was stopped for compressing too few

    def _poll(self) -> tuple[int, list] | None:
        """The next message that has arrived, ``(first swap-out, items)``, or None."""
        buf = self._buf
        while True:
            if len(buf) >= 4:
                n = int.from_bytes(buf[:4], "little")
                if len(buf) >= 4 + n:
                    message = pickle.loads(buf[4 : 4 + n])
                    del buf[: 4 + n]
                    return message
            if self._eof:
                return None
            try:
                data = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                return None
            except OSError:  # pragma: no cover - a broken pipe: go on inline
                data = b""
            if not data:
                self._eof = True
            buf += data

    def __iter__(self) -> Iterator[tuple[bytes | None, int | None]]:
        position = self._position
        poll = self._poll
        i = 0  # swap-outs handed out
        start, items = 0, []
        next_poll = 0
        check = CHECK_AFTER
        while True:
            if i == check:
                if self.pages < MIN_SHARE * i:
                    self.stopped_at = i
                    self.close()
                    while True:
                        yield _NONE
                check = -1
            k = i - start
            if 0 <= k < len(items):
                item = items[k]
                if item[0] is not None:
                    self.pages += 1
                yield item
            elif k < 0 or i < next_poll:  # not there yet: this one is the caller's
                yield _NONE
            else:
                position[0] = i
                message = poll()
                if message is not None:
                    start, items = message
                    continue  # hand out nothing yet: the message may be behind
                next_poll = i + POLL_EVERY
                yield _NONE
            i += 1

    def close(self) -> None:
        if self.pid:
            os.close(self._fd)
            with contextlib.suppress(ProcessLookupError):  # already reaped elsewhere
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0
            self._position.release()
            self._shared.close()

    def __enter__(self) -> CompressAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _compress_trace(reader, fd: int, position: memoryview, compress, page_size: int
                    ) -> None:  # pragma: no cover - runs in the second process
    """Send ``(first, [(compressed, crc32) | (None, None), ...])`` for runs of CHUNK swap-outs,
    skipping ahead of the replay's position whenever the replay has caught up."""
    crc32 = zlib.crc32
    zero = bytes(page_size)
    dumps = pickle.dumps
    index = 0  # swap-outs read
    skip_to = 0
    first = 0
    chunk: list[tuple[bytes | None, int | None]] = []

    def send(message: tuple[int, list]) -> None:
        data = dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(len(data).to_bytes(4, "little") + data)
        while view:
            view = view[os.write(fd, view):]

    for op, _vpn, page in reader:
        if op != 0:
            continue
        if index < skip_to:
            index += 1
            continue
        if not chunk:
            first = index
        chunk.append(_NONE if page == zero else (compress(page), crc32(page)))
        index += 1
        if len(chunk) == CHUNK:
            send((first, chunk))
            chunk = []
            if position[0] >= index:  # the replay got here first: start a run past it
                skip_to = position[0] + CHUNK
    if chunk:
        send((first, chunk))
