"""One grid point, run in-process by whatever worker picked it up.

A point gets a fresh temporary directory: in ``replay`` mode a simulated kernel booted with the
point's machine settings, its /sys writes, a ghost swapfile (priority 10) and any real swapfiles
(priorities 5, 4, ...), then ``replay_trace``; in ``designs`` mode ``run_lab`` with the point's
sizes, limits and parameters (the lab makes its own throwaway kernel). Nothing of the user's
state is read or written, so the same inputs give the same figures on any engine.

``run_point`` never raises for a failed point: it returns ``{"error": one line}``, so one bad
point never stops the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

from ghostswap_cli.errors import GhostswapError, KernelError, ToolError

__all__ = ("run_point", "run_point_shipped", "init_worker", "DEFAULT_GHOST_SIZE", "GHOST_PRIO")

DEFAULT_GHOST_SIZE = 1 << 30  # only a header page on disk: enough slots for any small trace
GHOST_PRIO = 10
REAL_PRIO = 5
PR_SET_PDEATHSIG = 1


def init_worker() -> None:
    """Pool workers: leave Ctrl-C to the sweep, clean up on SIGTERM, and get SIGTERM when the
    sweep dies (even by SIGKILL), so no orphan keeps replaying."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_term)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() == 1:  # the sweep died before prctl: nobody wants our results
            raise SystemExit(1)


_scratch: set[str] = set()  # temporary directories of the point running now


def _exit_on_term(_signum: int, _frame: object) -> None:
    # not SystemExit: the pool's worker loop would catch it, send it back as the point's result
    # and wait for the next point; remove what the point made and go
    import shutil

    for path in list(_scratch):
        shutil.rmtree(path, ignore_errors=True)
    os._exit(128 + signal.SIGTERM)


@contextlib.contextmanager
def scratch_dir(prefix: str, folder: str | None = None):
    """A temporary directory that a SIGTERM at any moment still removes: it is registered
    before anyone writes to it and forgotten only once it is gone."""
    import shutil

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        tmp = tempfile.mkdtemp(prefix=prefix, dir=folder)
        _scratch.add(tmp)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        _scratch.discard(tmp)


def run_point(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one point; ``{"figures": {...}}`` or ``{"error": "..."}``."""
    return _run(payload, Path(payload["trace"]["path"]))


def run_point_shipped(payload: dict[str, Any], data: bytes) -> dict[str, Any]:
    """As run_point, with the trace's bytes (sent once per worker) instead of its path."""
    try:
        path = _cached_trace(data, payload["trace"]["sha256"])
    except OSError as e:
        return {"error": f"cannot store the shipped trace: {e.strerror}"}
    return _run(payload, path)


def _cached_trace(data: bytes, digest: str) -> Path:
    """The shipped trace as a file, written once per worker machine (atomically)."""
    folder = Path(tempfile.gettempdir()) / f"ghostswap-sweep-{os.getuid()}" / "traces"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{digest}.trace"
    if not path.exists():
        if hashlib.sha256(data).hexdigest() != digest:
            raise OSError(0, "the shipped bytes do not match the trace's hash")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".trace-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return path


def _run(payload: dict[str, Any], trace: Path) -> dict[str, Any]:
    try:
        if payload["mode"] == "replay":
            figures = replay_point(payload, trace)
        else:
            figures = designs_point(payload, trace)
    except GhostswapError as e:
        return {"error": str(e)}
    except OSError as e:
        name = f"{e.filename}: " if e.filename else ""
        return {"error": f"{name}{e.strerror or e}"}
    except Exception as e:  # a bug in one point must not stop the sweep: report it
        return {"error": f"{type(e).__name__}: {e}"}
    return {"figures": figures}


def _settings(payload: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(name, kind, value) for name, kind, value in payload["settings"]]


def pick(table: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The named figures of a flat or one-level-nested report; a name it lacks is null."""
    out = {}
    for name in names:
        head, _, tail = name.partition(".")
        value = table.get(head)
        if tail:
            value = value.get(tail) if isinstance(value, dict) else None
        out[name] = value
    return out


def replay_point(payload: dict[str, Any], trace: Path) -> dict[str, Any]:
    from ghostswap_cli.cli.demo import make_swapfile
    from ghostswap_cli.codec.trace import open_trace
    from ghostswap_cli.kernel.machine import open_kernel, reset_state
    from ghostswap_cli.kernel.params import GHOSTSWAP, ZSWAP
    from ghostswap_cli.kernel.procfs import write_file
    from ghostswap_cli.kernel.swapfile import sys_swapon
    from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace
    from ghostswap_cli.sweep.spec import sysfs_text
    from ghostswap_cli.uapi import SWAP_FLAG_PREFER

    settings = _settings(payload)
    machine = {name: str(value) for name, kind, value in settings if kind == "machine"}
    writes: list[tuple[str, str]] = []
    ghost_size = DEFAULT_GHOST_SIZE
    real_sizes: list[int] = []
    for name, kind, value in settings:
        if kind == "compressor":
            writes.insert(0, (ZSWAP + "compressor", value))  # before a level is checked
        elif kind == "level":
            writes.append((GHOSTSWAP + "compressor_level", str(value)))
        elif kind == "max_pool_percent":
            writes.append((ZSWAP + "max_pool_percent", str(value)))
        elif kind == "sysfs":
            writes.append((name, sysfs_text(value)))
        elif kind == "ghost_size":
            ghost_size = value
        elif kind == "real_size":
            real_sizes = list(value)
    with scratch_dir("ghostswap-sweep-", payload.get("scratch")) as tmp:
        state = Path(tmp) / "state"
        reset_state(state, machine, keep_machine=False)
        with open_kernel(state) as k:
            for path, text in writes:
                try:
                    write_file(k, path, text)
                except KernelError as e:
                    raise ToolError(f"write error: {path}: {e.strerror}") from None
            ps = k.page_size
            areas = []
            if ghost_size:
                areas.append((Path(tmp) / "ghost.swap", ghost_size, True, GHOST_PRIO))
            for i, size in enumerate(real_sizes):
                areas.append((Path(tmp) / f"real{i}.swap", size, False, REAL_PRIO - i))
            for path, size, ghost, prio in areas:
                make_swapfile(path, size, ps, ghost=ghost, label=path.stem)
                try:
                    sys_swapon(k, str(path), SWAP_FLAG_PREFER | prio)
                except KernelError as e:
                    raise ToolError(f"swapon {path.name} ({size} bytes): {e.strerror}") from None
            with open_trace(trace, allow_dirs=payload["allow_dirs"], page_size=ps) as reader:
                report = replay_trace(k, reader, ReplayOptions(compress_ahead="off"))
    return pick(report.to_json(), payload["figures"])


def designs_point(payload: dict[str, Any], trace: Path) -> dict[str, Any]:
    from ghostswap_cli.designs.lab import LabOptions, run_lab

    options = LabOptions()
    params: dict[str, int] = {}
    design = None
    for name, kind, value in _settings(payload):
        if kind == "design":
            design = value
        elif kind == "compressor":
            options.compressor = value
        elif kind == "ghost_size":
            options.ghost_size = None if value == "auto" else value
        elif kind == "real_size":
            options.real_sizes = tuple(value)
        elif kind == "pool_limit":
            options.pool_limit = value
        elif kind == "max_pool_percent":
            options.max_pool_percent = value
        elif kind == "lab":
            params[name] = value
    options.designs = (design,)
    options.params = params
    options.allow_dirs = payload["allow_dirs"]
    with scratch_dir("ghostswap-sweep-", payload.get("scratch")) as tmp:
        saved, tempfile.tempdir = tempfile.tempdir, tmp  # the lab's own scratch goes in ours
        try:
            report = run_lab(trace, options)
        finally:
            tempfile.tempdir = saved
    table = report.to_json()
    table.update(report.designs[design])
    return pick(table, payload["figures"])


