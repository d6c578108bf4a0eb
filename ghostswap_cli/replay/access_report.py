"""The plain-text report of an access replay: what a person sizing a machine wants to know."""

from __future__ import annotations

from ghostswap_cli.replay.access_replay import AccessReport
from ghostswap_cli.units import size_to_human_string

__all__ = ("format_access_report",)


def _h(n: int | None) -> str:
    return "max" if n is None else size_to_human_string(n, space=True, three_letter=True)


def _rate(report: AccessReport, count: int) -> str:
    r = report.rate(count)
    per_s = f"{r['per_s']:,.1f}/s of trace time" if r["per_s"] is not None else "no timestamps"
    per_k = f"{r['per_1k_accesses']:.2f} per 1k accesses" if r["per_1k_accesses"] is not None else ""
    return f"{count} ({per_s}, {per_k})"


def format_access_report(r: AccessReport) -> str:
    c = r.counters
    share = f", {100 * r.peak_zswap_bytes / r.memory_max:.1f}% of memory.max" if r.memory_max else ""
    lines = [
        f"replay of {r.trace} (access trace, {r.page_size}-byte pages, compressor {r.compressor}, "
        f"reclaim {r.policy}, kernel {r.kernel})",
        f"limits            memory.max {_h(r.memory_max)}, memory.high {_h(r.memory_high)}",
        f"accesses          {r.accesses} ({r.reads} reads, {r.writes} writes, {r.frees} frees) to "
        f"{r.distinct_pages} pages ({_h(r.distinct_pages * r.page_size)}) over {r.duration_s:.3f} s"
        + (f"; simulated at {r.accesses / r.elapsed:,.0f} accesses/s" if r.elapsed else ""),
        f"swap-outs         {_rate(r, r.swap_outs)}",
        f"  to zswap        {c.get('zswpout', 0)}, zero pages {c.get('swpout_zero', 0)}, "
        f"to disk {c.get('pswpout', 0)}",
        f"refaults          {_rate(r, r.refaults)}",
        f"  from zswap      {c.get('zswpin', 0)}, zero pages {c.get('swpin_zero', 0)}, "
        f"from disk {c.get('pswpin', 0)}",
        f"  activated       {c.get('workingset_activate_anon', 0)} "
        f"(restored {c.get('workingset_restore_anon', 0)})",
        f"peak memory       {_h(r.peak_memory)} charged, {r.peak_resident_pages} pages resident",
        f"peak zswap pool   {_h(r.peak_zswap_bytes)} compressed ({_h(r.peak_pool_size)} of pool pages){share}",
        f"peak swap used    {r.peak_swap_pages} slots ({_h(r.peak_swap_pages * r.page_size)}), "
        f"{r.peak_disk_pages} on disk ({_h(r.peak_disk_pages * r.page_size)})",
        f"writeback         {r.written_back_pages} pages from zswap to disk",
        f"stayed resident   {r.stayed_resident} pages (ghost write failed), "
        f"{r.no_swap_space} with no free slot",
        f"reclaim           scanned {c.get('pgscan_anon', 0)}, stolen {c.get('pgsteal_anon', 0)}, "
        f"activated {c.get('pgactivate', 0)}, deactivated {c.get('pgdeactivate', 0)}",
        "OOM kills         " + (f"1 (at access {r.oom_at_access}: the process was killed there)"
                                if r.oom_killed else "0"),
        f"corrupt pages     {r.corrupt_pages}",
    ]
    return "\n".join(lines) + "\n"
