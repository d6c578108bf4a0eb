"""The process ``trace record`` observes: started by us (``-- COMMAND``) or attached (``--pid``).

A started command is forked, stops itself before exec, is seized with ptrace and let go, so the
recorder sees it from its first instruction (``PTRACE_EVENT_EXEC``) and gets a last look at its
memory when it exits (``PTRACE_EVENT_EXIT`` comes before ``exit_mm()``, so /proc/PID/mem still
reads). An attached process is seized the same way when ptrace allows; if not (already traced,
say) recording goes on without exit events and without the sources that need ptrace.

While seized, every signal sent to the target stops it until the recorder passes it on, so the
recorder waits on SIGCHLD (``signal.set_wakeup_fd``) and passes signals on at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import select
import signal
import struct
import time
from collections.abc import Iterator, Sequence

from ghostswap_cli.errors import ToolError
from ghostswap_cli.replay.capture import PM_PRESENT, PM_SWAP, MapEntry, read_maps, select_mappings
from ghostswap_cli.replay.pagemap_scan import (
    PAGE_IS_PFNZERO,
    PAGE_IS_PRESENT,
    PAGE_IS_SWAPPED,
    pagemap_scan,
    pagemap_scan_supported,
)
from ghostswap_cli.replay.ptrace import (
    EVENT_EXEC,
    EVENT_EXIT,
    EVENT_STOP,
    PtraceError,
    Tracee,
    stop_event,
    wait_stop,
)

__all__ = ("Presence", "Target", "TargetEvent")

PM_PFN_MASK = (1 << 55) - 1
_PM_CHUNK = 4096  # pagemap words per read


@dataclasses.dataclass
class Presence:
    """Which pages of the selected mappings are in memory now (``zero``: mapped to the zero
    page, never written), which are swapped out; ``pfn`` only where pagemap shows PFNs (root)."""

    present: set[int]
    swapped: set[int]
    zero: set[int]


@dataclasses.dataclass(frozen=True)
class TargetEvent:
    kind: str  # "exit" (about to exit, memory still there), "exec", "gone"
    status: int | None = None


class Target:
    """A live process and the /proc files recording reads."""

    def __init__(self, pid: int, tracee: Tracee | None, child: bool, ptrace_error: str = "") -> None:
        self.pid = pid
        self.tracee = tracee
        self.child = child
        self.ptrace_error = ptrace_error
        self.page_size = os.sysconf("SC_PAGE_SIZE")
        self.started_ns = time.monotonic_ns()
        self.ended_ns: int | None = None
        self.exit_status: int | None = None  # as a shell shows it: code, or 128 + signal
        self.gone = False
        self.exiting = False
        self._at_event = tracee is not None  # held in the exec or attach stop until resumed
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_wakeup = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        self._old_chld = signal.signal(signal.SIGCHLD, lambda *_: None)
        self.mem = -1
        self.pagemap = -1
        self.open_files()
        ok, self.scan_reason = pagemap_scan_supported(self.pagemap) if self.pagemap >= 0 else (False, "")
        self.has_scan = ok

    # --- starting and attaching ---------------------------------------------------------------

    @classmethod
    def start(cls, argv: Sequence[str], *, trace: bool = True) -> Target:
        """Fork and exec ``argv``; seized before exec when ``trace``. ToolError (exit 127 or
        126, as a shell says) when it cannot be run."""
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # the child: stop so the parent can seize it, then exec
            try:
                os.close(r)
                if trace:
                    os.kill(os.getpid(), signal.SIGSTOP)
                os.execvp(argv[0], list(argv))
            except OSError as e:
                os.write(w, str(e.errno).encode())
            finally:
                os._exit(127)
        os.close(w)
        tracee, why = None, ""
        if trace:
            os.waitpid(pid, os.WUNTRACED)
            try:
                tracee = Tracee(pid)
            except PtraceError as e:
                why = str(e)
            os.kill(pid, signal.SIGCONT)
        if tracee is not None:  # on to the exec event: the new mm exists, nothing ran yet
            while True:
                status = wait_stop(pid)
                if status is None or not os.WIFSTOPPED(status):
                    cls._exec_failed(r, argv, pid, reaped=True)
                    raise ToolError(f"{argv[0]}: exited before it could be recorded")
                event = stop_event(status)
                if event == EVENT_EXEC:
                    tracee.exec_happened()
                    break
                # the seize and SIGCONT stops, or a signal for it: let it go on
                tracee.resume(os.WSTOPSIG(status) if event == 0 else 0)
        cls._exec_failed(r, argv, pid, reaped=False)
        target = cls(pid, tracee, child=True, ptrace_error=why)
        return target

    @staticmethod
    def _exec_failed(r: int, argv: Sequence[str], pid: int, *, reaped: bool) -> None:
        """Raise what exec said if it failed (the child wrote errno to the pipe)."""
        failed = b""
        while chunk := os.read(r, 64):
            failed += chunk
        os.close(r)
        if failed:
            code = int(failed)
            if not reaped:
                os.waitpid(pid, 0)
            raise ToolError(f"{argv[0]}: {os.strerror(code)}", 127 if code == errno.ENOENT else 126)

    @classmethod
    def attach(cls, pid: int, *, trace: bool = True) -> Target:
        if not os.path.exists(f"/proc/{pid}"):
            raise ToolError(f"no process with PID {pid}")
        if pid == os.getpid():
            raise ToolError("cannot record the recorder itself")
        tracee, why = None, ""
        if trace:
            try:
                tracee = Tracee(pid)
                tracee.interrupt()  # a known stop, to work in before resuming it
            except PtraceError as e:
                tracee, why = None, str(e)
        return cls(pid, tracee, child=False, ptrace_error=why)

    def open_files(self) -> None:
        for fd in (self.mem, self.pagemap):
            if fd >= 0:
                os.close(fd)
        try:
            self.mem = os.open(f"/proc/{self.pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ToolError(f"no process with PID {self.pid}") from None
        except PermissionError:
            raise ToolError(f"cannot read the memory of process {self.pid}: permission denied (it "
                            "needs ptrace access: root, or the same user with "
                            "kernel.yama.ptrace_scope=0)") from None
        try:
            self.pagemap = os.open(f"/proc/{self.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise ToolError(f"cannot open /proc/{self.pid}/pagemap: {e.strerror}") from None

    # --- running ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def stopped(self) -> Iterator[Tracee]:
        """The target stopped (PTRACE_INTERRUPT) for the block, unless it already is (exec or
        exit event); time stopped is added to ``tracee.stopped_ns``."""
        if self.tracee is None:
            raise PtraceError("the target is not traced")
        t0 = time.monotonic_ns()
        already = self.exiting or self._at_event
        if not already:
            self.tracee.interrupt()
        try:
            yield self.tracee
        finally:
            if not already:
                self.tracee.resume()
            self.tracee.stopped_ns += time.monotonic_ns() - t0

    def resume_from_event(self) -> None:
        """Let the target go on from the exec stop (or the attach stop) it is held in."""
        if self.tracee is not None and self._at_event:
            self._at_event = False
            self.tracee.resume()

    def wait(self, timeout: float) -> TargetEvent | None:
        """Sleep up to ``timeout`` s or until the target does something the recorder must
        handle: ``exit`` (stopped before exit, memory readable), ``exec``, ``gone``."""
        if self.gone:
            return TargetEvent("gone", self.exit_status)
        end = time.monotonic() + max(timeout, 0.0)
        while True:
            ev = self._poll()
            if ev is not None:
                return ev
            left = end - time.monotonic()
            if left <= 0:
                return None
            if self.tracee is None and not self.child:
                # not our child nor our tracee: no SIGCHLD comes, look every 10 ms
                time.sleep(min(left, 0.01))
                continue
            with contextlib.suppress(InterruptedError):
                select.select([self._wake_r], [], [], left)
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_r, 512):
                    pass

    def _poll(self) -> TargetEvent | None:
        if self.tracee is None and not self.child:
            if not os.path.exists(f"/proc/{self.pid}") or self._zombie():
                return self._ended(None)
            return None
        while True:
            status = wait_stop(self.pid, nohang=True)
            if status is None:
                if not self.child and self.tracee is not None and not os.path.exists(f"/proc/{self.pid}"):
                    return self._ended(None)
                return None
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                return self._ended(status)
            if self.tracee is None:
                continue
            event = stop_event(status)
            if event == EVENT_EXIT:
                self.exiting = True
                return TargetEvent("exit")
            if event == EVENT_EXEC:
                self._at_event = True
                self.tracee.exec_happened()
                return TargetEvent("exec")
            if event == EVENT_STOP:
                sig = os.WSTOPSIG(status)
                if sig in (signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
                    self.tracee.listen()  # a group stop: it stays stopped, as without us
                else:
                    self.tracee.resume()
                continue
            self.tracee.resume(os.WSTOPSIG(status))  # a signal for the target: pass it on

    def _zombie(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
        except OSError:
            return True

    def _ended(self, status: int | None) -> TargetEvent:
        self.gone = True
        self.ended_ns = time.monotonic_ns()
        if status is not None:
            self.exit_status = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                                else 128 + os.WTERMSIG(status))
        if self.tracee is not None:
            self.tracee.attached = False
        return TargetEvent("gone", self.exit_status)

    def let_exit(self) -> None:
        """Resume the target from its exit stop and collect it."""
        if self.tracee is not None and self.exiting and not self.gone:
            with contextlib.suppress(PtraceError):
                self.tracee.resume()
            while not self.gone:
                if self.wait(1.0) is None and not self.child:
                    break

    def abandon(self) -> None:
        """A started command that recording could not begin on never ran a user instruction:
        kill it rather than leave it running untraced."""
        if self.child and not self.gone and self._at_event:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not self.gone and time.monotonic() < deadline:
                ev = self.wait(1.0)
                if ev is not None and ev.kind == "exit" and self.tracee is not None:
                    with contextlib.suppress(PtraceError):
                        self.tracee.resume()  # the exit stop a SIGKILL still makes

    def release(self) -> None:
        """Stop observing: detach (the target runs on untouched) and restore our signals."""
        if self.tracee is not None and not self.gone:
            self.tracee.detach(stopped=self._at_event or self.exiting)
            self._at_event = False
        for fd in (self.mem, self.pagemap):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.mem = self.pagemap = -1
        signal.set_wakeup_fd(self._old_wakeup)
        signal.signal(signal.SIGCHLD, self._old_chld)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # --- memory -----------------------------------------------------------------------------

    def mappings(self, maps_filter: str = "anon") -> list[MapEntry]:
        try:
            maps = read_maps(self.pid)
        except ToolError:
            return []
        chosen, _ = select_mappings(maps, maps_filter)
        return chosen

    def presence(self, ranges: Sequence[tuple[int, int]]) -> Presence:
        """Present, swapped and zero-page VPNs in ``ranges``: one PAGEMAP_SCAN per range where
        the kernel has it, else pagemap words."""
        ps = self.page_size
        present: set[int] = set()
        swapped: set[int] = set()
        zero: set[int] = set()
        for start, end in ranges:
            if self.has_scan:
                try:
                    for s, e, cat in pagemap_scan(
                            self.pagemap, start, end,
                            category_anyof_mask=PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                            return_mask=PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO):
                        vpns = range(s // ps, e // ps)
                        if cat & PAGE_IS_PRESENT:
                            present.update(vpns)
                            if cat & PAGE_IS_PFNZERO:
                                zero.update(vpns)
                        else:
                            swapped.update(vpns)
                except OSError:
                    continue  # the mapping went away meanwhile
                continue
            for vpn, word in self.pagemap_words(start // ps, end // ps):
                if word & PM_PRESENT:
                    present.add(vpn)
                elif word & PM_SWAP:
                    swapped.add(vpn)
        return Presence(present, swapped, zero)

    def pagemap_words(self, first: int, last: int) -> Iterator[tuple[int, int]]:
        """(vpn, pagemap word) for VPNs in [first, last)."""
        for chunk in range(first, last, _PM_CHUNK):
            n = min(_PM_CHUNK, last - chunk)
            try:
                raw = os.pread(self.pagemap, 8 * n, 8 * chunk)
            except OSError:
                return
            yield from zip(range(chunk, chunk + len(raw) // 8),
                           struct.unpack(f"<{len(raw) // 8}Q", raw), strict=True)

    def read_pages(self, vpns: Sequence[int]) -> dict[int, bytes]:
        """Contents of ``vpns`` (sorted) from /proc/PID/mem, reading runs at once; pages that
        cannot be read are left out."""
        from ghostswap_cli.replay.capture import _read_pages

        ps = self.page_size
        out: dict[int, bytes] = {}
        i = 0
        while i < len(vpns):
            j = i + 1
            while j < len(vpns) and vpns[j] == vpns[j - 1] + 1 and j - i < 256:
                j += 1
            try:
                pages = _read_pages(self.mem, vpns[i] * ps, j - i, ps)
            except ToolError:
                pages = [None] * (j - i)
            for vpn, page in zip(vpns[i:j], pages, strict=True):
                if page is not None:
                    out[vpn] = page
            i = j
        return out
