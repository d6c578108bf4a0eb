"""ghostswap benchmarks: every figure is a ratio measured in the same run.

    python -m benchmarks [--quick] [--only NAME,...] [--reps N] [--work DIR] [--no-write]

Figures (see benchmarks/RESULTS.md for the last run; the whole run takes about 10 minutes on
a quiet 2-CPU machine, --quick about 2):

replay
    200k and 1M events (N/2 swap-outs of real pages from files on this machine mixed with zero
    and random pages, then N/2 swap-ins) against the raw loop that compresses and decompresses
    the same pages with the same compressor, lz4 and zstd level 1, in every mode (default
    auto, inline, inline with batch compression, compress-ahead); for 200k events also the
    floor loop and a state directory on tmpfs. Medians of --reps.
memory
    1M pages stored in zswap: process memory beyond the sum of compressed payloads, per page,
    and where it goes.
scale
    swapon of ghost swapfiles declaring 1 GiB, 1 TiB and 16 TiB (time and state growth);
    /proc/swaps with MAX_SWAPFILES devices; start-up of --help, cat /proc/swaps, swapshow and
    swapon --show (median of 10 runs); a 10M-event replay with a bounded working set against a
    1M-event one (time, peak RSS).
access
    accesses/s of an access replay through the reclaim model, with reclaim on and without.

The profile of a replay (cProfile, top functions) is ``python -m benchmarks.profile``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ghostswap_cli.replay import compress_ahead
from ghostswap_cli.replay.realpages import machine_pages, mixed

HERE = Path(__file__).resolve().parent
PAGE = 4096


# --- machine ----------------------------------------------------------------------------------
def machine_info() -> dict[str, str]:
    import click
    import construct
    import lz4
    import zstandard

    from ghostswap_cli import __version__

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // (1 << 20)} GiB"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cpus": str(os.cpu_count()),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "ghostswap": __version__,
        "lz4": lz4.__version__,
        "zstandard": zstandard.__version__,
        "click": click.__version__,
        "construct": construct.__version__,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# --- pages and traces -------------------------------------------------------------------------
def write_out_in_trace(path: Path, pages: list[bytes], ins: bool = True) -> Path:
    from ghostswap_cli.codec.trace import open_trace_writer

    with open_trace_writer(path, format="binary", page_size=PAGE) as w:
        for i, p in enumerate(pages):
            w.out(0x10000 + i, p)
        if ins:
            for i in range(len(pages)):
                w.in_(0x10000 + i)
    return path


def fresh_machine(state: Path, work: Path, *, ram: int = 64 << 30, ghost_size: int = 1 << 30,
                  name: str = "ghost.swap") -> None:
    from ghostswap_cli.cli.demo import make_swapfile
    from ghostswap_cli.kernel.machine import open_kernel, reset_state
    from ghostswap_cli.kernel.swapfile import sys_swapon

    shutil.rmtree(state, ignore_errors=True)
    reset_state(state, {"ram": str(ram), "backing_rotational": "0", "backing_discard": "0"},
                keep_machine=False)
    ghost = work / name
    ghost.unlink(missing_ok=True)
    make_swapfile(ghost, ghost_size, PAGE, ghost=True, label="bench")
    with open_kernel(state) as k:
        sys_swapon(k, str(ghost), 0)


def raw_loop(pages: list[bytes], compressor: str, level: int | None) -> float:
    from ghostswap_cli.kernel.compressors import new_compressor

    c = new_compressor(compressor, level)
    comp, dec = c.compress, c.decompress
    gc.collect()
    t = time.perf_counter()
    for p in pages:
        dec(comp(p), PAGE)
    return time.perf_counter() - t


def parallel_efficiency(pages: list[bytes], compressor: str, level: int | None) -> float:
    """Throughput of two processes compressing at once over twice that of one alone: 1.0 on
    two real cores, less where the two CPUs share one core's execution units (SMT siblings)."""
    from ghostswap_cli.kernel.compressors import new_compressor

    def work() -> None:
        comp = new_compressor(compressor, level).compress
        for p in pages:
            comp(p)

    t = time.perf_counter()
    work()
    alone = time.perf_counter() - t
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the second worker
        try:
            work()
        finally:
            os._exit(0)
    work()
    os.waitpid(pid, 0)
    together = time.perf_counter() - t
    return alone / together


def floor_loop(trace: Path, compressor: str, level: int | None, work: Path) -> float:
    """What any replayer in Python must do, and nothing more: read the trace, CRC32 each page
    out and in, compress and decompress it, and keep the bytes in the pool arena. The gap
    between this and the replay is the kernel's bookkeeping (slots, page table, zswap entries,
    LRU, counters)."""
    import zlib

    from ghostswap_cli.codec.trace import open_trace
    from ghostswap_cli.kernel.arena import Arena
    from ghostswap_cli.kernel.compressors import new_compressor

    c = new_compressor(compressor, level)
    comp, dec = c.compress, c.decompress
    crc32 = zlib.crc32
    pool = work / "floor.pool"
    pool.unlink(missing_ok=True)
    arena = Arena(pool, create=True)
    zero = bytes(PAGE)
    where: dict[int, tuple[int, int, int]] = {}
    gc.collect()
    t = time.perf_counter()
    for op, vpn, page in open_trace(trace):
        if op == 0:
            if page == zero:
                continue
            data = comp(page)
            if len(data) >= PAGE:
                data = page
            where[vpn] = (arena.store(data), len(data), crc32(page))
        elif vpn in where:
            handle, length, csum = where.pop(vpn)
            data = arena.read(handle, length)
            back = data if length == PAGE else dec(data, PAGE)
            arena.free(handle, length)
            if crc32(back) != csum:
                raise AssertionError("floor loop lost a page")
    elapsed = time.perf_counter() - t
    arena.close()
    pool.unlink(missing_ok=True)
    return elapsed


def timed_replay(state: Path, trace: Path, compressor: str, level: int | None,
                 ahead: str = "auto", batch: str = "auto") -> tuple[float, dict]:
    """Open the state, replay, commit: the whole persisted operation, timed."""
    from ghostswap_cli.codec.trace import open_trace
    from ghostswap_cli.kernel.machine import open_kernel
    from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace

    gc.collect()
    t = time.perf_counter()
    with open_trace(trace) as reader, open_kernel(state) as k:
        rep = replay_trace(k, reader, ReplayOptions(compressor=compressor, level=level,
                                                    compress_ahead=ahead, batch_compress=batch))
    elapsed = time.perf_counter() - t
    assert rep.corrupt_pages == 0, "replay returned corrupt pages"
    return elapsed, rep.to_json()


# --- benchmarks -------------------------------------------------------------------------------
#: replay modes: (name, --compress-ahead, batch_compress). "default" is what a user gets.
MODES = (
    ("default", "auto", "auto"),
    ("inline", "off", "off"),
    ("batch", "off", "auto"),
    ("ahead", "on", "auto"),
)


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _chose(summary: str) -> str:
    """The replay's compress_ahead summary, short: what auto chose and the ratio it measured."""
    for choice in ("inline", "ahead"):
        if f"auto chose {choice}" in summary:
            return f"{choice} (probe: ahead {summary.split('ahead took ')[1].split('x')[0]}x)"
    if "ended during the probe" in summary:
        return "on (the trace ended in the probe)"
    return summary.split(",")[0] + (" (stopped)" if "stopped" in summary else "")


def bench_replay(work: Path, quick: bool, reps: int = 3) -> dict:
    sizes = (20_000, 100_000) if quick else (100_000, 500_000)  # swap-outs; events are twice
    real = machine_pages(sizes[0])
    shm = Path("/dev/shm")
    results = {"distinct_real_pages": len(real), "runs": [], "reps": reps,
               "parallel_efficiency": round(_median([parallel_efficiency(real[:20_000], "lz4", None)
                                                     for _ in range(3)]), 2)}
    print(f"  two processes compressing at once: {results['parallel_efficiency']} of twice one "
          "alone", flush=True)
    for n in sizes:
        pages = mixed(real, n)
        trace = write_out_in_trace(work / f"replay-{n}.gstrace", pages)
        state = work / "state-disk"
        small = n == sizes[0]
        shm_state = (Path(tempfile.mkdtemp(prefix="ghostswap-bench-", dir=shm)) / "state"
                     if small and shm.is_dir() else None)
        for compressor, level in (("lz4", None), ("zstd", 1)):
            modes = [m for m in MODES if m[0] != "batch" or compressor == "zstd"]
            t: dict[str, list[float]] = {"raw": [], "raw_cpu": [], "floor": [], "tmpfs": [],
                                         "inline_cpu": []}
            chosen = ""
            for _ in range(reps):
                c0 = time.process_time()
                t["raw"].append(raw_loop(pages, compressor, level))
                t["raw_cpu"].append(time.process_time() - c0)
                if small:
                    t["floor"].append(floor_loop(trace, compressor, level, work))
                for name, ahead, batch in modes:
                    fresh_machine(state, work)
                    c0 = time.process_time()
                    el, rep = timed_replay(state, trace, compressor, level, ahead, batch)
                    if name == "inline":
                        t["inline_cpu"].append(time.process_time() - c0)
                    t.setdefault(name, []).append(el)
                    if name == "default":
                        chosen = rep["compress_ahead"]
                        compression_ratio = rep["compression_ratio"]
                if shm_state is not None:
                    fresh_machine(shm_state, shm_state.parent)
                    t["tmpfs"].append(timed_replay(shm_state, trace, compressor, level)[0])
            raw = _median(t["raw"])
            row = {
                "events": 2 * n,
                "compressor": compressor + (f"-{level}" if level else ""),
                "raw_loop_s": round(raw, 3),
                "default_chose": _chose(chosen),
                "compression_ratio": compression_ratio,
                "cpu_ratio_inline": round(_median(t["raw_cpu"]) / _median(t["inline_cpu"]), 3),
            }
            for name, *_ in modes:
                row[f"{name}_s"] = round(_median(t[name]), 3)
                row[f"{name}_ratio"] = round(raw / _median(t[name]), 3)
            row["best_mode"] = max((m[0] for m in modes), key=lambda m: row[f"{m}_ratio"])
            row["events_per_s"] = round(2 * n / row["default_s"])
            if t["floor"]:
                row["floor_loop_s"] = round(_median(t["floor"]), 3)
                row["floor_ratio"] = round(raw / row["floor_loop_s"], 3)
            if t["tmpfs"]:
                row["replay_tmpfs_s"] = round(_median(t["tmpfs"]), 3)
                row["persisted_over_tmpfs"] = round(row["replay_tmpfs_s"] / row["default_s"], 3)
            results["runs"].append(row)
            print(f"  replay {2 * n} events {row['compressor']:<6}: raw {row['raw_loop_s']}s; "
                  + "; ".join(f"{m[0]} {row[m[0] + '_s']}s ratio {row[m[0] + '_ratio']}"
                              for m in modes)
                  + f" (default chose {row['default_chose']}); inline CPU-time ratio "
                  f"{row['cpu_ratio_inline']}"
                  + (f"; floor {row['floor_loop_s']}s ratio {row['floor_ratio']}"
                     if t["floor"] else "")
                  + (f"; tmpfs/persisted {row['persisted_over_tmpfs']}" if t["tmpfs"] else ""),
                  flush=True)
        if shm_state is not None:
            shutil.rmtree(shm_state.parent, ignore_errors=True)
        shutil.rmtree(work / "state-disk", ignore_errors=True)
        trace.unlink()
    return results


def proc_status(key: str) -> int:
    """A size from /proc/self/status (VmRSS, RssAnon, VmHWM), in bytes; 0 if absent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


MEMORY_CHILD = r"""
import json, os, sys
sys.path.insert(0, sys.argv[3])
from benchmarks.run import machine_pages, fresh_machine, proc_status as status
from pathlib import Path
from ghostswap_cli.kernel.machine import open_kernel
import lz4.block

work = Path(sys.argv[1]); n = int(sys.argv[2])
state = work / 'state-mem'
fresh_machine(state, work, ram=64 << 30, ghost_size=max(n * 2, 1 << 20) * 4096, name='mem.swap')
real = [p for p in machine_pages(50000) if len(lz4.block.compress(p, store_size=False)) < 4000]
with open_kernel(state) as k:
    k.load_all(); z = k.zswap; mm = k.mm
    import gc; gc.collect()
    rss0, anon0 = status('VmRSS'), status('RssAnon')
    swap_out = mm.swap_out
    for i in range(n):
        swap_out(0x100000 + i, real[i % len(real)])
    gc.collect()
    rss1, anon1 = status('VmRSS'), status('RssAnon')
    lens = [z.e_len[e] for e in z.live_entries()]
    payload = sum(lens)
    stored = z.stored_pages
    # where the bytes beyond the payload are: the arrays' own sizes, per stored page
    size = lambda a: memoryview(a).nbytes
    zswap_index = sum(map(size, (z.e_handle, z.e_len, getattr(z, "e_off", z.e_swp), z.e_prev, z.e_next, z.e_flags,
                                 z.e_comp)))
    page_table = sum(size(a) for t in mm.table.values() for a in t)
    slots = sum(len(c.map) + len(c.loc) + c.ref.itemsize * len(c.ref)
                for si in k.active() for c in si.slots.clusters.values())
    gr = getattr(k.arena, "granule", 16)
    rounding = sum(-n % gr for n in lens)
print(json.dumps({'stored': stored, 'payload': payload, 'rss_delta': rss1 - rss0,
                  'anon_delta': anon1 - anon0,
                  'parts': {'zswap index': zswap_index / stored, 'page table (PTE + CRC32)':
                            page_table / stored, 'swap slots (map, loc, ref)': slots / stored,
                            'pool granule rounding': rounding / stored},
                  'db_bytes': os.path.getsize(state / 'state.db'),
                  'pool_file_bytes': os.path.getsize(state / 'zswap.pool')}))
"""


def bench_memory(work: Path, quick: bool) -> dict:
    n = 100_000 if quick else 1_000_000
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(work), str(n), str(HERE.parent)],
        capture_output=True, text=True, check=True,
    )
    d = json.loads(out.stdout.strip().splitlines()[-1])
    d["pages"] = n
    d["overhead_per_page"] = round((d["rss_delta"] - d["payload"]) / d["stored"], 1)
    d["anon_per_page"] = round(d["anon_delta"] / d["stored"], 1)
    d["parts"] = {name: round(v, 1) for name, v in d["parts"].items()}
    d["parts"]["the rest (Python objects, allocator slack, pre-faulted pool)"] = round(
        d["overhead_per_page"] - sum(d["parts"].values()), 1)
    print(f"  memory: {d['stored']} pages stored, payload {d['payload'] / 2**20:.0f} MiB, "
          f"RSS +{d['rss_delta'] / 2**20:.0f} MiB: {d['overhead_per_page']} bytes/page beyond "
          f"payload ({d['anon_per_page']} bytes/page of anonymous memory)", flush=True)
    shutil.rmtree(work / "state-mem", ignore_errors=True)
    (work / "mem.swap").unlink(missing_ok=True)
    return d


def _swapon_cost(work: Path, size: int) -> dict:
    from ghostswap_cli.cli.demo import make_swapfile
    from ghostswap_cli.kernel.machine import open_kernel, reset_state
    from ghostswap_cli.kernel.swapfile import sys_swapon

    state = work / "state-scale"
    shutil.rmtree(state, ignore_errors=True)
    reset_state(state, {"backing_rotational": "0"}, keep_machine=False)
    ghost = work / "scale.swap"
    ghost.unlink(missing_ok=True)
    make_swapfile(ghost, size, PAGE, ghost=True, label="scale")
    from ghostswap_cli.kernel.swapfile import sys_swapoff

    before = sum(f.stat().st_size for f in state.iterdir())
    best = after = None
    for _ in range(5):
        t = time.perf_counter()
        with open_kernel(state) as k:
            sys_swapon(k, str(ghost), 0)
        on = time.perf_counter() - t
        best = on if best is None else min(best, on)
        if after is None:
            # growth by the first swapon; the first swapoff then creates zswap's pool file
            # (1 MiB, the same whatever the size), which is not swapon's
            after = sum(f.stat().st_size for f in state.iterdir())
        with open_kernel(state) as k:
            sys_swapoff(k, str(ghost))
    return {"declared": size, "swapon_s": round(best, 5), "state_growth_bytes": after - before}


def bench_scale(work: Path, quick: bool) -> dict:
    res: dict = {"swapon": []}
    for size in (1 << 30, 1 << 40, (16 << 40) - PAGE):
        r = _swapon_cost(work, size)
        res["swapon"].append(r)
        print(f"  swapon ghost {r['declared'] / 2**30:>8.0f} GiB: {r['swapon_s'] * 1000:.2f} ms, "
              f"state growth {r['state_growth_bytes']} bytes", flush=True)
    res["swapon_16t_over_1g"] = round(res["swapon"][2]["swapon_s"] / res["swapon"][0]["swapon_s"], 2)
    res.update(_max_devices(work))
    res.update(_long_replay(work, quick))
    return res


def max_devices_state(work: Path) -> tuple[Path, int]:
    """A state in ``work`` with MAX_SWAPFILES active 1 TiB ghost areas: (its path, how many)."""
    from ghostswap_cli.cli.demo import make_swapfile
    from ghostswap_cli.kernel.machine import open_kernel, reset_state
    from ghostswap_cli.kernel.swapfile import sys_swapon

    state = work / "state-max"
    shutil.rmtree(state, ignore_errors=True)
    reset_state(state, {"backing_rotational": "0"}, keep_machine=False)
    with open_kernel(state) as k:
        n = k.max_swapfiles
        for i in range(n):
            g = work / f"max{i}.swap"
            g.unlink(missing_ok=True)
            make_swapfile(g, 1 << 40, PAGE, ghost=True, label=f"m{i}")
            sys_swapon(k, str(g), 0)
    return state, n


def _max_devices(work: Path) -> dict:
    from ghostswap_cli.kernel.machine import open_kernel
    from ghostswap_cli.kernel.swapfile import swap_show

    state, n = max_devices_state(work)
    t = time.perf_counter()
    with open_kernel(state, write=False) as k:
        text = swap_show(k)
    proc_swaps = time.perf_counter() - t
    timings = startup_timings(state, work)
    print(f"  {n} devices: swap_show {proc_swaps * 1000:.2f} ms in process; start-up, median of "
          f"{STARTUP_RUNS}: " + ", ".join(f"{a} {v['median_ms']} ms" for a, v in timings.items()),
          flush=True)
    lines = text.count("\n") - 1
    for i in range(n):
        (work / f"max{i}.swap").unlink(missing_ok=True)
    return {"max_swapfiles": n, "proc_swaps_rows": lines, "swap_show_ms": round(proc_swaps * 1000, 3),
            "startup": timings}


STARTUP_RUNS = 10
STARTUP_COMMANDS = (
    ("python3 -c pass (the bare interpreter)", ["-c", "pass"]),
    ("ghostswap --help", ["-m", "ghostswap_cli", "--help"]),
    ("ghostswap cat /proc/swaps", ["-m", "ghostswap_cli", "cat", "/proc/swaps"]),
    ("ghostswap swapshow", ["-m", "ghostswap_cli", "swapshow"]),
    ("ghostswap swapon --show", ["-m", "ghostswap_cli", "swapon", "--show"]),
    # the entry point pip installs (its stub, run by this interpreter on this tree)
    ("ghostswap --help, console script", ["{script}", "--help"]),
)
# what pip writes for [project.scripts] ghostswap = "ghostswap_cli.cli:main"
CONSOLE_SCRIPT = """import re
import sys
from ghostswap_cli.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def startup_timings(state: Path, work: Path,
                    trees: dict[str, Path] | None = None) -> dict[str, dict[str, float]]:
    """Each of STARTUP_COMMANDS as a fresh process on ``state``, STARTUP_RUNS times after one
    warm-up, the commands taking turns (so that a change of load hits all alike): median and
    fastest wall time, median CPU time (user + system), both also over the bare interpreter.

    ``trees`` (label -> source tree) runs every command on each tree in turn, within the same
    round (a before/after comparison in one run); the result is then keyed by label first."""
    import resource

    labels = trees or {"": HERE.parent}
    # bytecode cached (in the scratch directory) as an installed package has it, even where
    # PYTHONDONTWRITEBYTECODE is set; the warm-up run writes it
    envs = {}
    for label, tree in labels.items():
        envs[label] = dict(os.environ, GHOSTSWAP_STATE=str(state),
                           PYTHONPYCACHEPREFIX=str(work / "pycache"), PYTHONPATH=str(tree))
        envs[label].pop("PYTHONDONTWRITEBYTECODE", None)
    script = work / "ghostswap-script"
    script.write_text(CONSOLE_SCRIPT)
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {
        (label, name): [] for label in labels for name, _ in STARTUP_COMMANDS}
    for i in range(STARTUP_RUNS + 1):
        for name, args in STARTUP_COMMANDS:
            argv = [a.replace("{script}", str(script)) for a in args]
            for label, env in envs.items():
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                p = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True,
                                   check=False, cwd=work)
                wall = time.perf_counter() - t
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                if p.returncode:
                    raise RuntimeError(f"{name}: exit {p.returncode}: {p.stderr.strip()}")
                if i:
                    runs[label, name].append(
                        (wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))
    out: dict = {}
    for label in labels:
        timings = {}
        for name, _ in STARTUP_COMMANDS:
            rs = runs[label, name]
            timings[name] = {"median_ms": round(1000 * statistics.median(w for w, _ in rs), 1),
                             "min_ms": round(1000 * min(w for w, _ in rs), 1),
                             "cpu_median_ms": round(1000 * statistics.median(c for _, c in rs), 1)}
        bare = timings[STARTUP_COMMANDS[0][0]]
        for v in timings.values():
            v["over_bare_ms"] = round(v["median_ms"] - bare["median_ms"], 1)
            v["cpu_over_bare_ms"] = round(v["cpu_median_ms"] - bare["cpu_median_ms"], 1)
        out[label] = timings
    return out[""] if trees is None else out


LONG_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from benchmarks.run import fresh_machine, proc_status
from ghostswap_cli.codec.trace import open_trace
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace
work = Path(sys.argv[1]); trace = sys.argv[2]
state = work / 'state-long'
fresh_machine(state, work, ram=8 << 30, ghost_size=1 << 30, name='long.swap')
t = time.perf_counter()
with open_trace(trace) as r, open_kernel(state) as k:
    rep = replay_trace(k, r, ReplayOptions())
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so it would include the RSS of the
# benchmark process that started this one
print(json.dumps({'events': rep.events, 'stored': rep.stored_pages, 'corrupt': rep.corrupt_pages,
                  'seconds': time.perf_counter() - t, 'maxrss': proc_status('VmHWM')}))
"""


def _long_trace(path: Path, events: int, working_set: int, pool: bool = False) -> None:
    """A bounded working set: pages cycle out and in; contents are seeded (cheap, cached), or
    ``pool``: the same seeds as ptext:/prandom: pool slices."""
    from ghostswap_cli.codec.trace import (
        K_PRANDOM,
        K_PTEXT,
        K_RANDOM,
        K_TEXT,
        K_ZERO,
        Content,
        open_trace_writer,
    )

    k_random, k_text = (K_PRANDOM, K_PTEXT) if pool else (K_RANDOM, K_TEXT)
    rnd = random.Random(5)
    out: set[int] = set()
    with open_trace_writer(path, format="binary", page_size=PAGE) as w:
        for i in range(events):
            vpn = rnd.randrange(working_set)
            if vpn in out:
                w.in_(0x200000 + vpn)
                out.discard(vpn)
            else:
                r = rnd.random()
                kind = K_ZERO if r < 0.1 else (k_random if r < 0.2 else k_text)
                w.out(0x200000 + vpn, Content(kind, rnd.randrange(300)))
                out.add(vpn)
            if i % 1_000_000 == 0 and i:
                print(f"    ... wrote {i} events", flush=True)


def _long_replay(work: Path, quick: bool) -> dict:
    ws = 20_000
    rows = []
    for events in ((200_000, 1_000_000) if quick else (1_000_000, 10_000_000)):
        trace = work / f"long-{events}.gstrace"
        if not trace.exists():
            _long_trace(trace, events, ws)
        p = subprocess.run([sys.executable, "-c", LONG_CHILD, str(work), str(trace), str(HERE.parent)],
                           capture_output=True, text=True, check=True)
        d = json.loads(p.stdout.strip().splitlines()[-1])
        d["trace_bytes"] = trace.stat().st_size
        rows.append(d)
        print(f"  replay of {events} events, working set {ws}: {d['seconds']:.1f}s, "
              f"{d['stored']} stored at the end, peak RSS {d['maxrss'] / 2**20:.0f} MiB, "
              f"trace {d['trace_bytes'] / 2**20:.0f} MiB", flush=True)
        trace.unlink()
    return {"long_replay": rows,
            "long_replay_rss_ratio": round(rows[1]["maxrss"] / rows[0]["maxrss"], 2)}


ACCESS_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from benchmarks.run import fresh_machine
from ghostswap_cli.codec.trace import open_trace
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay.access_replay import AccessOptions, replay_access_trace
work = Path(sys.argv[1]); trace = sys.argv[2]; limit = sys.argv[4]
state = work / 'state-access'
fresh_machine(state, work, ram=8 << 30, ghost_size=4 << 30, name='access.swap')
with open_trace(trace) as r, open_kernel(state) as k:
    rep = replay_access_trace(k, r, AccessOptions(memory_max=None if limit == 'max' else limit))
d = rep.to_json()
print(json.dumps({key: d[key] for key in ('accesses', 'elapsed', 'swap_outs', 'swap_ins',
                                          'refaults', 'corrupt_pages', 'oom_killed')}))
"""


ACCESS_MIX = {"text": 0.8, "zero": 0.1, "fill": 0.1}


def bench_access(work: Path, quick: bool, reps: int = 3) -> dict:
    """Access replays (read/write events) of a Zipf workload through the reclaim model: with a
    memory.max well under the working set (reclaim on) and without one (every access after the
    first touch is a resident hit)."""
    from ghostswap_cli.codec.trace import open_trace_writer
    from ghostswap_cli.replay.workloads import synthesize_workload

    pages, events = (5_000, 50_000) if quick else (20_000, 300_000)
    limit = f"{pages * PAGE // 2 // (1 << 20)}M"  # half the working set
    # compressible contents only: the machine has a ghost swapfile alone, where a page zswap
    # rejects stays resident, and reclaim would spend the run retrying those pages
    trace = work / "access.gstrace"
    with open_trace_writer(trace, "binary", PAGE) as w:
        synthesize_workload(w, "zipf", pages=pages, events=events, seed=3, mix=ACCESS_MIX)
    res: dict = {"pages": pages, "events": events, "memory_max": limit, "runs": {}, "reps": reps}
    for name, lim in (("reclaim on", limit), ("no limit", "max")):
        runs = []
        for _ in range(reps):
            p = subprocess.run([sys.executable, "-c", ACCESS_CHILD, str(work), str(trace),
                                str(HERE.parent), lim], capture_output=True, text=True, check=True)
            runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
        d = sorted(runs, key=lambda r: r["elapsed"])[len(runs) // 2]
        d["accesses_per_s"] = round(d["accesses"] / d["elapsed"])
        res["runs"][name] = d
        print(f"  access replay, {name}: {d['accesses_per_s']} accesses/s ({d['swap_outs']} "
              f"swap-outs, {d['refaults']} refaults, {d['corrupt_pages']} corrupt)", flush=True)
    shutil.rmtree(work / "state-access", ignore_errors=True)
    (work / "access.swap").unlink(missing_ok=True)
    trace.unlink()
    return res


# --- report -----------------------------------------------------------------------------------
def targets(res: dict) -> list[str]:
    """The issue-#18 targets against this run's figures, as a table."""
    rows = []

    def row(what: str, target: str, value: object, met: bool) -> None:
        rows.append(f"| {what} | {target} | {value} | {'met' if met else '**not met**'} |")

    for r in res.get("replay", {}).get("runs", []):
        best = r["best_mode"]
        row(f"raw / replay, {r['compressor']}, {r['events']} events, best mode ({best})",
            ">= 1.0", r[best + "_ratio"], r[best + "_ratio"] >= 1.0)
        row(f"raw / replay, {r['compressor']}, {r['events']} events, default mode", ">= 0.8",
            r["default_ratio"], r["default_ratio"] >= 0.8)
    if "memory" in res:
        m = res["memory"]
        row(f"bytes per stored page beyond the payload, {m['pages']} pages", "<= 16",
            m["overhead_per_page"], m["overhead_per_page"] <= 16)
    for name, v in res.get("scale", {}).get("startup", {}).items():
        if name.startswith(("ghostswap --help", "ghostswap cat", "ghostswap swapshow")):
            row(f"start-up `{name}`, median of {STARTUP_RUNS}", "< 100 ms",
                f"{v['median_ms']} ms ({v['over_bare_ms']} ms over the bare interpreter)",
                v["median_ms"] < 100)
    if not rows:
        return []
    return ["## Targets", "", "| figure | target | this run | |", "|---|---|---|---|", *rows, ""]


def write_results(path: Path, info: dict, res: dict, command: str) -> None:
    lines = [
        "# ghostswap benchmark results",
        "",
        f"Reproduce with `{command}` (from the repository root). Every figure below was measured "
        "in this one run; ratios compare two measurements taken side by side.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items() if k != "loaded"],
        "",
    ]
    lines += targets(res)
    if info.get("loaded"):
        lines += [f"**The machine was loaded** ({info['loaded']}): absolute times are noisy and "
                  "slower than on a quiet machine; each ratio compares measurements taken side by "
                  "side in this run, medians of the repetitions.", ""]
    if "replay" in res:
        r = res["replay"]
        lines += [
            "## Replay throughput",
            "",
            "N/2 swap-outs of pages from files on this machine "
            f"({r['distinct_real_pages']} distinct pages, reused cyclically; 10% zero, 10% random), "
            "then N/2 swap-ins, against the raw loop that compresses and decompresses the same "
            "pages with the same compressor. Replay time is the whole persisted operation: open "
            f"the state, replay, commit. Medians of {r['reps']}. Modes: *default* is "
            "`--compress-ahead auto` (it chose what the column says); *inline* compresses each "
            "page in zswap_store, one library call per page (`--compress-ahead off`, no "
            "batching); *batch* is inline with each batch of swap-outs compressed in one call "
            "(zstd's multi_compress_to_buffer; lz4 has no batch call); *ahead* is "
            "`--compress-ahead on`, a second process compresses. The floor loop (200k events "
            "only) is what any replayer must do (read the trace, CRC32 every page out and in, "
            "compress, decompress, keep the bytes in the pool arena) without the kernel's "
            "bookkeeping. *CPU ratio* is raw-loop CPU time over inline-replay CPU time, which a "
            "busy machine disturbs less than wall time.",
            "",
            f"Two processes compressing at once get {r['parallel_efficiency']} of twice the "
            "throughput of one alone here (1.0 would be two free cores). The default (`auto`) "
            f"probes {compress_ahead.PROBE_ROUNDS} rounds of inline against ahead batches and "
            "keeps the faster (the column says which, and ahead's time per event over inline's "
            "that the probe measured); with `on` the replay stops the second process after "
            f"{compress_ahead.CHECK_AFTER} swap-outs if fewer than "
            f"{compress_ahead.MIN_SHARE:.0%} of them came from it.",
            "",
            "| events | compressor | raw loop (s) | default (s) | **raw / default** | default chose | "
            "inline (s) | raw / inline | batch (s) | raw / batch | ahead (s) | raw / ahead | "
            "**best** | CPU ratio | events/s | floor (s) | raw / floor | tmpfs / persisted |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in r["runs"]:
            best = row["best_mode"]
            lines.append(
                f"| {row['events']} | {row['compressor']} | {row['raw_loop_s']} | "
                f"{row['default_s']} | **{row['default_ratio']}** | {row['default_chose']} | "
                f"{row['inline_s']} | {row['inline_ratio']} | {row.get('batch_s', '-')} | "
                f"{row.get('batch_ratio', '-')} | {row['ahead_s']} | {row['ahead_ratio']} | "
                f"**{row[best + '_ratio']}** ({best}) | {row['cpu_ratio_inline']} | "
                f"{row['events_per_s']} | {row.get('floor_loop_s', '-')} | "
                f"{row.get('floor_ratio', '-')} | {row.get('persisted_over_tmpfs', '-')} |"
            )
        lines += ["", "Targets (issue #18): raw / replay >= 1.0 in the best mode and >= 0.8 in "
                  "the default mode, for lz4 and zstd-1.", ""]
    if "memory" in res:
        m = res["memory"]
        lines += [
            "## Memory per stored page",
            "",
            f"{m['stored']} pages stored in zswap (compressible real pages), payload "
            f"{m['payload']} bytes. Process RSS grew by {m['rss_delta']} bytes: "
            f"**{m['overhead_per_page']} bytes per page beyond the compressed payload** "
            f"(the pool is a file mapping, so RSS includes the payload itself; of the growth, "
            f"{m['anon_per_page']} bytes per page are anonymous memory: the index). "
            f"Committed state: state.db {m['db_bytes']} bytes, pool file {m['pool_file_bytes']} bytes. "
            "Target (issue #18): 16 bytes per page.",
            "",
            "| where the bytes beyond the payload are | bytes per stored page |",
            "|---|---|",
            *[f"| {name} | {v} |" for name, v in m["parts"].items()],
            "",
        ]
    if "scale" in res:
        s = res["scale"]
        lines += [
            "## Scale",
            "",
            "| ghost declares | swapon (ms) | state growth (bytes) |",
            "|---|---|---|",
            *[f"| {x['declared'] / 2**30:.0f} GiB | {x['swapon_s'] * 1000:.2f} | "
              f"{x['state_growth_bytes']} |" for x in s["swapon"]],
            "",
            f"swapon of 16 TiB over 1 GiB: **{s['swapon_16t_over_1g']}x**.",
            "",
            f"With {s['max_swapfiles']} active areas (MAX_SWAPFILES): /proc/swaps rendered in "
            f"{s['swap_show_ms']} ms in process. Start-up as commands (`python3 -m ghostswap_cli "
            f"...`, bytecode cached), median of {STARTUP_RUNS} runs; target (issue #18): under "
            "100 ms for --help, cat /proc/swaps and swapshow:",
            "",
            "| command | median (ms) | fastest (ms) | over the bare interpreter (ms) | CPU median (ms) "
            "| CPU over the bare interpreter (ms) |",
            "|---|---|---|---|---|---|",
            *[f"| `{a}` | {v['median_ms']} | {v['min_ms']} | {v['over_bare_ms']} | "
              f"{v.get('cpu_median_ms', '-')} | {v.get('cpu_over_bare_ms', '-')} |"
              for a, v in s["startup"].items()],
            "",
            "Long replays with the same working set (20,000 pages), trace streamed:",
            "",
            "| events | seconds | pages stored at end | peak RSS (MiB) | trace (MiB) |",
            "|---|---|---|---|---|",
            *[f"| {x['events']} | {x['seconds']:.1f} | {x['stored']} | {x['maxrss'] / 2**20:.0f} | "
              f"{x['trace_bytes'] / 2**20:.0f} |" for x in s["long_replay"]],
            "",
            f"Peak RSS ratio, longer over shorter trace: **{s['long_replay_rss_ratio']}**.",
            "",
        ]
    if "access" in res:
        a = res["access"]
        lines += [
            "## Access replays with reclaim",
            "",
            f"A Zipf access trace (`trace synth --workload zipf`, 80% text, 10% zero, 10% fill pages; "
            f"seed 3): {a['events']} reads and writes over {a['pages']} pages, replayed through "
            f"the reclaim model (6.1 two-list LRU) onto a ghost swapfile with memory.max "
            f"{a['memory_max']} (half the working set: "
            "reclaim on) and without a limit (every access after a page's first touch is a "
            f"resident hit). Median of {a.get('reps', 3)}.",
            "",
            "| memory.max | accesses/s | swap-outs | swap-ins | refaults | corrupt |",
            "|---|---|---|---|---|---|",
            *[f"| {name} | **{d['accesses_per_s']}** | {d['swap_outs']} | {d['swap_ins']} | "
              f"{d['refaults']} | {d['corrupt_pages']} |" for name, d in a["runs"].items()],
            "",
        ]
    path.write_text("\n".join(lines) + _other_sections(path, lines))


def _other_sections(path: Path, lines: list[str]) -> str:
    """What the old RESULTS.md holds that this run did not write, kept at the end: blocks
    between ``<!-- NAME: begin/end -->`` markers (benchmarks/record.py's) and ``## `` sections
    of other benchmarks (such as benchmarks/sweep.py's)."""

    try:
        old = path.read_text()
    except FileNotFoundError:
        return ""
    marked = re.compile(r"<!-- (\w+): begin -->.*?<!-- \1: end -->\n", re.S)
    blocks = [m.group(0) for m in marked.finditer(old)]
    mine = {line for line in lines if line.startswith("## ")}
    parts = re.split(r"(?m)^(?=## )", marked.sub("", old))[1:]
    kept = [p.rstrip("\n") + "\n" for p in parts if p.split("\n", 1)[0] not in mine]
    return "".join("\n" + p for p in kept) + "".join("\n" + b for b in blocks)


ALL_FIGURES = "replay,memory,scale,access"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--only", default=ALL_FIGURES, help="comma-separated figures")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each replay (medians)")
    ap.add_argument("--work", type=Path, default=HERE / "work", help="scratch directory (on disk)")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    ap.add_argument("--render", type=Path, metavar="RESULTS.json",
                    help="only write RESULTS.md again from a run's results.json")
    args = ap.parse_args(argv)
    if args.render is not None:
        saved = json.loads(args.render.read_text())
        write_results(HERE / "RESULTS.md", saved.pop("machine"), saved,
                      saved.pop("command", "python -m benchmarks"))
        return 0
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    info = machine_info()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    res: dict = {}
    only = set(args.only.split(","))
    for name, fn in (("replay", bench_replay), ("memory", bench_memory), ("scale", bench_scale),
                     ("access", bench_access)):
        if name in only:
            print(f"{name}:", flush=True)
            res[name] = (fn(work, args.quick, args.reps) if name in ("replay", "access")
                         else fn(work, args.quick))
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter() - t_start
    info["run time"] = f"{started / 60:.1f} min"
    peak_load = max(float(x) for key in ("load average at start", "load average at end")
                    for x in info[key].split())
    if peak_load > 0.5 * (os.cpu_count() or 1):
        info["loaded"] = (f"load average up to {peak_load:.1f} on {os.cpu_count()} CPUs, shared "
                          "with other users")
    command = "python -m benchmarks" + (" --quick" if args.quick else "") + (
        f" --only {args.only}" if args.only != ALL_FIGURES else "") + (
        f" --reps {args.reps}" if args.reps != 3 else "")
    (work / "results.json").write_text(json.dumps({"machine": info, "command": command, **res},
                                                  indent=2))
    if not args.no_write:
        write_results(HERE / "RESULTS.md", info, res, command)
        print(f"wrote {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
