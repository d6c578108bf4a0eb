"""Run a sweep: materialise the traces, key the points, skip the done ones, run the rest.

The sweep's main thread is the only writer of the results file: each finished point becomes one
appended row before the next is looked at. SIGTERM (and Ctrl-C) stop the engine at once and end
the sweep with what is written; ``--resume`` runs every point without an ``ok`` row, so after
any kill each point ends up done exactly once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ghostswap_cli.errors import ToolError
from ghostswap_cli.sweep.spec import Point, Spec, TraceSource, expand_points

__all__ = ("SweepOptions", "SweepSummary", "Interrupted", "prepare_traces", "plan", "run_sweep",
           "make_row", "EXIT_FAILED")

EXIT_FAILED = 1


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclasses.dataclass
class SweepOptions:
    engine: str = "pool"  # pool or dask
    jobs: int | None = None
    scheduler: str | None = None
    ship: bool = False
    resume: bool = False
    overwrite: bool = False
    retries: int = 1
    scratch: str | None = None  # where points make their kernels [default: the worker's TMPDIR]


@dataclasses.dataclass
class SweepSummary:
    spec: str
    results: str
    engine: str = ""
    workers: int = 0
    points: int = 0
    already_done: int = 0
    to_run: int = 0
    ok: int = 0
    failed: int = 0
    other_rows: int = 0  # rows of points not in this grid (an earlier, other grid): kept
    failures: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0
    interrupted: str | None = None

    @property
    def points_per_second(self) -> float | None:
        done = self.ok + self.failed
        return round(done / self.elapsed, 3) if self.elapsed and done else None

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["elapsed"] = round(self.elapsed, 3)
        d["points_per_second"] = self.points_per_second
        d["remaining"] = self.to_run - self.ok - self.failed
        return d


# --- traces --------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def synth_args(source: TraceSource) -> list[str]:
    """The recipe as `trace synth` options: ``working-set = 800`` is ``--working-set 800``,
    ``true`` a bare flag."""
    args: list[str] = []
    for name, value in source.synth:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is True:
                args.append(f"--{name}")
            elif v is not False:
                args += [f"--{name}", str(v)]
    return args


def prepare_traces(spec: Spec, cache: Path) -> dict[str, tuple[str, str]]:
    """name -> (absolute path, sha256). A recipe is made once by ``ghostswap trace synth`` into
    ``cache`` (named by the recipe's hash) and reused by later sweeps."""
    from ghostswap_cli import __version__

    out = {}
    for name, source in spec.traces.items():
        if source.path is not None:
            path = source.path
            if not path.is_file():
                raise ToolError(f"{spec.path}: trace {name}: {path}: No such file or directory")
        else:
            args = synth_args(source)
            recipe = hashlib.sha256(json.dumps([__version__, args]).encode()).hexdigest()[:16]
            path = cache / f"{name}-{recipe}.trace"
            if not path.exists():
                _synthesize(spec, name, args, cache, path)
        try:
            out[name] = (str(path.resolve()), file_sha256(path))
        except OSError as e:
            raise ToolError(f"{path}: {e.strerror}") from None
    return out


def _synthesize(spec: Spec, name: str, args: list[str], cache: Path, path: Path) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ToolError(f"{cache}: {e.strerror}") from None
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{name}-", suffix=".trace")
    os.close(fd)
    try:
        # the command itself, so every option it has (now or later) is a recipe key
        r = subprocess.run(
            [sys.executable, "-m", "ghostswap_cli", "trace", "synth", "-o", tmp, "--no-progress",
             *args], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            msg = (r.stderr.strip().splitlines() or ["failed"])[-1].removeprefix("Error: ")
            raise ToolError(f"{spec.path}: trace {name}: trace synth: {msg}", 2)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- the sweep -----------------------------------------------------------------------------------


def plan(spec: Spec) -> list[Point]:
    return expand_points(spec, prepare_traces(spec, traces_cache(spec)))


def traces_cache(spec: Spec) -> Path:
    return spec.results.with_name(spec.results.name.removesuffix(".jsonl") + ".traces")


def make_row(point: Point, outcome: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"key": point.key, "trace": point.trace}
    row.update(point.axes)
    if "figures" in outcome:
        row["status"] = "ok"
        row.update(outcome["figures"])
    else:
        row["status"] = "failed"
        row["error"] = outcome.get("error") or "failed"
    return row


def make_engine(options: SweepOptions):
    from ghostswap_cli.sweep.engines import DaskEngine, ProcessPoolEngine, default_jobs

    jobs = options.jobs or default_jobs()
    if options.engine == "dask":
        return DaskEngine(options.scheduler, jobs, options.retries, options.ship)
    return ProcessPoolEngine(jobs, options.retries)


def run_sweep(spec: Spec, options: SweepOptions, *,
              on_start: Callable[[SweepSummary], None] | None = None,
              on_row: Callable[[dict[str, Any], SweepSummary], None] | None = None) -> SweepSummary:
    from ghostswap_cli.sweep.results import latest_rows, open_results

    points = plan(spec)
    summary = SweepSummary(spec=str(spec.path), results=str(spec.results), points=len(points))
    engine = make_engine(options)
    with open_results(spec.results, resume=options.resume, overwrite=options.overwrite) as (out, rows):
        latest = latest_rows(rows)
        keys = {p.key for p in points}
        done = {k for k, row in latest.items() if row["status"] == "ok"}
        todo = [p for p in points if p.key not in done]
        for p in todo:
            p.payload["scratch"] = options.scratch  # not an input: the key does not hold it
        summary.already_done = len(points) - len(todo)
        summary.other_rows = len(set(latest) - keys)
        summary.to_run = len(todo)

        def report(point: Point, outcome: dict[str, Any]) -> None:
            row = make_row(point, outcome)
            out.append(row)
            if row["status"] == "ok":
                summary.ok += 1
            else:
                summary.failed += 1
                summary.failures.append({k: v for k, v in row.items() if k != "status"})
            if on_row is not None:
                on_row(row, summary)

        t0 = time.perf_counter()
        with _interruptible():
            try:
                if todo:
                    engine.start()
                    summary.engine = engine.describe()
                    summary.workers = engine.workers
                if on_start is not None:
                    on_start(summary)
                engine.run(todo, report)
            except Interrupted as e:
                summary.interrupted = str(e)
            except KeyboardInterrupt:
                summary.interrupted = "SIGINT"
            finally:
                with _ignoring_term():
                    engine.close()
        summary.elapsed = time.perf_counter() - t0
    return summary


class _interruptible:
    """SIGTERM raises Interrupted in the main thread while the engine runs."""

    def __enter__(self) -> None:
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGTERM, _raise_interrupted)

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


class _ignoring_term:
    """While the workers are stopped, a second SIGTERM must not cut the clean-up short."""

    def __enter__(self) -> None:
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)
