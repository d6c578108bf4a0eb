"""Where points run: a local process pool (the default) or a Dask distributed cluster.

Both take the same points and hand back the same ``run_point`` outcomes, in completion order,
to a ``report(point, outcome)`` callback running in the sweep's main thread (which appends the
row). A point whose worker dies is run again up to ``retries`` times, then reported failed.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ghostswap_cli.errors import ToolError
from ghostswap_cli.sweep.point import init_worker, run_point, run_point_shipped
from ghostswap_cli.sweep.spec import Point

__all__ = ("Report", "ProcessPoolEngine", "DaskEngine", "DASK_MISSING", "default_jobs")

Report = Callable[[Point, dict[str, Any]], None]
DASK_MISSING = "--engine dask needs Dask: pip install 'ghostswap[dask]'"
WORKER_DIED = "the worker process running it died (killed, or out of memory)"


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ProcessPoolEngine:
    """``--jobs N`` worker processes on this machine (``spawn``ed: no state inherited)."""

    name = "pool"
    run_point = staticmethod(run_point)  # what a worker runs (a benchmark times it)

    def __init__(self, jobs: int, retries: int = 1) -> None:
        self.workers = jobs
        self.retries = retries
        self.executor: ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"process pool of {self.workers} worker{'s' if self.workers != 1 else ''}"

    def start(self) -> None:
        self.executor = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker)

    def run(self, points: list[Point], report: Report) -> None:
        if self.executor is None:
            self.start()
        pending = collections.deque(points)
        attempts: collections.Counter[str] = collections.Counter()
        in_flight: dict[Future, Point] = {}
        while pending or in_flight:
            # a few queued per worker: enough to keep them busy, few to lose on a kill
            while pending and len(in_flight) < 2 * self.workers:
                point = pending.popleft()
                in_flight[self.executor.submit(self.run_point, point.payload)] = point
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                broken |= self._collect(future, in_flight.pop(future), attempts, pending, report)
            if broken:
                # every future of a broken pool fails the same way: collect them, start afresh
                for future in list(in_flight):
                    wait([future])
                    self._collect(future, in_flight.pop(future), attempts, pending, report)
                self.executor.shutdown(wait=True)
                self.start()

    def _collect(self, future: Future, point: Point, attempts: collections.Counter[str],
                 pending: collections.deque[Point], report: Report) -> bool:
        exc = future.exception()
        if exc is None:
            report(point, future.result())
            return False
        if isinstance(exc, BrokenProcessPool):
            attempts[point.key] += 1
            if attempts[point.key] <= self.retries:
                pending.appendleft(point)
            else:
                report(point, {"error": WORKER_DIED})
            return True
        report(point, {"error": f"{type(exc).__name__}: {exc}"})
        return False

    def close(self) -> None:
        """Stop at once: queued points are dropped, running ones killed (they run again on
        --resume)."""
        ex = self.executor
        if ex is None:
            return
        self.executor = None
        terminate = getattr(ex, "terminate_workers", None)  # Python 3.14
        if terminate is not None:
            terminate()
        else:
            for process in list((getattr(ex, "_processes", None) or {}).values()):
                process.terminate()
        ex.shutdown(wait=True, cancel_futures=True)


class DaskEngine:
    """The same points on a Dask distributed cluster: an existing one at ``scheduler``, or a
    LocalCluster of ``jobs`` single-threaded worker processes."""

    name = "dask"
    run_point = staticmethod(run_point)

    def __init__(self, scheduler: str | None, jobs: int, retries: int = 1, ship: bool = False) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ToolError(DASK_MISSING) from None
        self.scheduler = scheduler
        self.jobs = jobs
        self.retries = retries
        self.ship = ship
        self.client: Any = None
        self.cluster: Any = None
        self.workers = 0
        self.futures: list[Any] = []
        self.scratch: str | None = None
        self.config: Any = None

    def describe(self) -> str:
        where = f"scheduler {self.scheduler}" if self.scheduler else "a LocalCluster"
        return f"Dask, {where}, {self.workers} worker{'s' if self.workers != 1 else ''}"

    def start(self) -> None:
        from distributed import Client, LocalCluster

        try:
            if self.scheduler:
                import dask

                # dask's own connect timeout (distributed.comm.timeouts.connect), as its CLI uses
                self.client = Client(self.scheduler,
                                     timeout=dask.config.get("distributed.comm.timeouts.connect"))
            else:
                # the workers' scratch space, removed with the cluster
                self.scratch = tempfile.mkdtemp(prefix="ghostswap-dask-")
                import dask

                self.config = dask.config.set({"temporary-directory": self.scratch})
                # dashboard_address=None still takes :8787, with a warning when it is in use:
                # a free local port never warns
                self.cluster = LocalCluster(
                    n_workers=self.jobs, threads_per_worker=1, processes=True,
                    dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
                    local_directory=self.scratch)
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as e:
            self.close()
            where = self.scheduler or "LocalCluster"
            raise ToolError(f"{where}: cannot reach the Dask scheduler: {e}") from None
        self.workers = len(self.client.scheduler_info().get("workers", {}))

    def run(self, points: list[Point], report: Report) -> None:
        from distributed import as_completed

        if self.client is None:
            self.start()
        if not points:
            return
        client = self.client
        keys = [f"ghostswap-point-{p.key}" for p in points]
        payloads = [p.payload for p in points]
        if self.ship:
            shipped: dict[str, Any] = {}
            for p in points:
                trace = p.payload["trace"]
                if trace["sha256"] not in shipped:
                    with open(trace["path"], "rb") as f:
                        data = f.read()
                    # broadcast: each worker gets the bytes once, whatever number of points
                    [shipped[trace["sha256"]]] = client.scatter([data], broadcast=True, hash=True)
            datas = [shipped[p.payload["trace"]["sha256"]] for p in points]
            self.futures = client.map(run_point_shipped, payloads, datas, key=keys,
                                      retries=self.retries, pure=False)
        else:
            self.futures = client.map(self.run_point, payloads, key=keys, retries=self.retries,
                                      pure=False)
        by_key = dict(zip(keys, points, strict=True))
        for future in as_completed(self.futures):
            point = by_key[future.key]
            if future.status == "finished":
                outcome = future.result()
            else:
                exc = future.exception()
                outcome = {"error": f"{type(exc).__name__}: {exc}"}
            future.release()
            report(point, outcome)
        self.futures = []

    def close(self) -> None:
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        if client is not None:
            if self.futures:
                client.cancel(self.futures)
                self.futures = []
            client.close()
        if cluster is not None:
            cluster.close()
        if self.config is not None:
            self.config.__exit__(None, None, None)
            self.config = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
