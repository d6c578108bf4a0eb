"""Sizing from an access trace: what the simulated kernel's reclaim does under memory limits.

For each memory limit the trace is replayed (``replay_access_trace``) on a scratch machine with
the user's RAM, kernel configuration and compressor, one real swapfile large enough for every
page the trace touches, and the cgroup limit; the user's own state is not touched.

From one run at ``memory.max`` (``advise_memory``):

* the **zswap pool**: the peak of compressed bytes zswap held for the process, plus headroom;
  given as bytes (for ``memory.zswap.max``) and as the ``max_pool_percent`` of RAM that holds it;
* the **ghost swapfile**: a slot for every page swapped out at once (zswap, zeromap, rejected or
  not), the peak of slots held, plus headroom and the header slot, in whole clusters (as
  ``ghostswap advise`` rounds for swap traces);
* the **real swapfile**: the pages that had to go to disk at once (zswap rejected them, or wrote
  them back), plus headroom, in whole MiB; none needed when nothing went to disk;
* how often pages fault back (refaults per second of trace time and per 1k accesses), and
  whether the process was OOM-killed (then the limit is too small for any swap layout).

The *curve* (``memory_curve``) runs a range of limits and gives refaults, swap-outs and the
pool as functions of memory.max, the way miss-ratio-curve tools show a cache.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ghostswap_cli.units import size_to_human_string

__all__ = ("MemoryAdvice", "CurvePoint", "advise_memory", "memory_curve", "parse_limits",
           "simulate_limit")

CLUSTER_SLOTS = 512
_MIB = 1 << 20


def parse_limits(text: str, footprint: int) -> list[int]:
    """``SIZE``, ``SIZE,SIZE,...`` or ``LO:HI:STEP`` (sizes with K/M/G suffixes) in bytes;
    ``N%`` is that share of the trace's footprint."""
    from ghostswap_cli.kernel.params import memparse

    def size(tok: str) -> int:
        tok = tok.strip()
        if tok.endswith("%"):
            return int(float(tok[:-1]) * footprint / 100) // 4096 * 4096
        try:
            return memparse(tok) // 4096 * 4096
        except Exception:
            raise ValueError(f"bad size {tok!r}: expected bytes with an optional K, M or G suffix, "
                             "or N%") from None

    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"bad range {text!r}: expected LO:HI:STEP")
        lo, hi, step = (size(p) for p in parts)
        if step <= 0 or hi < lo:
            raise ValueError(f"bad range {text!r}: need LO <= HI and STEP > 0")
        out = list(range(lo, hi + 1, step))
    else:
        out = [size(p) for p in text.split(",") if p.strip()]
    if not out or min(out) < 16 * 4096:
        raise ValueError("memory limits must be at least 64 KiB")
    return sorted(set(out))


@dataclasses.dataclass
class CurvePoint:
    memory_max: int
    accesses: int
    duration_s: float
    swap_outs: int
    refaults: int
    refaults_per_1k: float
    refaults_per_s: float | None
    swap_outs_per_1k: float
    peak_zswap_bytes: int
    peak_pool_size: int
    pool_share_of_limit: float
    peak_swap_pages: int
    peak_disk_pages: int
    written_back_pages: int
    stayed_resident: int
    oom_killed: bool
    accesses_per_second: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class MemoryAdvice:
    trace: str
    ram: int
    config: str
    compressor: str
    policy: str
    headroom_percent: float
    point: CurvePoint
    zswap_pool_bytes: int
    max_pool_percent: int
    ghost_slots: int
    ghost_size: int
    real_swap_size: int

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["point"] = self.point.to_dict()
        return d


def simulate_limit(trace: Path, memory_max: int, *, ram: int, config: str, compressor: str | None,
                   policy: str | None, swappiness: int | None = None,
                   allow_dirs: Sequence[Path] = (), swap_trace: Path | None = None) -> CurvePoint:
    """One replay of ``trace`` at ``memory_max`` on a scratch machine; with ``swap_trace``, the
    swap events reclaim produced are written there (a version-1 trace for ``designs``)."""
    from click.testing import CliRunner

    from ghostswap_cli.cli import cli
    from ghostswap_cli.codec.trace import open_trace, open_trace_writer, summarize
    from ghostswap_cli.kernel.machine import open_kernel
    from ghostswap_cli.replay.access_replay import AccessOptions, replay_access_trace

    with open_trace(trace, allow_dirs=allow_dirs) as r:
        page_size = r.page_size
        pages = _distinct_pages(trace, r, summarize)
    with tempfile.TemporaryDirectory(prefix="ghostswap-advise.") as tmp:
        state = Path(tmp) / "state"
        swap = Path(tmp) / "sizing.swap"
        run = CliRunner()
        size = max(pages + 64, 1024) * page_size
        for args in (["kernel", "init", "--ram", str(ram), "--config", config, "--page-size", str(page_size)],
                     ["mkswap", "--file", "--size", f"{-(-size // 1024)}K", str(swap)],
                     ["swapon", str(swap)]):
            res = run.invoke(cli, ["--state", str(state), *args], catch_exceptions=False)
            if res.exit_code:
                raise RuntimeError(f"scratch machine: ghostswap {' '.join(args)}: {res.output.strip()}")
        with open_kernel(state) as k, open_trace(trace, allow_dirs=allow_dirs) as reader:
            writer = (open_trace_writer(swap_trace, "binary", page_size, comments=())
                      if swap_trace is not None else None)
            try:
                rep = replay_access_trace(k, reader, AccessOptions(
                    memory_max=str(memory_max), compressor=compressor, policy=policy,
                    swappiness=swappiness, swap_trace=writer))
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
            if writer is not None:
                writer.close()
    rate = rep.rate(rep.refaults)
    return CurvePoint(
        memory_max=memory_max, accesses=rep.accesses, duration_s=rep.duration_s,
        swap_outs=rep.swap_outs, refaults=rep.refaults,
        refaults_per_1k=rate["per_1k_accesses"] or 0.0, refaults_per_s=rate["per_s"],
        swap_outs_per_1k=rep.rate(rep.swap_outs)["per_1k_accesses"] or 0.0,
        peak_zswap_bytes=rep.peak_zswap_bytes, peak_pool_size=rep.peak_pool_size,
        pool_share_of_limit=round(rep.peak_zswap_bytes / memory_max, 4),
        peak_swap_pages=rep.peak_swap_pages, peak_disk_pages=rep.peak_disk_pages,
        written_back_pages=rep.written_back_pages, stayed_resident=rep.stayed_resident,
        oom_killed=rep.oom_killed,
        accesses_per_second=round(rep.accesses / rep.elapsed) if rep.elapsed else 0.0,
    )


_PAGES_CACHE: dict[tuple[str, float], int] = {}


def _distinct_pages(trace: Path, reader, summarize) -> int:
    key = (str(Path(trace).resolve()), Path(trace).stat().st_mtime)
    if key not in _PAGES_CACHE:
        _PAGES_CACHE[key] = summarize(reader).unique_pages
    return _PAGES_CACHE[key]


def footprint_bytes(trace: Path, allow_dirs: Sequence[Path] = ()) -> int:
    from ghostswap_cli.codec.trace import open_trace, summarize

    with open_trace(trace, allow_dirs=allow_dirs) as r:
        return _distinct_pages(trace, r, summarize) * r.page_size


def advise_memory(trace: Path, memory_max: int, *, ram: int, config: str, compressor: str | None,
                  policy: str | None, headroom_percent: float = 25,
                  allow_dirs: Sequence[Path] = ()) -> MemoryAdvice:
    p = simulate_limit(trace, memory_max, ram=ram, config=config, compressor=compressor, policy=policy,
                       allow_dirs=allow_dirs)
    grow = 1 + headroom_percent / 100
    pool = math.ceil(p.peak_zswap_bytes * grow)
    slots = math.ceil(p.peak_swap_pages * grow) + 1
    clusters = max(1, -(-slots // CLUSTER_SLOTS))
    disk = math.ceil(p.peak_disk_pages * grow) * 4096
    real = -(-disk // _MIB) * _MIB if p.peak_disk_pages else 0
    return MemoryAdvice(
        trace=str(trace), ram=ram, config=config, compressor=compressor or "(kernel's)",
        policy=policy or "(machine's)", headroom_percent=headroom_percent, point=p,
        zswap_pool_bytes=pool, max_pool_percent=max(1, math.ceil(100 * pool / ram)),
        ghost_slots=clusters * CLUSTER_SLOTS, ghost_size=clusters * CLUSTER_SLOTS * 4096,
        real_swap_size=real,
    )


def memory_curve(trace: Path, limits: Sequence[int], *, ram: int, config: str, compressor: str | None,
                 policy: str | None, allow_dirs: Sequence[Path] = (), progress=None) -> list[CurvePoint]:
    out = []
    for n, limit in enumerate(limits):
        out.append(simulate_limit(trace, limit, ram=ram, config=config, compressor=compressor,
                                  policy=policy, allow_dirs=allow_dirs))
        if progress is not None:
            progress(n + 1, len(limits))
    return out


def human(n: int) -> str:
    return size_to_human_string(n, space=True, three_letter=True)


def format_memory_advice(a: MemoryAdvice) -> str:
    p = a.point
    lines = [
        f"access trace {a.trace}: {p.accesses} accesses over {p.duration_s:.3f} s",
        f"simulated at memory.max {human(p.memory_max)} on {human(a.ram)} of RAM "
        f"(kernel {a.config}, compressor {a.compressor}, reclaim {a.policy})",
    ]
    if p.oom_killed:
        lines.append("OOM: the process was killed at this limit; no swap layout saves it "
                     "(raise memory.max)")
    lines += [
        f"refaults          {p.refaults} ({p.refaults_per_1k:.2f} per 1k accesses"
        + (f", {p.refaults_per_s:,.1f}/s" if p.refaults_per_s is not None else "") + ")",
        f"swap-outs         {p.swap_outs} ({p.swap_outs_per_1k:.2f} per 1k accesses)",
        f"peak zswap pool   {human(p.peak_zswap_bytes)} compressed ({100 * p.pool_share_of_limit:.1f}% "
        f"of the limit), {human(p.peak_pool_size)} of pool pages",
        f"peak swap slots   {p.peak_swap_pages} ({human(p.peak_swap_pages * 4096)}), "
        f"{p.peak_disk_pages} pages on disk",
        "",
        f"recommended (peaks + {a.headroom_percent:g}% headroom):",
        f"  zswap pool        {human(a.zswap_pool_bytes)}: memory.zswap.max {a.zswap_pool_bytes}, "
        f"or max_pool_percent {a.max_pool_percent}",
        f"  ghost swapfile    {human(a.ghost_size)} ({a.ghost_slots} slots, whole clusters): "
        f"ghostswap mkswap --ghost --size {a.ghost_size // 1024}K ghost.swap",
        "  real swapfile     " + (f"{human(a.real_swap_size)} for the pages zswap rejects or writes back: "
                                  f"ghostswap mkswap --file --size {a.real_swap_size // _MIB}M real.swap"
                                  if a.real_swap_size else "none needed (nothing went to disk)"),
    ]
    return "\n".join(lines) + "\n"


CURVE_COLUMNS = ("memory.max", "refaults/1k", "refaults/s", "swap-outs/1k", "peak pool", "pool/limit",
                 "disk pages", "OOM")


def format_curve(points: Sequence[CurvePoint]) -> str:
    rows = [CURVE_COLUMNS]
    for p in points:
        rows.append((human(p.memory_max), f"{p.refaults_per_1k:.2f}",
                     f"{p.refaults_per_s:,.1f}" if p.refaults_per_s is not None else "-",
                     f"{p.swap_outs_per_1k:.2f}", human(p.peak_zswap_bytes),
                     f"{100 * p.pool_share_of_limit:.1f}%", str(p.peak_disk_pages),
                     "yes" if p.oom_killed else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(CURVE_COLUMNS))]
    return "".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + "\n" for r in rows)

