"""Consistency checks of a simulated kernel's state, and a read-only check of every page.

``check_state`` cross-checks what the kernel keeps twice (swap_map counts against the page
table and the zswap pool, counters against rows, the pool's bytes against its entries, backing
files against the identity recorded at swapon) and returns one line per problem.
``verify_pages`` reads every swapped-out page from wherever it lives (zeromap, zswap, swap
cache, the swap file) without changing anything and checks it against its CRC32.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from typing import TYPE_CHECKING

from ghostswap_cli.kernel.cluster import (
    LOC_CACHE,
    LOC_DISK,
    LOC_KIND,
    LOC_NONE,
    LOC_ZERO,
    LOC_ZSWAP,
)
from ghostswap_cli.kernel.mm import PTE_PRESENT, PTRS_PER_PTE
from ghostswap_cli.uapi import (
    SWAP_HAS_CACHE,
    SWAP_MAP_BAD,
    SWAPFILE_CLUSTER,
    SWP_OFFSET_MASK,
    SWP_TYPE_SHIFT,
)

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel

__all__ = ("check_state", "verify_pages", "PageCheck", "swapped_ptes")


def swapped_ptes(k: Kernel):
    """(vpn, swap entry, crc32) of every PTE that holds a swap entry, in VPN order."""
    mm = k.mm
    for key in sorted(mm.table):
        ptes, csums = mm.table[key]
        base = key * PTRS_PER_PTE
        for i in range(PTRS_PER_PTE):
            pte = ptes[i]
            if pte and pte != PTE_PRESENT:
                yield base + i, pte, csums[i]


def check_state(k: Kernel) -> list[str]:
    problems: list[str] = []
    mm = k.mm
    zswap = k.zswap
    # 1. backing files still there and the same file
    for si in k.active():
        try:
            st = os.stat(si.path)
        except OSError as e:
            problems.append(f"swap type {si.type}: {si.path}: {e.strerror}")
            continue
        if (st.st_dev, st.st_ino) != (si.dev, si.ino):
            problems.append(f"swap type {si.type}: {si.path} is not the file that was swapped on "
                            f"(device/inode changed)")
        elif not si.is_ghost and st.st_size < si.max * k.page_size:
            problems.append(f"swap type {si.type}: {si.path} is shorter ({st.st_size} bytes) than "
                            f"its swap area ({si.max * k.page_size} bytes)")
        elif si.is_ghost and st.st_size != k.page_size:
            problems.append(f"swap type {si.type}: ghost {si.path} is no longer one page "
                            f"({st.st_size} bytes)")
    # 2. slot maps against themselves
    refs: dict[int, int] = {}  # swap entry -> PTE references
    for vpn, pte, _csum in swapped_ptes(k):
        refs[pte] = refs.get(pte, 0) + 1
        si = k.swap_info_for_type(pte >> SWP_TYPE_SHIFT)
        if si is None:
            problems.append(f"page {vpn:#x}: PTE points at swap type {pte >> SWP_TYPE_SHIFT}, "
                            f"which is not active")
    cache_slots = 0
    zswap_slots: dict[int, int] = {}
    for si in k.active():
        slots = si.slots
        used = 0
        for idx, c in slots.clusters.items():
            base = idx * SWAPFILE_CLUSTER
            count = 0
            for i in range(SWAPFILE_CLUSTER):
                v = c.map[i]
                if not v:
                    if c.loc[i] != LOC_NONE:
                        problems.append(f"swap type {si.type} slot {base + i}: free but holds data")
                    continue
                count += 1
                if v == SWAP_MAP_BAD:
                    continue
                used += 1
                off = base + i
                swp = (si.type << SWP_TYPE_SHIFT) | off
                kind = c.loc[i] & LOC_KIND
                if v == SWAP_HAS_CACHE:
                    continue  # held for deferred reuse; no page maps it
                n = refs.pop(swp, 0)
                if n != v:
                    problems.append(f"swap type {si.type} slot {off}: swap_map count {v} but "
                                    f"{n} page-table references")
                if kind == LOC_CACHE:
                    cache_slots += 1
                elif kind == LOC_ZSWAP:
                    zswap_slots[c.ref[i]] = swp
                elif kind == LOC_DISK and si.is_ghost:
                    problems.append(f"swap type {si.type} slot {off}: ghost slot claims disk data")
                elif kind == LOC_NONE:
                    problems.append(f"swap type {si.type} slot {off}: in use but holds no data")
                elif kind not in (LOC_ZERO, LOC_DISK):
                    problems.append(f"swap type {si.type} slot {off}: unknown location {kind}")
            if count != c.count:
                problems.append(f"swap type {si.type} cluster {idx}: count {c.count}, "
                                f"swap_map says {count}")
        if used != slots.inuse_pages:
            problems.append(f"swap type {si.type}: inuse_pages {slots.inuse_pages}, "
                            f"swap_map says {used}")
    for swp, n in refs.items():
        problems.append(f"swap entry {swp >> SWP_TYPE_SHIFT}:{swp & SWP_OFFSET_MASK}: "
                        f"{n} page-table references to a free slot")
    # 3. zswap entries against the slots, the LRU and the pool model
    live = list(zswap.live_entries())
    if len(live) != zswap.stored_pages:
        problems.append(f"zswap: stored_pages {zswap.stored_pages}, entries say {len(live)}")
    for eid in live:
        swp = zswap.e_swp[eid]
        if zswap_slots.pop(eid, None) != swp:
            problems.append(f"zswap entry {eid}: slot {swp >> SWP_TYPE_SHIFT}:"
                            f"{swp & SWP_OFFSET_MASK} does not point back at it")
    for eid, swp in zswap_slots.items():
        problems.append(f"slot {swp >> SWP_TYPE_SHIFT}:{swp & SWP_OFFSET_MASK}: points at zswap "
                        f"entry {eid}, which is not stored")
    seen = 0
    eid = zswap.lru_head
    prev = 0
    limit = len(live) + 1
    while eid and seen <= limit:
        if zswap.e_prev[eid] != prev:
            problems.append(f"zswap LRU: entry {eid} has a broken back link")
            break
        prev = eid
        eid = zswap.e_next[eid]
        seen += 1
    if seen != len(live) or zswap.lru_tail != prev:
        problems.append(f"zswap LRU: {seen} entries on the list, {len(live)} stored")
    expected = _model_from_entries(k, live)
    if expected != zswap.model.pool_pages:
        problems.append(f"zswap pool: {zswap.model.pool_pages} pages accounted, entries need "
                        f"{expected}")
    # 4. counters against rows
    if cache_slots != k.counters["nr_swapcache_pages"]:
        problems.append(f"nr_swapcache_pages {k.counters['nr_swapcache_pages']}, slots say "
                        f"{cache_slots}")
    present = sum(ptes.count(PTE_PRESENT) for ptes, _ in mm.table.values())
    if present != mm.present_pages:
        problems.append(f"present pages {mm.present_pages}, page table says {present}")
    from ghostswap_cli.kernel.swapfile import _counts_as_rotational

    rotate = sum(1 for si in k.active() if _counts_as_rotational(k, si))
    if k.machine["ghost_rotate_leak"] != "1" and rotate != k.counters["nr_rotate_swap"]:
        problems.append(f"nr_rotate_swap {k.counters['nr_rotate_swap']}, rows say {rotate}")
    # 5. the pool's bytes against its entries and the swap cache
    extents = [(zswap.e_handle[e], zswap.e_len[e]) for e in live]
    for si in k.active():
        for c in si.slots.clusters.values():
            for i in range(SWAPFILE_CLUSTER):
                if c.loc[i] & LOC_KIND == LOC_CACHE:
                    extents.append((c.ref[i], k.page_size))
    problems.extend(f"zswap pool: {p}" for p in k.arena.check(extents))
    return problems


def _model_from_entries(k: Kernel, live: list[int]) -> int:
    from ghostswap_cli.kernel.zsmalloc import ZsPoolModel

    model = ZsPoolModel(k.page_size)
    for eid in live:
        model.obj_store(k.zswap.e_len[eid])
    return model.pool_pages


@dataclasses.dataclass
class PageCheck:
    checked: int = 0
    corrupt: list[int] = dataclasses.field(default_factory=list)  # VPNs
    missing: list[int] = dataclasses.field(default_factory=list)  # VPNs whose data is gone


def verify_pages(k: Kernel) -> PageCheck:
    """Read every swapped-out page without changing anything and check its CRC32."""
    result = PageCheck()
    zswap = k.zswap
    ps = k.page_size
    zero = bytes(ps)
    fds: dict[int, int] = {}
    try:
        for vpn, pte, csum in swapped_ptes(k):
            si = k.swap_info_for_type(pte >> SWP_TYPE_SHIFT)
            if si is None or si.slots is None:
                result.missing.append(vpn)
                continue
            offset = pte & SWP_OFFSET_MASK
            c = si.slots.clusters.get(offset // SWAPFILE_CLUSTER)
            if c is None:
                result.missing.append(vpn)
                continue
            j = offset % SWAPFILE_CLUSTER
            kind = c.loc[j] & LOC_KIND
            page: bytes | None
            if kind == LOC_ZERO:
                page = zero
            elif kind == LOC_ZSWAP:
                page = zswap.decompress(c.ref[j])
            elif kind == LOC_CACHE:
                page = k.arena.read(c.ref[j], ps)
            elif kind == LOC_DISK and not si.is_ghost:
                fd = fds.get(si.type)
                if fd is None:
                    try:
                        fd = fds[si.type] = os.open(si.path, os.O_RDONLY)
                    except OSError:
                        result.missing.append(vpn)
                        continue
                page = os.pread(fd, ps, offset * ps)
            else:
                result.missing.append(vpn)
                continue
            result.checked += 1
            if page is None or len(page) != ps or zlib.crc32(page) != csum:
                result.corrupt.append(vpn)
    finally:
        for fd in fds.values():
            os.close(fd)
    return result
