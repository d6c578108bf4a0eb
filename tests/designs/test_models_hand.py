"""Every model on small traces whose every figure can be worked out by hand.

Each test runs ``ghostswap designs --json`` on a trace written here and compares every row of
every design with the arithmetic written out below. Notation: a 4 KiB page; a device of N MiB has
256*N slots; slot 0 is the header; a cluster is 512 slots; S = 3 static bytes a slot, D = 8
dynamic bytes a slot of a cluster in use, so a cluster in use costs D*512 = 4096 bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ghostswap_cli.designs import DESIGN_NAMES
from ghostswap_cli.designs.base import ROWS

from .lab_traces import huge_page, write

KiB, MiB = 1024, 1 << 20
CL = 8 * 512  # dynamic bytes of one cluster in use
#: the first five designs by the names they had (aliases of mainline-6.18, ghost-rfc, ...)
OLD_FIVE = "mainline,ghost,ghost-dynamic,ghost-tiers,vswap"


def check(report: dict[str, Any], expected: dict[str, dict[str, Any]]) -> None:
    assert list(report["designs"]) == list(expected)
    for name, exp in expected.items():
        got = report["designs"][name]
        assert set(got) == {r.key for r in ROWS}
        full = {**BASE, **exp}
        for key in (r.key for r in ROWS):
            want = full[key]
            if isinstance(want, float):
                assert got[key] == pytest.approx(want), (name, key)
            else:
                assert got[key] == want, (name, key)


# rows that are 0 unless a test says otherwise
BASE: dict[str, Any] = {
    "zswap_pages_peak": 0, "pool_peak_bytes": 0, "disk_held_peak_bytes": 0,
    "disk_pinned_peak_bytes": 0, "disk_slow_peak_bytes": 0, "kept_resident": 0, "kept_resident_no_slot": 0,
    "kept_resident_rejected": 0, "rejected_pool_full": 0, "rejected_incompressible": 0,
    "written_back": 0, "written_direct": 0, "redirect_slots_peak": 0, "writeback_failed": 0,
    "shrinker_stalls": 0, "swapins_direct": 0,
    "swapins_redirected": 0, "lookups_per_swapin": None,
}


def test_three_real_devices_1000_zero_pages(tmp_path: Path, designs_json) -> None:
    """1000 zero pages out (VPN 0..999), then back in in the same order: 2000 events. No
    compression involved; zero pages still take a slot each (zeromap)."""
    trace = write(tmp_path / "a.trace",
                  [("out", v, "zero") for v in range(1000)] + [("in", v, None) for v in range(1000)])
    r = designs_json(trace, "--ghost-size", "4M", "--real-size", "1M", "--real-size", "2M",
                     "--real-size", "4M", "--compressor", "lz4")
    assert r["events"] == 2000 and r["zero_pages"] == 1000 and r["corrupt_pages"] == 0
    assert r["verified_pages"] == 1000

    # mainline: devices of 256, 512 and 1024 slots, filled in priority order.
    #   1 MiB: one cluster (header + tail past 256 reserved): 255 pages (VPN 0..254)
    #   2 MiB: one cluster with the header: 511 pages (VPN 255..765)
    #   4 MiB: clusters 0 (header) and 1; the fresh cluster 1 is used first: 234 pages (766..999)
    # static = 3 * (256 + 512 + 1024) = 5376; at the peak 3 clusters in use.
    # clusters in use after each event:
    #   outs: 255 x 1, 511 x 2, 234 x 3
    #   ins : 254 x 3 (the 255th in empties the 1 MiB device), 511 x 2, 234 x 1, 1 x 0
    main_sum = 255 * 1 + 511 * 2 + 234 * 3 + 254 * 3 + 511 * 2 + 234 * 1
    # ghost 4 MiB = 1024 slots: cluster 1 (fresh) takes VPN 0..511, cluster 0 VPN 512..999.
    #   outs: 512 x 1, 488 x 2; ins: 511 x 2, 488 x 1, 1 x 0
    ghost_sum = 512 * 1 + 488 * 2 + 511 * 2 + 488 * 1
    # ghost-dynamic starts at 1 cluster (511 slots: VPN 0..510), grows to 2 at the 512th out.
    #   outs 1..511: 3*512 + 1 cluster; outs 512..1000: 3*1024 + 2 clusters
    #   ins 1..510: 3*1024 + 2 clusters; ins 511..999: 3*1024 + 1; in 1000: 3*1024
    dyn_sum = (511 * (1536 + CL) + 489 * (3072 + 2 * CL) + 510 * (3072 + 2 * CL)
               + 489 * (3072 + CL) + 1 * 3072)
    # vswap: 48 bytes per page out: after out k, k pages; after in k, 1000 - k
    vs_pages = sum(range(1, 1001)) + sum(1000 - k for k in range(1, 1001))
    everything_direct = {"swapins_direct": 1000, "lookups_per_swapin": 1.0}
    # swap-table: 48 bytes per cluster of every device: 1 + 1 + 2 clusters = 192; the table as
    # mainline's (8 bytes a slot of a cluster in use); the zero bit is inside it
    table = {
        "metadata_peak_bytes": 192 + 3 * CL,
        "metadata_static_at_peak_bytes": 192,
        "metadata_dynamic_at_peak_bytes": 3 * CL,
        "metadata_mean_bytes": 192 + CL * main_sum / 2000,
        "metadata_per_stored_page": (192 + 3 * CL) / 1000,
        "stored_pages_peak": 1000,
        "disk_held_peak_bytes": 1000 * 4096, "disk_pinned_peak_bytes": 1000 * 4096,
        **everything_direct,
        "swapoff_entries_peak": 1000, "swapoff_page_table_walk": True,
    }
    # swap-table-dynamic: the ghost never fills and prefers partly used clusters: cluster 0
    # (with the header) takes VPN 0..510, the fresh cluster 1 VPN 511..999.
    #   outs: 511 x 1, 489 x 2; ins: 510 x 2, 489 x 1 (cluster 0 empty), 1 x 0
    # 16 bytes a slot of each cluster in use; the real devices' 192 static
    dyn_ghost = 16 * 512
    stdyn_sum = 511 * 1 + 489 * 2 + 510 * 2 + 489 * 1
    # vswap-24: 2 bits a physical slot: (256 + 512 + 1024) * 2 / 8 = 448; 24 bytes a page out
    expected = {
        "swap-table": {"devices": "real 1 MiB + real 2 MiB + real 4 MiB", **table},
        "swap-tiers": {  # fast = the first device, slow = the others: the same slots
            "devices": "fast real 1 MiB + slow real 2 MiB + real 4 MiB; cgroup tiers: fast, slow, zswap",
            **table,
            "disk_slow_peak_bytes": (511 + 234) * 4096,  # all but the fast tier's 255 pages
        },
        "swap-table-dynamic": {
            "devices": "dynamic ghost + real 1 MiB + real 2 MiB + real 4 MiB",
            "metadata_peak_bytes": 192 + 2 * dyn_ghost,
            "metadata_static_at_peak_bytes": 192,
            "metadata_dynamic_at_peak_bytes": 2 * dyn_ghost,
            "metadata_mean_bytes": 192 + dyn_ghost * stdyn_sum / 2000,
            "metadata_per_stored_page": (192 + 2 * dyn_ghost) / 1000,
            "stored_pages_peak": 1000,
            **everything_direct,  # zero pages: found in the ghost's table
            "swapoff_entries_peak": 0, "swapoff_page_table_walk": False,
        },
        "vswap-24": {
            "devices": "virtual + real 1 MiB + real 2 MiB + real 4 MiB",
            "metadata_peak_bytes": 448 + 24 * 1000,
            "metadata_static_at_peak_bytes": 448,
            "metadata_dynamic_at_peak_bytes": 24 * 1000,
            "metadata_mean_bytes": 448 + 24 * vs_pages / 2000,
            "metadata_per_stored_page": (448 + 24 * 1000) / 1000,
            "stored_pages_peak": 1000,
            "swapins_redirected": 1000, "lookups_per_swapin": 2.0,
            "swapoff_entries_peak": 0, "swapoff_page_table_walk": False,
        },
    }
    expected.update({
        "mainline-6.18": {
            "devices": "real 1 MiB + real 2 MiB + real 4 MiB",
            "metadata_peak_bytes": 5376 + 3 * CL,  # 17664
            "metadata_static_at_peak_bytes": 5376,
            "metadata_dynamic_at_peak_bytes": 3 * CL,
            "metadata_mean_bytes": 5376 + CL * main_sum / 2000,
            "metadata_per_stored_page": (5376 + 3 * CL) / 1000,
            "stored_pages_peak": 1000,
            "disk_held_peak_bytes": 1000 * 4096,  # every page holds a disk slot
            "disk_pinned_peak_bytes": 1000 * 4096,  # and none of them is on disk
            **everything_direct,
            "swapoff_entries_peak": 1000, "swapoff_page_table_walk": True,
        },
        "ghost-rfc": {
            "devices": "ghost 4 MiB",
            "metadata_peak_bytes": 3072 + 2 * CL,
            "metadata_static_at_peak_bytes": 3072,  # 3 * 1024
            "metadata_dynamic_at_peak_bytes": 2 * CL,
            "metadata_mean_bytes": 3072 + CL * ghost_sum / 2000,
            "metadata_per_stored_page": (3072 + 2 * CL) / 1000,
            "stored_pages_peak": 1000,
            **everything_direct,
            "swapoff_entries_peak": 1000, "swapoff_page_table_walk": True,
        },
        "ghost-grow": {
            "devices": "ghost 2 MiB, grew to 4 MiB",
            "metadata_peak_bytes": 3072 + 2 * CL,
            "metadata_static_at_peak_bytes": 3072,
            "metadata_dynamic_at_peak_bytes": 2 * CL,
            "metadata_mean_bytes": dyn_sum / 2000,
            "metadata_per_stored_page": (3072 + 2 * CL) / 1000,
            "stored_pages_peak": 1000,
            **everything_direct,
            "swapoff_entries_peak": 1000, "swapoff_page_table_walk": True,
        },
        "ghost-redirect": {  # the ghost as above, plus the real devices' static cost; no writeback
            "devices": "ghost 4 MiB -> real 1 MiB + real 2 MiB + real 4 MiB",
            "metadata_peak_bytes": 3072 + 5376 + 2 * CL,
            "metadata_static_at_peak_bytes": 3072 + 5376,
            "metadata_dynamic_at_peak_bytes": 2 * CL,
            "metadata_mean_bytes": 3072 + 5376 + CL * ghost_sum / 2000,
            "metadata_per_stored_page": (3072 + 5376 + 2 * CL) / 1000,
            "stored_pages_peak": 1000,
            **everything_direct,
            "swapoff_entries_peak": 1000, "swapoff_page_table_walk": True,
        },
        "vswap-48": {  # physical devices unused: only their static cost
            "devices": "virtual + real 1 MiB + real 2 MiB + real 4 MiB",
            "metadata_peak_bytes": 5376 + 48 * 1000,
            "metadata_static_at_peak_bytes": 5376,
            "metadata_dynamic_at_peak_bytes": 48 * 1000,
            "metadata_mean_bytes": 5376 + 48 * vs_pages / 2000,
            "metadata_per_stored_page": (5376 + 48 * 1000) / 1000,
            "stored_pages_peak": 1000,
            "swapins_redirected": 1000, "lookups_per_swapin": 2.0,
            "swapoff_entries_peak": 0, "swapoff_page_table_walk": False,
        },
    })
    check(r, {name: expected[name] for name in DESIGN_NAMES})


def test_pool_limit_writeback_and_redirection(tmp_path: Path, designs_json) -> None:
    """12 pages that each take a whole pool page (huge zsmalloc class), out then in (24 events),
    with a 10-page pool limit: stores resume at 10 * 90 // 100 = 9 pages.

    out 1..10: stored, the pool reaches 10 pages.
    out 11 (VPN 10): pool 10 >= 10 -> full, rejected. Designs that write back move the oldest
      entry (VPN 0) out (pool 9) and write VPN 10 to disk directly; ghosts keep VPN 10 resident.
    out 12 (VPN 11): writeback designs: pool 9 <= 9 clears the full flag -> stored (pool 10);
      ghosts: pool still 10 -> rejected again, resident.
    """
    events = [("out", v, huge_page(v)) for v in range(12)] + [("in", v, None) for v in range(12)]
    trace = write(tmp_path / "b.trace", events)
    r = designs_json(trace, "--ghost-size", "2M", "--real-size", "2M", "--pool-limit", "40K",
                     "--compressor", "lz4", "--designs", OLD_FIVE)
    assert r["config"]["pool_limit_pages"] == 10 and r["config"]["accept_pages"] == 9
    assert r["compressed_pages"] == 12 and r["corrupt_pages"] == 0 and r["verified_pages"] == 12
    pool = {"zswap_pages_peak": 10, "pool_peak_bytes": 10 * 4096}
    # mainline / ghost: one 512-slot device (static 3 * 512 = 1536), one cluster in use from
    # event 1 to 23 (the last page leaves at event 24)
    one_device_mean = (23 * (1536 + CL) + 1536) / 24
    ghost_like = {
        "metadata_peak_bytes": 1536 + CL, "metadata_static_at_peak_bytes": 1536,
        "metadata_dynamic_at_peak_bytes": CL, "metadata_mean_bytes": one_device_mean,
        "metadata_per_stored_page": (1536 + CL) / 10, "stored_pages_peak": 10, **pool,
        "kept_resident": 2, "kept_resident_rejected": 2, "rejected_pool_full": 2,
        "swapins_direct": 12, "lookups_per_swapin": 1.0,  # 10 from zswap, 2 swap-cache hits
        "swapoff_entries_peak": 12, "swapoff_page_table_walk": True,
    }
    # ghost-tiers: ghost 512 + real 512 slots (static 3072); the ghost cluster in use for events
    # 1..23, a real cluster for 11..22 (VPN 0 and 10 redirected; VPN 10 comes back at event 23);
    # 4 bytes per redirection: 2 at events 11-12, 1 at 13..22.
    tiers_sum = (10 * (3072 + CL) + 2 * (3072 + 2 * CL + 8) + 10 * (3072 + 2 * CL + 4)
                 + 1 * (3072 + CL) + 1 * 3072)
    # vswap: physical 512 slots (static 1536); 48 bytes per page out; a physical cluster for
    # events 11..22. Pages out: k after out k; 12 - j after in j.
    vs_sum = (sum(1536 + 48 * k for k in range(1, 11)) + (1536 + 48 * 11 + CL)
              + (1536 + 48 * 12 + CL) + sum(1536 + 48 * (12 - j) + CL for j in range(1, 11))
              + (1536 + 48 * 1) + 1536)
    writeback = {"rejected_pool_full": 1, "written_back": 1, "written_direct": 1}
    check(r, {
        "mainline-6.18": {
            "devices": "real 2 MiB",
            "metadata_peak_bytes": 1536 + CL, "metadata_static_at_peak_bytes": 1536,
            "metadata_dynamic_at_peak_bytes": CL, "metadata_mean_bytes": one_device_mean,
            "metadata_per_stored_page": (1536 + CL) / 12, "stored_pages_peak": 12, **pool,
            "disk_held_peak_bytes": 12 * 4096,
            # slots held by pages not on disk: 10 after out 10, 11 - 2 = 9 after out 11,
            # 12 - 2 = 10 after out 12
            "disk_pinned_peak_bytes": 10 * 4096,
            **writeback,
            "swapins_direct": 12, "lookups_per_swapin": 1.0,
            "swapoff_entries_peak": 12, "swapoff_page_table_walk": True,
        },
        "ghost-rfc": {"devices": "ghost 2 MiB", **ghost_like},
        "ghost-grow": {"devices": "ghost 2 MiB, no growth", **ghost_like},
        "ghost-redirect": {
            "devices": "ghost 2 MiB -> real 2 MiB",
            "metadata_peak_bytes": 3072 + 2 * CL + 8, "metadata_static_at_peak_bytes": 3072,
            "metadata_dynamic_at_peak_bytes": 2 * CL + 8, "metadata_mean_bytes": tiers_sum / 24,
            "metadata_per_stored_page": (3072 + 2 * CL + 8) / 12, "stored_pages_peak": 12,
            **pool, "disk_held_peak_bytes": 2 * 4096, **writeback,
            "redirect_slots_peak": 2,
            "swapins_direct": 10, "swapins_redirected": 2,  # VPN 0 and 10: two lookups
            "lookups_per_swapin": (10 * 1 + 2 * 2) / 12,
            "swapoff_entries_peak": 12, "swapoff_page_table_walk": True,
        },
        "vswap-48": {
            "devices": "virtual + real 2 MiB",
            "metadata_peak_bytes": 1536 + 48 * 12 + CL, "metadata_static_at_peak_bytes": 1536,
            "metadata_dynamic_at_peak_bytes": 48 * 12 + CL, "metadata_mean_bytes": vs_sum / 24,
            "metadata_per_stored_page": (1536 + 48 * 12 + CL) / 12, "stored_pages_peak": 12,
            **pool, "disk_held_peak_bytes": 2 * 4096, **writeback,
            "swapins_redirected": 12, "lookups_per_swapin": 2.0,
            "swapoff_entries_peak": 2, "swapoff_page_table_walk": False,
        },
    })


def test_no_free_slot_growth_and_frees(tmp_path: Path, designs_json) -> None:
    """600 zero pages out, then all 600 freed (1200 events); ghost 2 MiB (511 usable slots), one
    real device of 1 MiB (255 usable slots)."""
    trace = write(tmp_path / "c.trace",
                  [("out", v, "zero") for v in range(600)] + [("free", v, None) for v in range(600)])
    r = designs_json(trace, "--ghost-size", "2M", "--real-size", "1M", "--designs", OLD_FIVE)
    assert r["freed"] == 600 and r["corrupt_pages"] == 0
    # vswap pages out: k after out k, 600 - k after free k
    vs_sum = sum(768 + 48 * k for k in range(1, 601)) + sum(768 + 48 * (600 - k) for k in range(1, 601))
    check(r, {
        "mainline-6.18": {  # 255 pages get a slot, 345 stay resident; static 3 * 256 = 768
            "devices": "real 1 MiB",
            "metadata_peak_bytes": 768 + CL, "metadata_static_at_peak_bytes": 768,
            "metadata_dynamic_at_peak_bytes": CL,
            # 600 outs + 254 frees with the cluster in use, then 346 events without
            "metadata_mean_bytes": (854 * (768 + CL) + 346 * 768) / 1200,
            "metadata_per_stored_page": (768 + CL) / 255, "stored_pages_peak": 255,
            "disk_held_peak_bytes": 255 * 4096, "disk_pinned_peak_bytes": 255 * 4096,
            "kept_resident": 345, "kept_resident_no_slot": 345,
            "swapoff_entries_peak": 255, "swapoff_page_table_walk": True,
        },
        "ghost-rfc": {  # 511 get a slot, 89 stay resident; static 3 * 512 = 1536
            "devices": "ghost 2 MiB",
            "metadata_peak_bytes": 1536 + CL, "metadata_static_at_peak_bytes": 1536,
            "metadata_dynamic_at_peak_bytes": CL,
            "metadata_mean_bytes": (1110 * (1536 + CL) + 90 * 1536) / 1200,  # 600 + 510, 90
            "metadata_per_stored_page": (1536 + CL) / 511, "stored_pages_peak": 511,
            "kept_resident": 89, "kept_resident_no_slot": 89,
            "swapoff_entries_peak": 511, "swapoff_page_table_walk": True,
        },
        "ghost-grow": {  # grows to 2 clusters at the 512th out: everything fits
            "devices": "ghost 2 MiB, grew to 4 MiB",
            "metadata_peak_bytes": 3072 + 2 * CL, "metadata_static_at_peak_bytes": 3072,
            "metadata_dynamic_at_peak_bytes": 2 * CL,
            # outs 1..511: 1536 + 1 cluster; outs 512..600: 3072 + 2; frees 1..510: 3072 + 2;
            # frees 511..599: 3072 + 1 (cluster 0 empty); free 600: 3072
            "metadata_mean_bytes": (511 * (1536 + CL) + 89 * (3072 + 2 * CL)
                                    + 510 * (3072 + 2 * CL) + 89 * (3072 + CL) + 3072) / 1200,
            "metadata_per_stored_page": (3072 + 2 * CL) / 600, "stored_pages_peak": 600,
            "swapoff_entries_peak": 600, "swapoff_page_table_walk": True,
        },
        "ghost-redirect": {  # 511 in the ghost, 89 on the real tier (its zeromap); static 3 * 768 = 2304
            "devices": "ghost 2 MiB -> real 1 MiB",
            "metadata_peak_bytes": 2304 + 2 * CL, "metadata_static_at_peak_bytes": 2304,
            "metadata_dynamic_at_peak_bytes": 2 * CL,
            "metadata_mean_bytes": (511 * (2304 + CL) + 89 * (2304 + 2 * CL)
                                    + 510 * (2304 + 2 * CL) + 89 * (2304 + CL) + 2304) / 1200,
            "metadata_per_stored_page": (2304 + 2 * CL) / 600, "stored_pages_peak": 600,
            "disk_held_peak_bytes": 89 * 4096, "disk_pinned_peak_bytes": 89 * 4096,
            "swapoff_entries_peak": 600, "swapoff_page_table_walk": True,
        },
        "vswap-48": {
            "devices": "virtual + real 1 MiB",
            "metadata_peak_bytes": 768 + 48 * 600, "metadata_static_at_peak_bytes": 768,
            "metadata_dynamic_at_peak_bytes": 48 * 600, "metadata_mean_bytes": vs_sum / 1200,
            "metadata_per_stored_page": (768 + 48 * 600) / 600, "stored_pages_peak": 600,
            "swapoff_entries_peak": 0, "swapoff_page_table_walk": False,
        },
    })


def test_parameters_change_the_figures(tmp_path: Path, designs_json) -> None:
    """The thread's other figures through --param: VS at 64 bytes (its earlier size), the 24
    bytes Chris Li first guessed, no redirection cost (Yosry Ahmed's reading: the swap-cache
    pointer is reused), and a ghost that may not grow."""
    trace = write(tmp_path / "c.trace",
                  [("out", v, "zero") for v in range(600)] + [("free", v, None) for v in range(600)])
    for entry in (64, 24):
        r = designs_json(trace, "--ghost-size", "2M", "--real-size", "1M", "--designs", "vswap",
                         "--param", f"vswap.entry_bytes={entry}")  # the old names still work
        assert r["designs"]["vswap-48"]["metadata_peak_bytes"] == 768 + entry * 600
        assert r["params"]["vswap-48.entry_bytes"] == entry
    r = designs_json(trace, "--ghost-size", "2M", "--designs", "ghost-rfc,ghost-grow",
                     "--param", "ghost-grow.max_clusters=1", "--param", "ghost-rfc.static_bytes=1")
    assert list(r["designs"]) == ["ghost-rfc", "ghost-grow"]
    g, d = r["designs"]["ghost-rfc"], r["designs"]["ghost-grow"]
    assert g["metadata_static_at_peak_bytes"] == 512  # 1 byte * 512 slots
    assert d["devices"] == "ghost 2 MiB, no growth" and d["kept_resident_no_slot"] == 89
    assert d["metadata_peak_bytes"] == 1536 + CL


def test_swap_tiers_follow_the_cgroups_tiers(tmp_path: Path, designs_json) -> None:
    """300 zero pages out and back in; a 1 MiB fast tier (255 usable slots) and a 2 MiB slow one
    (511): the cgroup's tier settings decide where they go; with zswap off for the cgroup the
    (compressible) pages go to disk directly."""
    trace = write(tmp_path / "t.trace",
                  [("out", v, "zero") for v in range(300)] + [("in", v, None) for v in range(300)])
    args = ("--designs", "swap-tiers", "--real-size", "1M", "--real-size", "2M")

    def tiers(*params: str) -> dict[str, Any]:
        r = designs_json(trace, *args, *(x for p in params for x in ("--param", p)))
        return r["designs"]["swap-tiers"]

    both = tiers()
    assert both["disk_held_peak_bytes"] == 300 * 4096 and both["disk_slow_peak_bytes"] == 45 * 4096
    slow_only = tiers("swap-tiers.fast=0")
    assert slow_only["devices"].endswith("cgroup tiers: slow, zswap")
    assert slow_only["disk_slow_peak_bytes"] == slow_only["disk_held_peak_bytes"] == 300 * 4096
    fast_only = tiers("swap-tiers.slow=0")
    assert fast_only["disk_slow_peak_bytes"] == 0 and fast_only["kept_resident_no_slot"] == 45
    none = tiers("swap-tiers.fast=0", "swap-tiers.slow=0")
    assert none["kept_resident_no_slot"] == 300 and none["stored_pages_peak"] == 0
    assert none["devices"].endswith("cgroup tiers: zswap")
    # zswap off: the pages are written to their slot (a zero page would still go to the zeromap)
    trace = write(tmp_path / "h.trace",
                  [("out", v, huge_page(v)) for v in range(8)] + [("in", v, None) for v in range(8)])
    r = designs_json(trace, *args, "--param", "swap-tiers.zswap=0", "--compressor", "lz4")
    d = r["designs"]["swap-tiers"]
    assert d["written_direct"] == 8 and d["zswap_pages_peak"] == 0 and d["pool_peak_bytes"] == 0
    assert d["disk_pinned_peak_bytes"] == 0 and d["swapins_direct"] == 8
