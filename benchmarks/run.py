"""ghostswap benchmarks: every figure is a ratio measured in the same run.

    python -m benchmarks [--quick] [--only NAME,...] [--work DIR] [--no-write]

Figures (see benchmarks/RESULTS.md for the last run):

replay
    200k events (100k swap-outs of real pages from files on this machine mixed with zero and
    random pages, then 100k swap-ins) against the raw loop that compresses and decompresses the
    same pages with the same compressor. Figure: raw loop time / replay time, with the default
    persisted state (state directory on the disk) — lz4 and zstd level 1.
persistence
    the same replay against a state directory on tmpfs (/dev/shm): persisted / tmpfs ratio.
memory
    1M pages stored in zswap: process memory beyond the sum of compressed payloads, per page.
scale
    swapon of ghost swapfiles declaring 1 GiB, 1 TiB and 16 TiB (time and state growth);
    /proc/swaps and swapshow with MAX_SWAPFILES devices; a 10M-event replay with a bounded
    working set against a 1M-event one (peak RSS).
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
                 ahead: str = "auto") -> tuple[float, dict]:
    """Open the state, replay, commit: the whole persisted operation, timed."""
    from ghostswap_cli.codec.trace import open_trace
    from ghostswap_cli.kernel.machine import open_kernel
    from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace

    gc.collect()
    t = time.perf_counter()
    with open_trace(trace) as reader, open_kernel(state) as k:
        rep = replay_trace(k, reader, ReplayOptions(compressor=compressor, level=level,
                                                    compress_ahead=ahead))
    elapsed = time.perf_counter() - t
    assert rep.corrupt_pages == 0, "replay returned corrupt pages"
    return elapsed, rep.to_json()


# --- benchmarks -------------------------------------------------------------------------------
def bench_replay(work: Path, quick: bool) -> dict:
    n = 20_000 if quick else 100_000
    real = machine_pages(n)
    pages = mixed(real, n)
    trace = write_out_in_trace(work / "replay.gstrace", pages)
    state = work / "state-disk"
    shm = Path("/dev/shm")
    shm_state = Path(tempfile.mkdtemp(prefix="ghostswap-bench-", dir=shm)) / "state" \
        if shm.is_dir() else None
    results = {"events": 2 * n, "distinct_real_pages": len(real), "runs": [],
               "parallel_efficiency": round(max(parallel_efficiency(pages[:20_000], "lz4", None)
                                                for _ in range(3)), 2)}
    print(f"  two processes compressing at once: {results['parallel_efficiency']} of twice one "
          "alone", flush=True)
    reps = 1 if quick else 3
    for compressor, level in (("lz4", None), ("zstd", 1)):
        best_raw = best_rep = best_shm = best_floor = best_inline = None
        for _ in range(reps):
            raw = raw_loop(pages, compressor, level)
            floor = floor_loop(trace, compressor, level, work)
            best_floor = floor if best_floor is None else min(best_floor, floor)
            fresh_machine(state, work)
            rep_t, rep = timed_replay(state, trace, compressor, level)
            best_raw = raw if best_raw is None else min(best_raw, raw)
            best_rep = rep_t if best_rep is None else min(best_rep, rep_t)
            fresh_machine(state, work)
            inline_t, _ = timed_replay(state, trace, compressor, level, ahead="off")
            best_inline = inline_t if best_inline is None else min(best_inline, inline_t)
            if shm_state is not None:
                fresh_machine(shm_state, shm_state.parent)
                shm_t, _ = timed_replay(shm_state, trace, compressor, level)
                best_shm = shm_t if best_shm is None else min(best_shm, shm_t)
        row = {
            "compressor": f"{compressor}" + (f"-{level}" if level else ""),
            "raw_loop_s": round(best_raw, 3),
            "replay_s": round(best_rep, 3),
            "ratio": round(best_raw / best_rep, 3),
            "compress_ahead": rep["compress_ahead"],
            "replay_inline_s": round(best_inline, 3),
            "inline_ratio": round(best_raw / best_inline, 3),
            "floor_loop_s": round(best_floor, 3),
            "floor_ratio": round(best_raw / best_floor, 3),
            "events_per_s": round(2 * n / best_rep),
            "compression_ratio": rep["compression_ratio"],
        }
        if best_shm is not None:
            row["replay_tmpfs_s"] = round(best_shm, 3)
            row["persisted_over_tmpfs"] = round(best_shm / best_rep, 3)
        results["runs"].append(row)
        print(f"  replay {row['compressor']:<6}: raw "
              f"{row['raw_loop_s']}s replay {row['replay_s']}s ratio {row['ratio']} "
              f"(compress ahead {row['compress_ahead']}; inline {row['replay_inline_s']}s "
              f"ratio {row['inline_ratio']}; floor loop "
              f"{row['floor_loop_s']}s ratio {row['floor_ratio']})"
              + (f", tmpfs {row['replay_tmpfs_s']}s persisted/tmpfs "
                 f"{row['persisted_over_tmpfs']}" if best_shm is not None else ""),
              flush=True)
    if shm_state is not None:
        shutil.rmtree(shm_state.parent, ignore_errors=True)
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
    payload = sum(z.e_len[e] for e in z.live_entries())
    stored = z.stored_pages
    t = __import__('time').perf_counter()
print(json.dumps({'stored': stored, 'payload': payload, 'rss_delta': rss1 - rss0,
                  'anon_delta': anon1 - anon0,
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


def _max_devices(work: Path) -> dict:
    from ghostswap_cli.cli.demo import make_swapfile
    from ghostswap_cli.kernel.machine import open_kernel, reset_state
    from ghostswap_cli.kernel.swapfile import swap_show, sys_swapon

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
    t = time.perf_counter()
    with open_kernel(state, write=False) as k:
        text = swap_show(k)
    proc_swaps = time.perf_counter() - t
    env = dict(os.environ, GHOSTSWAP_STATE=str(state))
    timings = {}
    for args in (["cat", "/proc/swaps"], ["swapshow"], ["swapon", "--show"]):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "ghostswap_cli", *args], env=env,
                           capture_output=True, text=True, check=False)
        timings[" ".join(args)] = (round(time.perf_counter() - t, 3), p.returncode)
    print(f"  {n} devices: swap_show {proc_swaps * 1000:.2f} ms in process; as commands: "
          + ", ".join(f"{a} {s}s (exit {rc})" for a, (s, rc) in timings.items()), flush=True)
    lines = text.count("\n") - 1
    for i in range(n):
        (work / f"max{i}.swap").unlink(missing_ok=True)
    return {"max_swapfiles": n, "proc_swaps_rows": lines, "swap_show_ms": round(proc_swaps * 1000, 3),
            "commands_s": {a: s for a, (s, _) in timings.items()}}


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


def _long_trace(path: Path, events: int, working_set: int) -> None:
    """A bounded working set: pages cycle out and in; contents are seeded (cheap, cached)."""
    from ghostswap_cli.codec.trace import K_RANDOM, K_TEXT, K_ZERO, Content, open_trace_writer

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
                kind = K_ZERO if r < 0.1 else (K_RANDOM if r < 0.2 else K_TEXT)
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


# --- report -----------------------------------------------------------------------------------
def write_results(path: Path, info: dict, res: dict, command: str) -> None:
    lines = [
        "# ghostswap benchmark results",
        "",
        f"Reproduce with `{command}` (from the repository root). Every figure below was measured "
        "in this one run; ratios compare two measurements taken side by side.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
    ]
    if "replay" in res:
        r = res["replay"]
        lines += [
            "## Replay throughput",
            "",
            f"{r['events']} events: {r['events'] // 2} swap-outs of pages from files on this "
            f"machine ({r['distinct_real_pages']} distinct pages; 10% zero, 10% random), then "
            f"{r['events'] // 2} swap-ins, against the raw loop that compresses and decompresses "
            "the same pages with the same compressor. Replay time is the whole persisted "
            "operation: open the state, replay, commit. Best of three. The floor loop is what any "
            "replayer must do (read the trace, CRC32 every page out and in, compress, "
            "decompress, keep the bytes in the pool arena) without the kernel's bookkeeping.",
            "",
            "The replay runs with its default, `--compress-ahead auto`: on this machine a second "
            "process compresses the swap-outs ahead (see ghostswap-replay(1)); the column "
            "*inline* is the same replay with `--compress-ahead off`, everything on one CPU. "
            f"Two processes compressing at once get {r['parallel_efficiency']} of twice the "
            "throughput of one alone here (1.0 would be two independent cores), which bounds "
            "what a second process can add.",
            "",
            "| compressor | raw loop (s) | replay (s) | **raw / replay** | events/s | "
            "compress ahead | inline replay (s) | raw / inline | "
            "floor loop (s) | raw / floor | replay on tmpfs (s) | **tmpfs / persisted** |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in r["runs"]:
            lines.append(
                f"| {row['compressor']} | {row['raw_loop_s']} | "
                f"{row['replay_s']} | **{row['ratio']}** | {row['events_per_s']} | "
                f"{row['compress_ahead']} | {row['replay_inline_s']} | {row['inline_ratio']} | "
                f"{row['floor_loop_s']} | {row['floor_ratio']} | "
                f"{row.get('replay_tmpfs_s', '-')} | **{row.get('persisted_over_tmpfs', '-')}** |"
            )
        lines.append("")
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
            f"Committed state: state.db {m['db_bytes']} bytes, pool file {m['pool_file_bytes']} bytes.",
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
            f"{s['swap_show_ms']} ms in process; as commands: "
            + ", ".join(f"`ghostswap {a}` {t} s" for a, t in s["commands_s"].items()) + ".",
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--only", default="replay,memory,scale", help="comma-separated figures")
    ap.add_argument("--work", type=Path, default=HERE / "work", help="scratch directory (on disk)")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = ap.parse_args(argv)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    res: dict = {}
    only = set(args.only.split(","))
    for name, fn in (("replay", bench_replay), ("memory", bench_memory), ("scale", bench_scale)):
        if name in only:
            print(f"{name}:", flush=True)
            res[name] = fn(work, args.quick)
    (work / "results.json").write_text(json.dumps({"machine": info, **res}, indent=2))
    if not args.no_write:
        command = "python -m benchmarks" + (" --quick" if args.quick else "") + (
            f" --only {args.only}" if args.only != "replay,memory,scale" else "")
        write_results(HERE / "RESULTS.md", info, res, command)
        print(f"wrote {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
