"""ptrace(2) for the recorder: seize a process, stop it briefly, make it run a syscall, resume it.

Only what ``trace record`` needs: ``PTRACE_SEIZE`` (no SIGSTOP games, and exit/exec events, so the
last writes of a program are read before its memory goes away), ``PTRACE_INTERRUPT``, and syscall
injection on x86-64, so that the *target* creates and registers the userfaultfd that
``PAGEMAP_SCAN``'s written-page tracking needs (a userfaultfd always belongs to the caller's mm).

Injection is the technique of CRIU's compel and of gdb's ``call``: with the thread stopped, save its
registers, point ``rip`` at a ``syscall`` instruction already in the process, set the number and
arguments, step from syscall entry to syscall exit with ``PTRACE_SYSCALL``, read ``rax``, restore.
A thread stopped inside a syscall has ``rax`` = ``-ERESTART*``; the kernel would restart it when
returning from the interrupt stop, but it returns from our syscall instead, so the restart is done
here (``arch_do_signal_or_restart()`` in arch/x86/kernel/signal.c) when the registers go back.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import signal
from collections.abc import Sequence

from ghostswap_cli.errors import ToolError

__all__ = (
    "INJECT_ARCH",
    "PtraceError",
    "Tracee",
    "wait_stop",
    "EVENT_EXEC",
    "EVENT_EXIT",
    "EVENT_STOP",
)

PTRACE_CONT = 7
PTRACE_DETACH = 17
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_SYSCALL = 24
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACEEXIT = 0x40
EVENT_EXEC, EVENT_EXIT, EVENT_STOP = 4, 6, 128
_WALL = 0x40000000
# -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK (include/linux/errno.h)
_RESTART = (-512, -513, -514)
_RESTART_BLOCK = -516
_NR_RESTART_SYSCALL = 219
INJECT_ARCH = "x86_64"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


class UserRegs(ctypes.Structure):
    """``struct user_regs_struct`` of arch/x86/include/asm/user_64.h."""

    _fields_ = [(name, ctypes.c_ulonglong) for name in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
        "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds",
        "es", "fs", "gs")]


class PtraceError(ToolError):
    pass


def _ptrace(request: int, pid: int, addr: int = 0, data: int | ctypes.c_void_p = 0) -> int:
    r = _libc.ptrace(request, pid, ctypes.c_void_p(addr), data if isinstance(data, ctypes.c_void_p)
                     else ctypes.c_void_p(data))
    if r == -1:
        e = ctypes.get_errno()
        raise PtraceError(f"ptrace({request:#x}) on process {pid}: {os.strerror(e)}") from None
    return r


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def wait_stop(pid: int, *, nohang: bool = False) -> int | None:
    """waitpid(pid) including ptrace stops; the raw status, or None (nohang, nothing new)."""
    while True:
        try:
            got, status = os.waitpid(pid, _WALL | (os.WNOHANG if nohang else 0))
        except InterruptedError:
            continue
        except ChildProcessError:
            return None
        return status if got else None


def stop_event(status: int) -> int:
    """The PTRACE_EVENT_* of a stop status (0 for a plain signal stop)."""
    return (status >> 16) & 0xFF


class Tracee:
    """A process seized with PTRACE_SEIZE by this thread (ptrace belongs to the tracer thread)."""

    def __init__(self, pid: int, *, exec_exit_events: bool = True) -> None:
        self.pid = pid
        opts = PTRACE_O_TRACESYSGOOD | (PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT if exec_exit_events else 0)
        _ptrace(PTRACE_SEIZE, pid, 0, opts)
        self.attached = True
        self.syscall_insn: int | None = None
        self.deferred_signals: list[int] = []
        # an exec event stop is inside execve(): its syscall-exit stop comes before anything
        self.in_syscall_event = False
        self.stopped_ns = 0  # time the target spent stopped by injections

    def exec_happened(self) -> None:
        """A new program image: the old syscall address means nothing any more."""
        self.in_syscall_event = True
        self.syscall_insn = None

    # --- stopping and resuming --------------------------------------------------------------

    def interrupt(self) -> None:
        """Stop the tracee now (a PTRACE_EVENT_STOP); signals met on the way are deferred."""
        _ptrace(PTRACE_INTERRUPT, self.pid)
        while True:
            status = wait_stop(self.pid)
            if status is None or not os.WIFSTOPPED(status):
                raise PtraceError(f"process {self.pid} exited while stopped for recording")
            if stop_event(status) == EVENT_STOP:
                return
            if stop_event(status) in (EVENT_EXEC, EVENT_EXIT) or os.WSTOPSIG(status) == signal.SIGTRAP | 0x80:
                return  # already in a stop we can work in
            # a signal-delivery stop raced with the interrupt: hold the signal, deliver it on resume
            self.deferred_signals.append(os.WSTOPSIG(status))
            _ptrace(PTRACE_CONT, self.pid, 0, 0)
            _ptrace(PTRACE_INTERRUPT, self.pid)

    def resume(self, sig: int = 0) -> None:
        _ptrace(PTRACE_CONT, self.pid, 0, sig)
        for s in self.deferred_signals:
            os.kill(self.pid, s)
        self.deferred_signals.clear()

    def listen(self) -> None:
        """Leave a group-stopped tracee stopped (SIGSTOP/SIGTSTP) but keep seeing it."""
        _ptrace(PTRACE_LISTEN, self.pid)

    def detach(self, *, stopped: bool = False) -> None:
        """Let the tracee go; PTRACE_DETACH works only in a ptrace stop, so stop it first
        unless it is (``stopped``)."""
        if self.attached:
            with contextlib.suppress(PtraceError):
                if not stopped:
                    self.interrupt()
                _ptrace(PTRACE_DETACH, self.pid, 0, 0)
            for s in self.deferred_signals:
                with contextlib.suppress(OSError):
                    os.kill(self.pid, s)
            self.deferred_signals.clear()
            self.attached = False

    # --- registers and memory ---------------------------------------------------------------

    def get_regs(self) -> UserRegs:
        regs = UserRegs()
        _ptrace(PTRACE_GETREGS, self.pid, 0, ctypes.c_void_p(ctypes.addressof(regs)))
        return regs

    def set_regs(self, regs: UserRegs) -> None:
        _ptrace(PTRACE_SETREGS, self.pid, 0, ctypes.c_void_p(ctypes.addressof(regs)))

    def read(self, addr: int, n: int) -> bytes:
        fd = os.open(f"/proc/{self.pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.pread(fd, n, addr)
        finally:
            os.close(fd)

    def write(self, addr: int, data: bytes) -> None:
        fd = os.open(f"/proc/{self.pid}/mem", os.O_RDWR | os.O_CLOEXEC)
        try:
            if os.pwrite(fd, data, addr) != len(data):
                raise PtraceError(f"short write into process {self.pid} at 0x{addr:x}")
        finally:
            os.close(fd)

    def _find_syscall_insn(self, regs: UserRegs) -> int:
        """An address holding ``0f 05`` (syscall) in the tracee: just behind rip when it was
        stopped in a syscall, else the first one in an executable mapping ([vdso] first)."""
        if self.syscall_insn is not None:
            return self.syscall_insn
        if _signed(regs.orig_rax) >= 0 and regs.rip >= 2:
            try:
                if self.read(regs.rip - 2, 2) == b"\x0f\x05":
                    self.syscall_insn = regs.rip - 2
                    return self.syscall_insn
            except OSError:
                pass
        from ghostswap_cli.replay.capture import read_maps

        maps = [m for m in read_maps(self.pid) if m.perms[2:3] == "x"]
        maps.sort(key=lambda m: m.path != "[vdso]")
        for m in maps:
            try:
                data = self.read(m.start, min(m.end - m.start, 1 << 20))
            except OSError:
                continue
            i = data.find(b"\x0f\x05")
            if i >= 0:
                self.syscall_insn = m.start + i
                return self.syscall_insn
        raise PtraceError(f"no syscall instruction found in process {self.pid}")

    def _step_syscall(self) -> None:
        """PTRACE_SYSCALL until a syscall stop; signals met meanwhile are deferred."""
        while True:
            _ptrace(PTRACE_SYSCALL, self.pid, 0, 0)
            status = wait_stop(self.pid)
            if status is None or not os.WIFSTOPPED(status):
                raise PtraceError(f"process {self.pid} exited during a recording syscall")
            sig = os.WSTOPSIG(status)
            if sig == signal.SIGTRAP | 0x80:
                return
            if stop_event(status) == 0 and sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL):
                # our instruction address is wrong (a stale one after exec): never loop on it
                self.syscall_insn = None
                raise PtraceError(f"an injected syscall faulted in process {self.pid} ({signal.Signals(sig).name})")
            if stop_event(status) == 0 and sig != signal.SIGTRAP:
                self.deferred_signals.append(sig)

    def syscalls(self, calls: Sequence[tuple[int, Sequence[int]]], *,
                 scratch: bytes = b"") -> tuple[list[int], int]:
        """Run ``calls`` (number, args) in the stopped tracee, in order; their return values
        (negative errno on failure) and the address where ``scratch`` was put for them (below
        the stack's red zone). Registers and the scratch bytes are put back afterwards."""
        if platform.machine() != INJECT_ARCH:
            raise PtraceError(f"syscall injection is implemented for {INJECT_ARCH} only")
        if self.in_syscall_event:
            self._step_syscall()
            self.in_syscall_event = False
        saved = self.get_regs()
        insn = self._find_syscall_insn(saved)
        addr = 0
        old_scratch = b""
        if scratch:
            addr = (saved.rsp - 128 - len(scratch)) & ~0xF
            old_scratch = self.read(addr, len(scratch))
            self.write(addr, scratch)
        results: list[int] = []
        try:
            for nr, args in calls:
                regs = UserRegs.from_buffer_copy(saved)
                regs.rip, regs.rax, regs.orig_rax = insn, nr, (1 << 64) - 1
                for name, v in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), args, strict=False):
                    setattr(regs, name, v & ((1 << 64) - 1))
                self.set_regs(regs)
                self._step_syscall()  # entry
                self._step_syscall()  # exit
                results.append(_signed(self.get_regs().rax))
        finally:
            if old_scratch:
                self.write(addr, old_scratch)
            restore = UserRegs.from_buffer_copy(saved)
            if _signed(saved.orig_rax) >= 0:
                if _signed(saved.rax) in _RESTART:
                    restore.rax, restore.rip = saved.orig_rax, saved.rip - 2
                elif _signed(saved.rax) == _RESTART_BLOCK:
                    restore.rax, restore.rip = _NR_RESTART_SYSCALL, saved.rip - 2
                restore.orig_rax = (1 << 64) - 1
            self.set_regs(restore)
        return results, addr


def errno_name(ret: int) -> str:
    return os.strerror(-ret) if ret < 0 else "ok"

