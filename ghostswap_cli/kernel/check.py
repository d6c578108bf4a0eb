"""Consistency checks of a simulated kernel's state, record validators, and a page check.

Three layers, from the bytes up:

* **Record validators** (``decode_swap_info_row``, ``check_params``, ``decode_cluster_row``,
  ``restore_slots``, ``check_zswap_layout``, ``check_zswap_links``): what the loader in
  :mod:`ghostswap_cli.kernel.machine` runs on every row and blob it reads, so that a corrupt
  state ends in a :class:`~ghostswap_cli.errors.StateError` with a way out instead of a
  traceback, and never in an allocation sized by a corrupt number. They raise ``ValueError``
  with a one-line reason; they are cheap (C-speed scans of arrays, no per-slot Python loops).
* **Cross-checks** (``find_problems``; ``check_state`` keeps the old list-of-strings form):
  what the kernel keeps twice is compared (swap_map counts against the page table and the zswap
  pool, counters against rows, the pool's bytes against its entries, the LRU links, the cluster
  allocator's lists against its clusters, backing files against the identity recorded at
  swapon). Each finding is a :class:`Problem`: a stable ``kind`` and one line of text.
* **Page check** (``verify_pages``): every swapped-out page is read from wherever it lives
  (zeromap, zswap, swap cache, the swap file) without changing anything and compared with the
  CRC32 recorded when it went out.

``ghostswap kernel fsck`` (:mod:`ghostswap_cli.kernel.repair`) drives all three.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import zlib
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ghostswap_cli.errors import GhostswapError
from ghostswap_cli.kernel.cluster import (
    LOC_CACHE,
    LOC_COMMITTED,
    LOC_DISK,
    LOC_KIND,
    LOC_NONE,
    LOC_ZERO,
    LOC_ZSWAP,
    Cluster,
    SwapSlots,
)
from ghostswap_cli.kernel.mm import PTE_PRESENT, PTRS_PER_PTE
from ghostswap_cli.kernel.records import (  # the validators every command runs, kept light
    SWAP_INFO_COLUMNS,
    check_params,
    decode_swap_info_row,
)
from ghostswap_cli.kernel.swapfile import SwapInfoStruct
from ghostswap_cli.uapi import (
    SWAP_FLAG_PREFER,
    SWAP_HAS_CACHE,
    SWAP_MAP_BAD,
    SWAP_MAP_MAX,
    SWAP_SIGNATURE,
    SWAP_SIGNATURE_SZ,
    SWAPFILE_CLUSTER,
    SWP_OFFSET_MASK,
    SWP_TYPE_SHIFT,
)

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel

__all__ = (
    "Problem",
    "PageCheck",
    "check_state",
    "find_problems",
    "verify_pages",
    "swapped_ptes",
    "read_page",
    "backing_problem",
    "SWAP_INFO_COLUMNS",
    "MAX_PTE_CHUNKS",
    "decode_swap_info_row",
    "check_params",
    "decode_cluster_row",
    "restore_slots",
    "check_zswap_layout",
    "check_zswap_links",
    "expected_special_clusters",
    "MAX_LINES_PER_KIND",
)

_CL = SWAPFILE_CLUSTER
_SHIFT = SWP_TYPE_SHIFT
_MASK = SWP_OFFSET_MASK
UINT_MAX = 0xFFFFFFFF
#: PTE pages: VPNs are below 2**52 (a 64-bit address space of 4 KiB pages).
MAX_PTE_CHUNKS = (1 << 52) // PTRS_PER_PTE
#: Problems of one kind listed one per line before the rest are summed up in one line.
MAX_LINES_PER_KIND = 50
ENTRY_CHUNK = 4096  # zswap entries per persisted record (zswap.ENTRY_CHUNK)
ENTRY_BYTES = 20  # bytes per zswap entry in a record (zswap.ENTRY_BYTES; schema 2; 24 in 1)
# every byte a swap_map slot may hold: a use count, SWAP_MAP_BAD, or SWAP_HAS_CACHE (+ count)
_VALID_MAP = bytes(
    sorted({*range(SWAP_MAP_MAX + 1), SWAP_MAP_BAD, *(SWAP_HAS_CACHE | c for c in range(SWAP_MAP_MAX + 1))})
)
_VALID_LOC = bytes(
    sorted({k | c for k in (LOC_NONE, LOC_ZERO, LOC_ZSWAP, LOC_CACHE, LOC_DISK) for c in (0, LOC_COMMITTED)})
)
_LOC_NAMES = {LOC_ZERO: "zeromap", LOC_ZSWAP: "zswap", LOC_CACHE: "swap cache", LOC_DISK: "disk"}


def _swp(swp: int) -> str:
    return f"{swp >> _SHIFT}:{swp & _MASK}"


# --- record validators (used by the loader on every command) ----------------------------------

def nr_clusters(si: SwapInfoStruct) -> int:
    return (si.max + _CL - 1) // _CL


def decode_cluster_row(si: SwapInfoStruct, idx: object, data: object) -> Cluster:
    """A ``clusters`` row of ``si``; ``ValueError`` when it cannot be one swapon's slots made."""
    if not isinstance(idx, int) or not 0 <= idx < nr_clusters(si):
        raise ValueError(f"cluster record {idx!r} lies outside the area")
    if not isinstance(data, bytes):
        raise ValueError(f"cluster record {idx} is not a blob")
    c = Cluster.from_bytes(idx, data)
    if c.map.translate(None, _VALID_MAP) or c.loc.translate(None, _VALID_LOC):
        raise ValueError(f"cluster record {idx} holds impossible slot values")
    return c


def restore_slots(si: SwapInfoStruct, state: object, clusters: dict[int, Cluster]) -> SwapSlots:
    """``SwapSlots.restore`` after checking the allocator blob against the area's size."""
    if not isinstance(state, bytes) or len(state) < 48 or len(state) % 8:
        raise ValueError("allocator state is malformed")
    a = array("Q")
    a.frombytes(state)
    if 6 + a[3] + a[4] + a[5] != len(a):
        raise ValueError("allocator state is malformed (list lengths)")
    n = nr_clusters(si)
    if a[0] > n or a[1] >= si.max or a[2] > si.max or (len(a) > 6 and max(a[6:]) >= n):
        raise ValueError("allocator state points outside the area")
    used = sum(_CL - c.map.count(0) - c.map.count(SWAP_MAP_BAD) for c in clusters.values())
    if used != a[2]:
        # inuse_pages would run below zero as the slots are freed
        raise ValueError(f"allocator counts {a[2]} slots in use, its clusters {used}")
    return SwapSlots.restore(si.max, state, clusters)


def check_zswap_layout(state: object, rows: list) -> int:
    """Check the zswap index blob and its entry records (ordered by chunk) against each other;
    returns the number of entry ids (``len(e_handle)``). Entry records are written for every
    id ever allocated, so they are chunks 0..m, all full but the last."""
    if not state:
        if rows:
            raise ValueError("entry records without an index state")
        return 1
    if not isinstance(state, bytes) or len(state) < 48 or (len(state) - 48) % 4:
        raise ValueError("index state is malformed")
    head = array("Q")
    head.frombytes(state[:48])
    lru_head, lru_tail, stored, full, n, nfree = head
    if len(state) != 48 + 4 * nfree:
        raise ValueError("index state is malformed (free list length)")
    end = 1
    for i, (chunk, data) in enumerate(rows):
        if chunk != i:
            raise ValueError(f"entry record {chunk!r} out of sequence")
        if not isinstance(data, bytes) or len(data) < 4:
            raise ValueError(f"entry record {chunk} is malformed")
        count = int.from_bytes(data[:4], "little")
        if count > ENTRY_CHUNK or len(data) not in (4 + ENTRY_BYTES * count, 4 + 24 * count) or (
            i < len(rows) - 1 and count != ENTRY_CHUNK
        ):
            raise ValueError(f"entry record {chunk} is malformed")
        end = chunk * ENTRY_CHUNK + count
    if n != end:
        raise ValueError(f"index state counts {n} entry ids, the records hold {end}")
    if lru_head >= n or lru_tail >= n or stored >= n or full > 1:
        raise ValueError("index state points outside the entries")
    if nfree:
        free = array("I")
        free.frombytes(state[48:])
        if min(free) == 0 or max(free) >= n:
            raise ValueError("free entry list points outside the entries")
    return n


def check_zswap_links(z) -> None:
    """LRU links must name entry ids that exist (the walk itself is fsck's job), the stored
    count must be the stored entries (it is decremented on every free), and a free id must be
    free and listed once (it is handed out again)."""
    n = len(z.e_handle)
    if max(z.e_prev) >= n or max(z.e_next) >= n:
        raise ValueError("LRU links point outside the entries")
    live = n - z.e_swp.count(0)  # id 0 is never an entry
    if live != z.stored_pages:
        raise ValueError(f"{z.stored_pages} pages counted stored, {live} entries hold one")
    free = z.free_ids
    if len(set(free)) != len(free) or any(z.e_swp[i] for i in free):
        raise ValueError("free entry list names an entry in use, or one twice")


def expected_special_clusters(si: SwapInfoStruct) -> set[int]:
    """Clusters holding the header slot, a bad page or the slots past ``max`` (``_setup``)."""
    n = nr_clusters(si)
    special = {0, *(b // _CL for b in si.badpages)}
    if si.max < n * _CL:
        special.add(si.max // _CL)
    return {i for i in special if i < n}


# --- problems ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Problem:
    """One inconsistency: ``kind`` is stable (tests, ``--json``), ``text`` is the line shown."""

    kind: str
    text: str


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, kind: str, text: str) -> None:
        from ghostswap_cli.state.db import printable

        self.items.append(Problem(kind, printable(text)))  # one line, whatever a path holds

    def capped(self) -> list[Problem]:
        """At most MAX_LINES_PER_KIND lines per kind; the rest summed up in one line."""
        out: list[Problem] = []
        seen: dict[str, int] = {}
        for p in self.items:
            n = seen[p.kind] = seen.get(p.kind, 0) + 1
            if n <= MAX_LINES_PER_KIND:
                out.append(p)
        for kind, n in seen.items():
            if n > MAX_LINES_PER_KIND:
                out.append(Problem(kind, f"... and {n - MAX_LINES_PER_KIND} more problems of "
                                         f"kind {kind}"))
        return out


def swapped_ptes(k: Kernel) -> Iterator[tuple[int, int, int]]:
    """(vpn, swap entry, crc32) of every PTE that holds a swap entry, in VPN order."""
    mm = k.mm
    for key in sorted(mm.table):
        ptes, csums = mm.table[key]
        if ptes.count(0) + ptes.count(PTE_PRESENT) == PTRS_PER_PTE:
            continue
        base = key * PTRS_PER_PTE
        for i in range(PTRS_PER_PTE):
            pte = ptes[i]
            if pte and pte != PTE_PRESENT:
                yield base + i, pte, csums[i]


def backing_problem(k: Kernel, si: SwapInfoStruct) -> Problem | None:
    """Is the file behind ``si`` still there, the same inode, big enough, still its header?"""
    from ghostswap_cli.kernel.swapfile import backing_path

    where = f"swap type {si.type}: {si.path}"
    path = backing_path(k.directory, si)
    try:
        st = os.stat(path)
    except OSError as e:
        return Problem("backing-missing", f"{where}: {e.strerror}")
    if not stat.S_ISREG(st.st_mode):
        return Problem("backing-replaced", f"{where}: no longer a regular file")
    if (st.st_dev, st.st_ino) != (si.dev, si.ino):
        return Problem("backing-replaced", f"{where}: not the file that was swapped on "
                                           f"(device/inode changed)")
    ps = k.page_size
    if si.is_ghost and st.st_size != ps:
        return Problem("backing-resized", f"{where}: ghost is no longer one page "
                                          f"({st.st_size} bytes)")
    if not si.is_ghost and st.st_size < si.max * ps:
        return Problem("backing-resized", f"{where}: shorter ({st.st_size} bytes) than its "
                                          f"swap area ({si.max * ps} bytes)")
    try:
        with open(path, "rb") as f:
            page = f.read(ps)
    except OSError as e:
        return Problem("backing-unreadable", f"{where}: {e.strerror}")
    if page[ps - SWAP_SIGNATURE_SZ : ps] != SWAP_SIGNATURE:
        return Problem("backing-header", f"{where}: swap signature is gone (file overwritten)")
    from ghostswap_cli.codec.swap_header import (
        detect_byteorder,
        format_uuid,
        parse_swap_header,
    )

    try:
        h = parse_swap_header(page, ps, detect_byteorder(page, ps))
    except Exception:  # noqa: BLE001 - construct's errors; the signature is there, so unlikely
        return Problem("backing-header", f"{where}: swap header is unreadable")
    uuid = format_uuid(h.sws_uuid) if any(h.sws_uuid) else ""
    if uuid != si.uuid:
        return Problem("backing-header", f"{where}: header UUID is {uuid or 'clear'}, was "
                                         f"{si.uuid or 'clear'} at swapon (mkswap run again?)")
    if si.is_ghost:
        declared = min(h.last_page + 1, UINT_MAX) if h.last_page + 1 < (1 << 50) else si.max
        if declared != si.max:
            return Problem("backing-header", f"{where}: ghost header now declares "
                                             f"{h.last_page + 1} pages, {si.max} at swapon")
    return None


def check_state(k: Kernel) -> list[str]:
    """Every problem ``find_problems`` finds, as one line each."""
    return [p.text for p in find_problems(k)]


def find_problems(k: Kernel, *, pool_available: bool = True) -> list[Problem]:
    """Cross-check the loaded state (slots, page table, zswap, arena must be loadable).

    ``pool_available=False``: the pool file could not be opened (fsck reported why); its
    bytes are not checked.
    """
    out = _Problems()
    add = out.add
    mm = k.mm
    zswap = k.zswap
    ps = k.page_size
    active = k.active()
    # 1. backing files still there and the same file
    seen_files: dict[tuple[int, int], int] = {}
    for si in active:
        p = backing_problem(k, si)
        if p is not None:
            add(p.kind, p.text)
        other = seen_files.setdefault((si.dev, si.ino), si.type)
        if other != si.type:
            add("duplicate-area", f"swap type {si.type}: {si.path} is also active as swap type "
                                  f"{other}")
    # 2. page table -> slots
    refs: dict[int, int] = {}  # swap entry -> PTE references
    for vpn, pte, _csum in swapped_ptes(k):
        refs[pte] = refs.get(pte, 0) + 1
        t, off = pte >> _SHIFT, pte & _MASK
        si = k.swap_info_for_type(t)
        if si is None:
            add("pte-inactive", f"page {vpn:#x}: swap entry {_swp(pte)} is on swap type {t}, "
                                f"which is not active")
        elif not 0 < off < si.max:
            add("pte-offset", f"page {vpn:#x}: swap entry {_swp(pte)} lies outside the area "
                              f"({si.max} slots)")
        elif si.slots is not None and off // _CL not in si.slots.clusters:
            add("cluster-lost", f"page {vpn:#x}: swap entry {_swp(pte)} has no cluster record "
                                f"(cluster {off // _CL} of swap type {t} is lost)")
    # 3. slots -> page table, data, zswap
    cache_slots = 0
    zswap_slots: dict[int, int] = {}  # entry id -> swap entry of the slot naming it
    cache_extents: list[tuple[int, int]] = []
    for si in active:
        slots = si.slots
        if slots is None:
            continue
        used = 0
        base_t = si.type << _SHIFT
        special = expected_special_clusters(si)
        for idx in sorted(slots.clusters):
            c = slots.clusters[idx]
            m, loc = c.map, c.loc
            base = idx * _CL
            if idx in special:
                bad_here = {0} if idx == 0 else set()
                bad_here |= {b % _CL for b in si.badpages if b // _CL == idx}
                bad_here |= {i for i in range(_CL) if base + i >= si.max}
                wrong = [i for i in bad_here if m[i] != SWAP_MAP_BAD]
                if wrong:
                    add("swap-map", f"swap type {si.type} slot {base + wrong[0]}: header, bad or "
                                    f"reserved slot is not marked SWAP_MAP_BAD")
            else:
                bad_here = set()
            if m.count(0) == _CL and idx not in special:
                add("allocator", f"swap type {si.type} cluster {idx}: record of an empty "
                                 f"cluster (should have been freed)")
            for i in range(_CL):
                v = m[i]
                if not v:
                    if loc[i] != LOC_NONE:
                        add("slot-data", f"swap type {si.type} slot {base + i}: free but holds "
                                         f"data")
                    continue
                if v == SWAP_MAP_BAD:
                    if i not in bad_here:
                        add("swap-map", f"swap type {si.type} slot {base + i}: marked bad but "
                                        f"the area lists no bad page there")
                    continue
                used += 1
                off = base + i
                swp = base_t | off
                if v & SWAP_HAS_CACHE:
                    add("swap-map", f"swap type {si.type} slot {off}: still held for deferred "
                                    f"reuse in a committed state")
                    continue
                n = refs.pop(swp, 0)
                if n != v:
                    add("swap-map", f"swap type {si.type} slot {off}: swap_map count {v} but "
                                    f"{n} page-table references")
                kind = loc[i] & LOC_KIND
                if kind == LOC_CACHE:
                    cache_slots += 1
                    cache_extents.append((c.ref[i], ps))
                elif kind == LOC_ZSWAP:
                    if c.ref[i] in zswap_slots:
                        add("zswap-link", f"slot {_swp(swp)}: names zswap entry {c.ref[i]}, "
                                          f"which slot {_swp(zswap_slots[c.ref[i]])} names too")
                    zswap_slots[c.ref[i]] = swp
                elif kind == LOC_DISK and si.is_ghost:
                    add("slot-data", f"swap type {si.type} slot {off}: ghost slot claims disk "
                                     f"data")
                elif kind == LOC_NONE:
                    add("slot-data", f"swap type {si.type} slot {off}: in use but holds no data")
        if used != slots.inuse_pages:
            add("inuse-pages", f"swap type {si.type}: inuse_pages {slots.inuse_pages}, "
                               f"swap_map says {used}")
        if si.inuse_pages_saved != used:
            add("inuse-pages", f"swap type {si.type}: swap_info row says {si.inuse_pages_saved} "
                               f"pages in use, swap_map says {used}")
        _check_allocator(k, si, add)
    for swp, n in refs.items():
        si = k.swap_info_for_type(swp >> _SHIFT)
        off = swp & _MASK
        if si is None or si.slots is None or not 0 < off < si.max or \
                off // _CL not in si.slots.clusters:
            continue  # reported above, from the page's side
        add("swap-map", f"swap entry {_swp(swp)}: {n} page-table references to a free slot")
    # 4. zswap entries against the slots, the LRU and the pool model
    live = list(zswap.live_entries())
    nids = len(zswap.e_swp)
    if len(live) != zswap.stored_pages:
        add("zswap-count", f"zswap: stored_pages {zswap.stored_pages}, entries say {len(live)}")
    for eid in live:
        swp = zswap.e_swp[eid]
        named_by = zswap_slots.pop(eid, None)
        if named_by is None:
            add("zswap-link", f"zswap entry {eid}: slot {_swp(swp)} does not point back at it")
        elif named_by != swp:
            add("zswap-link", f"zswap entry {eid}: says slot {_swp(swp)}, but slot "
                              f"{_swp(named_by)} points at it")
        if not 0 < zswap.e_len[eid] < ps:
            add("zswap-entry", f"zswap entry {eid}: impossible length {zswap.e_len[eid]}")
    for eid, swp in zswap_slots.items():
        add("zswap-link", f"slot {_swp(swp)}: points at zswap entry {eid}, which is not stored")
    free_ids = list(zswap.free_ids)
    live_set = set(live)
    free_set = set(free_ids)
    if len(free_set) != len(free_ids):
        add("zswap-free", "zswap: free entry list names an entry twice")
    if free_set & live_set:
        add("zswap-free", f"zswap: {len(free_set & live_set)} stored entries are also on the "
                          f"free list")
    leaked = nids - 1 - len(live_set) - len(free_set - live_set)
    if leaked > 0:
        add("zswap-free", f"zswap: {leaked} entry ids are neither stored nor free")
    _check_lru(zswap, live_set, add)
    expected = _model_from_entries(k, live)
    model = zswap.model
    if expected.objects != model.objects:
        add("zswap-model", f"zswap pool: {model.stored_objects} objects in {model.pool_pages} "
                           f"pages accounted, entries need {expected.stored_objects} in "
                           f"{expected.pool_pages}")
    # 5. counters against rows
    if cache_slots != k.counters["nr_swapcache_pages"]:
        add("counter", f"counter nr_swapcache_pages {k.counters['nr_swapcache_pages']}, slots "
                       f"say {cache_slots}")
    present = sum(ptes.count(PTE_PRESENT) for ptes, _ in mm.table.values())
    if present != mm.present_pages:
        add("counter", f"present pages {mm.present_pages}, page table says {present}")
    if k.counters["nr_present_pages"] != present:
        add("counter", f"counter nr_present_pages {k.counters['nr_present_pages']}, page table "
                       f"says {present}")
    from ghostswap_cli.kernel.swapfile import _counts_as_rotational

    if k.machine["ghost_rotate_leak"] != "1":
        rotate = sum(1 for si in active if _counts_as_rotational(k, si))
        if rotate != k.counters["nr_rotate_swap"]:
            add("counter", f"counter nr_rotate_swap {k.counters['nr_rotate_swap']}, rows say "
                           f"{rotate}")
    if k.machine["prio_scheme"] == "decrement":
        least = -1 - sum(1 for si in active if not si.swap_flags & SWAP_FLAG_PREFER)
        if least != k.counters["least_priority"]:
            add("counter", f"counter least_priority {k.counters['least_priority']}, rows say "
                           f"{least}")
    for name in ("total_swap_pages", "nr_swap_pages"):
        if name in k.counters and k.counters[name] != getattr(k, name):
            add("counter", f"counter {name} {k.counters[name]}, rows say {getattr(k, name)}")
    # 6. the pool's bytes against its entries and the swap cache
    if pool_available:
        extents = [(zswap.e_handle[e], zswap.e_len[e]) for e in live] + cache_extents
        for text in k.arena.check(extents):
            add("pool", f"zswap pool: {text}")
    # 7. pages swapoff could not read back (it failed with EIO): still so?
    if k.unreadable:
        fds: dict[str, int] = {}
        try:
            for vpn in sorted(k.unreadable):
                pte, csum = mm.lookup(vpn)
                if not pte or pte == PTE_PRESENT:
                    continue
                si = k.swap_info_for_type(pte >> _SHIFT)
                offset = pte & _MASK
                c = si.slots.clusters.get(offset // _CL) if si is not None and si.slots else None
                page = None
                if c is not None and pool_available:
                    j = offset % _CL
                    page = read_page(k, si, offset, c.loc[j], c.ref[j], fds)
                if page is None or zlib.crc32(page) != csum:
                    add("page-unreadable", f"page {vpn:#x}: swap entry {_swp(pte)} cannot be read "
                                           f"back with its bytes (swapoff failed on it)")
        finally:
            for fd in fds.values():
                os.close(fd)
    return out.capped()


def _check_allocator(k: Kernel, si: SwapInfoStruct, add) -> None:
    """The cluster allocator's cursor and lists against its clusters (``SwapSlots``)."""
    s = si.slots
    t = si.type
    n = nr_clusters(si)
    special = expected_special_clusters(si)
    if set(s._special) != special:
        add("allocator", f"swap type {t}: allocator's special clusters "
                         f"{sorted(s._special)[:4]} differ from the area's {sorted(special)[:4]}")
    missing = sorted(special - set(s.clusters))
    if missing:
        add("cluster-lost", f"swap type {t}: record of cluster {missing[0]} (header or bad "
                            f"pages) is lost")
    if s.next_fresh > n:
        add("allocator", f"swap type {t}: next fresh cluster {s.next_fresh} past the end ({n})")
    freed = list(s.freed)
    freed_set = set(freed)
    if len(freed_set) != len(freed):
        add("allocator", f"swap type {t}: free cluster list names a cluster twice")
    both = freed_set & set(s.clusters)
    if both:
        add("allocator", f"swap type {t}: cluster {min(both)} is in use and on the free list")
    beyond = [i for i in freed if i >= s.next_fresh or i in special]
    if beyond:
        add("allocator", f"swap type {t}: free cluster list names cluster {beyond[0]}, which "
                         f"was never handed out")
    # every cluster below next_fresh was handed out: it is in use (has a record) or free
    below = min(s.next_fresh, n)
    known = {i for i in (*special, *s.clusters, *freed_set) if i < below}
    if below > len(known):
        add("allocator", f"swap type {t}: {below - len(known)} clusters are neither in use "
                         f"nor on the free list (leaked)")
    fresh_used = [i for i in s.clusters if i >= s.next_fresh and i not in special]
    if fresh_used:
        add("allocator", f"swap type {t}: cluster {fresh_used[0]} is in use but lies past the "
                         f"next fresh cluster {s.next_fresh}")
    nonfull = list(s.nonfull)
    if len(set(nonfull)) != len(nonfull):
        add("allocator", f"swap type {t}: nonfull list names a cluster twice")
    gone = [i for i in nonfull if i not in s.clusters]
    if gone:
        add("allocator", f"swap type {t}: nonfull list names cluster {gone[0]}, which has no "
                         f"record")
    cur = s.cur
    on_list = set(nonfull)
    stranded = [i for i, c in s.clusters.items()
                if c.map.count(0) and i not in on_list and c is not cur]
    if stranded:
        add("allocator", f"swap type {t}: cluster {min(stranded)} has free slots but is on no "
                         f"list ({len(stranded)} such)")


def _check_lru(zswap, live: set[int], add) -> None:
    n = len(zswap.e_swp)
    seen: set[int] = set()
    eid = zswap.lru_head
    prev = 0
    while eid:
        if eid >= n or eid in seen:
            add("zswap-lru", f"zswap LRU: link to entry {eid} after entry {prev} is "
                             f"{'a loop' if eid in seen else 'out of range'}")
            break
        if zswap.e_prev[eid] != prev:
            add("zswap-lru", f"zswap LRU: entry {eid} has a broken back link "
                             f"({zswap.e_prev[eid]}, expected {prev})")
            break
        if eid not in live:
            add("zswap-lru", f"zswap LRU: entry {eid} is on the list but not stored")
        seen.add(eid)
        prev = eid
        eid = zswap.e_next[eid]
    else:
        if zswap.lru_tail != prev:
            add("zswap-lru", f"zswap LRU: tail is entry {zswap.lru_tail}, the list ends at "
                             f"{prev}")
    off = live - seen
    if off:
        add("zswap-lru", f"zswap LRU: {len(off)} stored entries are not on the list "
                         f"(first: {min(off)})")


def _model_from_entries(k: Kernel, live: list[int]):
    """The pool accounting ``live`` entries need (a pool of the same kind, fresh)."""
    from ghostswap_cli.kernel.compressors import SAME_FILLED_ID

    z = k.zswap
    model = z.model.empty_copy()
    for eid in live:
        length = z.e_len[eid]
        if 0 < length < k.page_size and z.e_comp[eid] != SAME_FILLED_ID:
            model.obj_store(length + z.hlen, eid)
    return model


# --- reading pages ----------------------------------------------------------------------------


def read_page(k: Kernel, si: SwapInfoStruct | None, offset: int, loc: int, ref: int,
              fds: dict[str, int]) -> bytes | None:
    """The bytes of the page at a slot whose location is ``loc``/``ref``, read without changing
    anything (no counters, no frees); None when they cannot be read. ``fds`` caches swap file
    descriptors by path (the caller closes them)."""
    kind = loc & LOC_KIND
    ps = k.page_size
    try:
        if kind == LOC_ZERO:
            return bytes(ps)
        if kind == LOC_ZSWAP:
            return zswap_page(k, ref)
        if kind == LOC_CACHE:
            return k.arena.read(ref, ps)
        if kind == LOC_DISK and si is not None and not si.is_ghost:
            from ghostswap_cli.kernel.swapfile import backing_path

            return disk_page(k, backing_path(k.directory, si), offset, fds)
    except GhostswapError:
        return None
    return None


def zswap_page(k: Kernel, eid: int) -> bytes | None:
    """Entry ``eid`` decompressed, without counting anything; None if it cannot be."""
    from ghostswap_cli.kernel.compressors import compressor_by_id

    z = k.zswap
    if not 0 < eid < len(z.e_swp) or not z.e_len[eid]:
        return None
    try:
        data = k.arena.read(z.e_handle[eid], z.e_len[eid])
        return compressor_by_id(z.e_comp[eid]).decompress(data, k.page_size)
    except GhostswapError:
        return None


def disk_page(k: Kernel, path: str, offset: int, fds: dict[str, int]) -> bytes | None:
    """Page ``offset`` of the file at ``path``, whatever file is there now (the caller checks
    the CRC); None if it cannot be read."""
    if not 0 < offset < 1 << 50:  # swapfile_maximum_size: no page of a swap file lies there
        return None
    fd = fds.get(path)
    if fd is None:
        try:
            fd = fds[path] = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (OSError, ValueError):  # ValueError: a NUL in a path from a damaged row
            return None
    ps = k.page_size
    try:
        page = os.pread(fd, ps, offset * ps)
    except OSError:
        return None
    return page if len(page) == ps else None


@dataclasses.dataclass
class PageCheck:
    checked: int = 0
    corrupt: list[int] = dataclasses.field(default_factory=list)  # VPNs
    missing: list[int] = dataclasses.field(default_factory=list)  # VPNs whose data is gone
    skipped: list[int] = dataclasses.field(default_factory=list)  # in a pool that did not open


def verify_pages(k: Kernel, *, pool_available: bool = True) -> PageCheck:
    """Read every swapped-out page without changing anything and check its CRC32."""
    result = PageCheck()
    fds: dict[str, int] = {}
    try:
        for vpn, pte, csum in swapped_ptes(k):
            si = k.swap_info_for_type(pte >> _SHIFT)
            offset = pte & _MASK
            c = None
            if si is not None and si.slots is not None:
                c = si.slots.clusters.get(offset // _CL)
            if c is None or not 0 < offset < si.max:
                result.missing.append(vpn)
                continue
            j = offset % _CL
            kind = c.loc[j] & LOC_KIND
            if kind in (LOC_ZSWAP, LOC_CACHE) and not pool_available:
                result.skipped.append(vpn)
                continue
            if kind not in _LOC_NAMES or (kind == LOC_DISK and si.is_ghost):
                result.missing.append(vpn)
                continue
            page = read_page(k, si, offset, c.loc[j], c.ref[j], fds)
            result.checked += 1
            if page is None or len(page) != k.page_size or zlib.crc32(page) != csum:
                result.corrupt.append(vpn)
    finally:
        for fd in fds.values():
            os.close(fd)
    return result
