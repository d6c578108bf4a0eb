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

Whether the second process pays is measured, not assumed. ``--compress-ahead auto`` starts it
only with a second usable CPU and a trace of MIN_TRACE_BYTES or more, then *probes*: the replay's
first batches alternate between compressing inline (with the compressor's batch call where it
has one) and taking pages from the second process, PROBE_ROUNDS rounds of PROBE_BATCHES batches
each way, timed by the wall clock from one batch to the next (the first batch of each phase is
not timed: it pays for the switch). The median over the rounds of ahead's time per event over
inline's decides: below PAYS_BELOW (0.95) the second process stays, otherwise it is stopped and
the rest of the replay is inline. ``summary()`` says which it chose and the ratio it measured.
During the inline phases the second process is stopped (SIGSTOP): a runnable second process
takes CPU share from the replay on a loaded machine even while it only compresses, and an inline
phase must time the replay as it would run alone. Messages the replay has passed are dropped without unpickling
(their first swap-out and count are in a fixed header).
``--compress-ahead on`` skips the probe and keeps the older guard: after CHECK_AFTER swap-outs,
if fewer than MIN_SHARE of them came from the second process, it is stopped.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import mmap
import os
import pickle
import signal
import statistics
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
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
#: auto: rounds of (inline, ahead) phases, and replay batches (up to 1024 events) per phase,
#: the first of each phase untimed. 4 x 2 x 3 batches: about 24k events, 0.5-1 s of a replay.
#: Batches of 20-40 ms vary by 2x on a loaded machine (a preemption is a few ms): the median of
#: four rounds' ratios is what stays put; the first round also pays the copy-on-write faults
#: that follow the fork.
PROBE_ROUNDS = 4
PROBE_BATCHES = 3
#: ahead is kept when the probe's median ratio (ahead's time per event over inline's) is below
#: this: a second CPU taken from everyone else must buy at least 5%, more than the probe's
#: round-to-round noise on a quiet machine.
PAYS_BELOW = 0.95
_F_SETPIPE_SZ = 1031
_NONE = (None, None)
_HEAD = struct.Struct("<IQI")  # message: pickle length, first swap-out, swap-outs in it


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
    process has ended or failed).

    The replay calls :meth:`batch` once per batch of events; iterating (once; the iterator
    never ends) gives the same items one swap-out at a time, without the probe. ``probe``:
    measure inline against ahead on the first batches and keep the faster (``auto``)."""

    def __init__(self, trace: Path, *, allow_dirs: Sequence[os.PathLike[str] | str],
                 page_size: int, compressor: str, level: int | None, probe: bool = False) -> None:
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
        self._i = 0  # swap-outs handed out (or compressed inline by the replay)
        self._start, self._items = 0, []  # the message being handed out
        self._it = iter(self)
        # the probe: the phase of each coming batch, and what each timed batch cost
        self.probe = probe
        self.choice = ""  # "ahead" or "inline" once the probe decided
        self.ratios: list[float] = []  # per round: ahead's time per event over inline's
        self._plan: list[str] = []
        if probe:
            for _ in range(PROBE_ROUNDS):
                for phase in ("inline", "ahead"):
                    self._plan += [phase + "-warm"] + [phase] * (PROBE_BATCHES - 1)
        self._plan.reverse()  # popped from the end
        self._timed: list[tuple[str, float, int]] = []  # (phase, seconds, events)
        self._last: tuple[str, float, int] | None = None
        self.probed_events = 0
        self._paused = False

    # the pipe ------------------------------------------------------------------------------
    def _poll(self, take: bool = True) -> tuple[int, list] | None:
        """The next message that has arrived and is not wholly behind the replay, ``(first
        swap-out, items)``, or None. Messages behind are dropped unread. ``take=False``: only
        drop those, and leave the first useful message where it is, unread (the pipe stays full
        behind it, so the second process cannot run further ahead)."""
        buf = self._buf
        head = _HEAD.size
        while True:
            if len(buf) >= head:
                n, first, count = _HEAD.unpack_from(buf)
                if len(buf) >= head + n:
                    if first + count <= self._i:  # passed already
                        del buf[: head + n]
                        continue
                    if not take:
                        return None
                    items = pickle.loads(buf[head : head + n])
                    del buf[: head + n]
                    return first, items
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
        next_poll = 0
        check = -1 if self.probe else CHECK_AFTER
        while True:
            i = self._i  # the replay may have compressed some inline (batch)
            if i == check:
                check = -1
                if self.pages < MIN_SHARE * i:
                    self.stopped_at = i
                    self.close()
            if not self.pid:
                self._i = i + 1
                yield _NONE
                continue
            k = i - self._start
            if 0 <= k < len(self._items):
                item = self._items[k]
                if item[0] is not None:
                    self.pages += 1
                self._i = i + 1
                yield item
            elif k < 0 or i < next_poll:  # not there yet: this one is the caller's
                self._i = i + 1
                yield _NONE
            else:
                position[0] = i
                message = poll()
                if message is not None:
                    self._start, self._items = message
                    continue  # hand out nothing yet: the message may be ahead
                next_poll = i + POLL_EVERY
                self._i = i + 1
                yield _NONE

    # the replay's side -----------------------------------------------------------------------
    def batch(self, events: list, inline: Callable[[list], Iterator] | None
              ) -> Iterator[tuple[bytes | None, int | None]]:
        """The items for the swap-outs (op 0) of ``events``, one replay batch. ``inline(events)``
        compresses a batch in-process (the compressor's batch call), or None: one call per page
        in zswap_store. Also times the previous batch for the probe."""
        now = time.perf_counter()
        if self._last is not None:
            phase, t0, n = self._last
            self._last = None
            if not phase.endswith("-warm"):
                self._timed.append((phase, now - t0, n))
            if not self._plan and not self.choice:
                self._decide()
        outs = [e[0] for e in events].count(0)
        phase = self._plan.pop() if self._plan else ""
        if phase:
            self._last = (phase, now, len(events))
            self.probed_events += len(events)
        if self.pid and (phase.startswith("ahead") or (not phase and self.choice != "inline")):
            self._pause(False)
            return itertools.islice(self._it, outs)
        self._i += outs  # inline: the replay compresses these itself
        if self.pid:
            self._pause(True)
            self._position[0] = self._i
            self._poll(take=False)
        return inline(events) if inline is not None else itertools.repeat(_NONE, outs)

    def _pause(self, stop: bool) -> None:
        """Stop the second process for the probe's inline phases, so that they measure the
        replay alone (a second runnable process takes the replay's CPU share on a loaded machine,
        even when it only compresses), and let it go on for the ahead phases."""
        if stop != self._paused:
            self._paused = stop
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGSTOP if stop else signal.SIGCONT)

    def _decide(self) -> None:
        timed = self._timed
        self._timed = []
        per_round = 2 * (PROBE_BATCHES - 1)
        for r in range(0, len(timed), per_round):
            rnd = timed[r : r + per_round]
            cost = {}
            for phase in ("inline", "ahead"):
                secs = sum(t for p, t, _ in rnd if p == phase)
                n = sum(e for p, _, e in rnd if p == phase)
                cost[phase] = secs / n if n else 0.0
            if cost["inline"] > 0 and cost["ahead"] > 0:
                self.ratios.append(cost["ahead"] / cost["inline"])
        ratio = statistics.median(self.ratios) if self.ratios else 1.0
        self.choice = "ahead" if ratio < PAYS_BELOW else "inline"
        if self.choice == "inline":
            self.stopped_at = self._i
            self.close()

    def summary(self) -> str:
        """What ``--compress-ahead`` did, for the report: what ran, what the probe chose, why."""
        done = f"{self.description}, {self.pages} pages compressed there"
        if not self.probe:
            return "on: " + done + (f", stopped after {self.stopped_at} swap-outs (too few came "
                                    "from it)" if self.stopped_at else "")
        if not self.choice:
            return f"on: {done}; auto: the trace ended during the probe ({self.probed_events} events)"
        why = (f"ahead took {statistics.median(self.ratios):.2f}x the time per event of inline "
               f"(median of {len(self.ratios)} rounds, {self.probed_events} events probed)"
               if self.ratios else "nothing could be timed")
        if self.choice == "ahead":
            return f"on: {done}; auto chose ahead: {why}"
        return (f"auto chose inline after {self.stopped_at} swap-outs: {why}; {self.pages} pages "
                f"were compressed in a second process during the probe")

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
        data = dumps(message[1], protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(_HEAD.pack(len(data), message[0], len(message[1])) + data)
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
