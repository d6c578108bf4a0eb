"""Compress a trace's swap-outs ahead of the replay, in a second process.

In Python the replay is bound by one CPU: compressing a page costs as much as all the kernel's
bookkeeping for it. A second process reads the same trace and compresses every page that goes
out, in order, with the same compressor; the replay takes the compressed bytes instead of
compressing inline (``zswap_store(swp, page, compressed)``). Threads do not help here: each
page is one short call into lz4 or zstd, and the GIL hand-over after every call costs more than
the call.

The result is the same as compressing inline: the same compressor makes the same bytes for the
same page. The second process also takes each page's CRC32, which every swap-in is checked
against, from the same bytes it compressed. If a ``file:`` page changed between the two reads,
the two copies differ and a swap-in can report that page as corrupt; it never returns wrong data
silently. If the second process fails for any reason, the replay compresses inline from that
page on.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import signal
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ("CompressAhead", "worthwhile")

CHUNK = 512  # swap-outs per message: enough to make the pipe cheap, small enough to start soon
MIN_TRACE_BYTES = 4 << 20  # below this, starting a process costs more than it saves
_F_SETPIPE_SZ = 1031


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worthwhile(trace_size: int) -> bool:
    """``auto``: a second CPU to run on, fork to start it, and a trace long enough."""
    return hasattr(os, "fork") and usable_cpus() > 1 and trace_size >= MIN_TRACE_BYTES


class CompressAhead:
    """``(compressed, crc32)`` of each swap-out of ``trace``, in trace order (``(None, None)``
    for a zero page, which the swap core keeps as a bit). Iterate once; the iterator never
    ends: past the last page, or after the worker failed, it yields ``(None, None)`` (compress
    inline)."""

    def __init__(self, trace: Path, *, allow_dirs: Sequence[os.PathLike[str] | str],
                 page_size: int, compressor: str, level: int | None) -> None:
        from ghostswap_cli.codec.trace import open_trace
        from ghostswap_cli.kernel.compressors import new_compressor

        self.description = f"{compressor} in a second process"
        r, w = os.pipe()
        try:
            import fcntl

            fcntl.fcntl(w, _F_SETPIPE_SZ, 1 << 20)
        except OSError:  # pragma: no cover - capped by /proc/sys/fs/pipe-max-size
            pass
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child, measured through the replay's results
            status = 1
            try:
                os.close(r)
                # drop the parent's state lock, database and pool: only the parent uses them
                os.closerange(3, w)
                os.closerange(w + 1, 1 << 16)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                compress = new_compressor(compressor, level).compress
                crc32 = zlib.crc32
                zero = bytes(page_size)
                with os.fdopen(w, "wb", buffering=1 << 20) as out, \
                        open_trace(trace, allow_dirs=allow_dirs, page_size=page_size) as reader:
                    chunk: list[tuple[bytes | None, int | None]] = []
                    for op, _vpn, page in reader:
                        if op == 0:
                            chunk.append((None, None) if page == zero
                                         else (compress(page), crc32(page)))
                            if len(chunk) == CHUNK:
                                pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
                                chunk = []
                    if chunk:
                        pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
                status = 0
            except BaseException:  # noqa: BLE001 - the parent falls back; nothing to report
                pass
            finally:
                os._exit(status)
        os.close(w)
        self.pid = pid
        self._in = os.fdopen(r, "rb", buffering=1 << 20)

    def _chunks(self) -> Iterator[list[tuple[bytes | None, int | None]]]:
        load = pickle.load
        while True:
            try:
                chunk = load(self._in)
            except Exception:  # noqa: BLE001 - end of the stream, or a worker that died
                return
            yield chunk

    def __iter__(self) -> Iterator[tuple[bytes | None, int | None]]:
        return itertools.chain(itertools.chain.from_iterable(self._chunks()),
                               itertools.repeat((None, None)))

    def close(self) -> None:
        if self.pid:
            self._in.close()
            with contextlib.suppress(ProcessLookupError):  # already reaped elsewhere
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0

    def __enter__(self) -> CompressAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
