"""The simulated machine: swap table, parameters, counters, log, page table and zswap pool.

``open_kernel`` opens a state directory, loads what a command needs (the swap table always; the
slot maps, page table and pool only when a command touches them), and on success writes every
change in one SQLite transaction. Writers hold the state lock for the whole command, so two
processes never interleave; readers see the last committed state.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

from ghostswap_cli.errors import StateError, StateIOError
from ghostswap_cli.fsnames import to_db_text
from ghostswap_cli.kernel.cluster import LOC_COMMITTED, LOC_DISK, Cluster, SwapSlots
from ghostswap_cli.kernel.params import (
    CONFIG_NAMES,
    MACHINE_PARAMS,
    ZSWAP,
    config_release,
    machine_max_swapfiles,
    params_for,
    resolve_machine,
)
from ghostswap_cli.kernel.printk import LOG_RING_LINES, LogLine, Printk
from ghostswap_cli.kernel.records import SWAP_INFO_COLUMNS, check_params, decode_swap_info_row
from ghostswap_cli.kernel.swapfile import SwapInfoStruct
from ghostswap_cli.state.db import (
    POOL_NAME,
    StateDB,
    connect,
    prepare_state_dir,
    printable,
    state_lock,
)
from ghostswap_cli.uapi import SWAPFILE_CLUSTER, SWP_OFFSET_MASK, SWP_TYPE_SHIFT

__all__ = ("Kernel", "open_kernel", "COUNTERS", "LATER_COUNTERS", "init_kernel", "state_corrupt")


def state_corrupt(path: Path, what: str) -> StateError:
    """A row or blob of the state cannot be what ghostswap wrote: say which, and the way out."""
    return StateError(f"{path}: {printable(what)}; run `ghostswap kernel fsck --repair`")


#: Counters beyond this size cannot have been counted: the row is corrupt.
COUNTER_LIMIT = 1 << 62

# Persistent counters: name -> initial value. vmstat and zswap debugfs names are the kernel's.
COUNTERS: dict[str, int] = {
    # mm/swapfile.c globals
    "least_priority": -1,
    "nr_rotate_swap": 0,
    "seq": 0,
    # /proc/vmstat
    "pswpin": 0,
    "pswpout": 0,
    "swpin_zero": 0,
    "swpout_zero": 0,
    "zswpin": 0,
    "zswpout": 0,
    "zswpwb": 0,
    # /sys/kernel/debug/zswap
    "written_back_pages": 0,
    "pool_limit_hit": 0,
    "reject_reclaim_fail": 0,
    "reject_compress_fail": 0,
    "reject_compress_poor": 0,
    "reject_alloc_fail": 0,
    "reject_kmemcache_fail": 0,
    "decompress_fail": 0,
    # 6.1 debugfs only: same_filled_pages is a gauge (part of stored_pages)
    "duplicate_entry": 0,
    "same_filled_pages": 0,
    # /proc/vmstat: reclaim, from access replays (mm/vmscan.c, mm/workingset.c)
    "pgfault": 0,
    "pgmajfault": 0,
    "pgscan_direct": 0,
    "pgsteal_direct": 0,
    "pgscan_anon": 0,
    "pgsteal_anon": 0,
    "pgrefill": 0,
    "pgactivate": 0,
    "pgdeactivate": 0,
    "workingset_refault_anon": 0,
    "workingset_activate_anon": 0,
    "workingset_restore_anon": 0,
    "oom_kill": 0,
    "swap_ra": 0,
    "swap_ra_hit": 0,
    # the simulator's own
    "nr_swapcache_pages": 0,
    "ghost_writepage_activate": 0,
    "swap_out_nospace": 0,
    "corrupt_pages": 0,
    "nr_present_pages": 0,
}


# Counters added after states existed (access replays): a state written before them simply has
# not counted them yet, so a missing row reads 0 and is not a problem for fsck.
LATER_COUNTERS = frozenset((
    "pgfault", "pgmajfault", "pgscan_direct", "pgsteal_direct", "pgscan_anon", "pgsteal_anon",
    "pgrefill", "pgactivate", "pgdeactivate", "workingset_refault_anon", "workingset_activate_anon",
    "workingset_restore_anon", "oom_kill", "swap_ra", "swap_ra_hit",
))


class Kernel:
    """One simulated machine, open on a state directory for the duration of a command."""

    def __init__(self, directory: Path, db: StateDB, write: bool) -> None:
        self.directory = directory
        self.db = db
        self.write = write
        self.machine: dict[str, str] = {}
        self.params: dict[str, str] = {}
        self.counters: dict[str, int] = dict(COUNTERS)
        self.swap_info: list[SwapInfoStruct | None] = []
        self.boot_time = time.time()
        self.printk = Printk(self.boot_time)
        # swap entries written to disk since the last commit: one word each, no int objects
        self.new_disk_slots = array("Q")
        self._removed_types: set[int] = set()
        self._avail_groups: list[list] | None = None
        self._mm = None
        self._zswap = None
        self._arena = None
        self._page_io = None
        self._unreadable: set[int] | None = None
        self._unreadable_dirty = False
        self._load()

    # --- loading ----------------------------------------------------------------------------
    def _load(self) -> None:
        db = self.db
        boot = db.get_meta("boot_time")
        if boot is None:
            raise StateError(f"{self.directory}: state is not initialised")
        try:
            self.boot_time = float(boot)
        except (TypeError, ValueError):
            raise state_corrupt(db.path, f"boot time {boot!r} is not a number") from None
        self.printk = Printk(self.boot_time)
        rows = db.execute("SELECT name, value FROM params").fetchall()
        for name, value in rows:
            if not isinstance(name, str) or not isinstance(value, str):
                raise state_corrupt(db.path, f"parameter row {name!r} is not text")
            if name.startswith("machine."):
                self.machine[name[8:]] = value
        for name, p in MACHINE_PARAMS.items():
            self.machine.setdefault(name, p.default)
        if self.machine["config"] not in CONFIG_NAMES:
            raise state_corrupt(db.path, f"machine parameter config: {self.machine['config']!r} "
                                         f"is not a configuration")
        #: the sysfs parameters of this release (a row of another is ignored; fsck removes it)
        self.param_defs = params_for(self.machine["config"])
        for name, value in rows:
            if name in self.param_defs:
                self.params[name] = value
        for path, p in self.param_defs.items():
            self.params.setdefault(path, p.default)
        problem = check_params(self.machine, self.params)
        if problem:
            raise state_corrupt(db.path, problem)
        for name, value in db.execute("SELECT name, value FROM counters"):
            # far from SQLite's 64-bit limit, so that counting on cannot overflow it
            if not isinstance(value, int) or not -COUNTER_LIMIT < value < COUNTER_LIMIT:
                raise state_corrupt(db.path, f"counter {name!r} holds {value!r}, not a count")
            self.counters[name] = value
        self.page_size = int(self.machine["page_size"])
        self.personality = self.machine["personality"]
        #: the release whose behaviour the machine has: "6.1", "6.12" or "6.18"
        self.release = config_release(self.machine["config"])
        self.max_swapfiles = machine_max_swapfiles(self.machine["config"])
        self.totalram_pages = int(self.machine["ram"]) // self.page_size
        rows = db.execute(f"SELECT {', '.join(SWAP_INFO_COLUMNS)} FROM swap_info ORDER BY type"
                          ).fetchall()
        for row in rows:
            try:
                si = decode_swap_info_row(row, self.page_size)
            except ValueError as e:
                raise state_corrupt(db.path, str(e)) from None
            type_ = si.type
            while len(self.swap_info) <= type_:
                self.swap_info.append(None)
            self.swap_info[type_] = si
        while self.swap_info and self.swap_info[-1] is None:
            self.swap_info.pop()

    def load_slots(self, si: SwapInfoStruct) -> SwapSlots:
        if si.slots is None:
            from ghostswap_cli.kernel.check import decode_cluster_row, restore_slots

            clusters: dict[int, Cluster] = {}
            for idx, data in self.db.execute(
                "SELECT idx, data FROM clusters WHERE type=?", (si.type,)
            ):
                try:
                    clusters[idx] = decode_cluster_row(si, idx, data)
                except ValueError as e:
                    raise state_corrupt(self.db.path, f"swap type {si.type}: {e}") from None
            state = self.db.get_blob(f"slots.{si.type}")
            if state is None:
                raise state_corrupt(
                    self.db.path, f"allocator state of swap type {si.type} is missing"
                )
            try:
                si.slots = restore_slots(si, state, clusters)
            except ValueError as e:
                raise state_corrupt(self.db.path, f"swap type {si.type}: {e}") from None
        return si.slots

    @property
    def arena(self):
        if self._arena is None:
            from ghostswap_cli.errors import GhostswapError
            from ghostswap_cli.kernel.arena import _STATE_HEADER as _ARENA_STATE_HEADER
            from ghostswap_cli.kernel.arena import Arena

            path = self.directory / POOL_NAME
            blob = self.db.get_blob("arena")
            if blob is not None and len(blob) >= _ARENA_STATE_HEADER.size and path.exists():
                # Arena zero-fills a file shorter than its first stretch: a pool truncated
                # under the committed state must not read back as zeros
                bump = _ARENA_STATE_HEADER.unpack_from(blob)[4]
                if path.stat().st_size < bump << 4:
                    raise StateError(f"{path}: pool file is truncated ({path.stat().st_size} "
                                     f"bytes, the state needs {bump << 4}); run `ghostswap "
                                     f"kernel fsck --repair`")
            try:
                self._arena = Arena.open(path, blob)
            except GhostswapError as e:
                raise StateError(f"{e}; run `ghostswap kernel fsck --repair`") from None
        return self._arena

    @property
    def zswap(self):
        if self._zswap is None:
            from ghostswap_cli.kernel.check import check_zswap_layout, check_zswap_links
            from ghostswap_cli.kernel.zpool import pool_from_bytes
            from ghostswap_cli.kernel.zsmalloc import ZsPoolModel
            from ghostswap_cli.kernel.zswap import Zswap

            blob = self.db.get_blob("zswap.model")
            try:
                model = pool_from_bytes(blob) if blob else self.new_zswap_pool()
            except StateError as e:
                raise state_corrupt(self.db.path, str(e)) from None
            if model.page_size != self.page_size:
                raise state_corrupt(self.db.path, f"zsmalloc pool state is for {model.page_size}"
                                                  f"-byte pages")
            state = self.db.get_blob("zswap.state")
            rows = self.db.execute("SELECT chunk, data FROM zswap_entries ORDER BY chunk").fetchall()
            try:
                layout = check_zswap_layout(state, rows)
            except ValueError as e:
                raise state_corrupt(self.db.path, f"zswap index: {e}") from None
            z = Zswap(self, self.arena, model)
            if state:
                z.restore_state(state)
                for chunk, data in rows:
                    z.load_chunk(chunk, data)
                z.ensure_size(layout)
                try:
                    check_zswap_links(z)
                except ValueError as e:
                    raise state_corrupt(self.db.path, f"zswap index: {e}") from None
            if model.stored_objects + self.counters["same_filled_pages"] != z.stored_pages:
                raise state_corrupt(self.db.path, f"zswap pool model accounts "
                                                  f"{model.stored_objects} objects, the index "
                                                  f"{z.stored_pages}")
            if isinstance(model, ZsPoolModel):
                # a state of before #19 (6.12/6.18): its compacted model becomes a page-level
                # pool here, and is saved as one by the next commit
                z.model = z.adopt_page_pool(model)
            self._zswap = z
        return self._zswap

    @property
    def mm(self):
        if self._mm is None:
            from ghostswap_cli.kernel.check import MAX_PTE_CHUNKS
            from ghostswap_cli.kernel.mm import MM

            mm = MM(self)
            for key, data in self.db.execute("SELECT chunk, data FROM ptes"):
                if not isinstance(key, int) or not 0 <= key < MAX_PTE_CHUNKS \
                        or not isinstance(data, bytes):
                    raise state_corrupt(self.db.path, f"page-table record {key!r} is malformed")
                try:
                    mm.load_chunk(key, data)
                except ValueError as e:
                    raise state_corrupt(self.db.path, str(e)) from None
            for si in self.swap_info:
                if si is not None:
                    self.load_slots(si)
            mm.zswap = self.zswap  # every swap-out and swap-in goes through it
            self._mm = mm
        return self._mm

    @property
    def unreadable(self) -> set[int]:
        """VPNs of swapped-out pages that swapoff could not read back (fsck checks them)."""
        if self._unreadable is None:
            blob = self.db.get_blob("unreadable") or b""
            vpns = array("Q")
            vpns.frombytes(blob[: len(blob) // 8 * 8])
            self._unreadable = set(vpns)
        return self._unreadable

    def note_unreadable(self, vpns, clear: bool = False) -> None:
        if clear:
            self.unreadable.clear()
        self.unreadable.update(vpns)
        self._unreadable_dirty = True

    def load_all(self) -> None:
        """Load the page table and every active area's slot map (they load together)."""
        _ = self.mm

    @property
    def page_io(self):
        if self._page_io is None:
            from ghostswap_cli.kernel.page_io import PageIO

            self._page_io = PageIO(self)
        return self._page_io

    def new_zswap_pool(self):
        """An empty pool for this machine's zswap: page-level in every release (zpool.py).

        6.1: of the ``zpool`` chosen (zsmalloc with 6.1's classes and four fullness groups,
        zbud, z3fold). 6.12 and 6.18: zsmalloc (6.12's only zpool by default, and 6.18 has no
        zpool layer), with the chain of ``calculate_zspage_chain_size`` and eleven fullness
        groups: ``pool_total_size`` is every zspage held, holes after frees included
        (``zswap_total_pages()`` sums ``zs_get_total_pages()``, ``pool->pages_allocated``).
        """
        from ghostswap_cli.kernel.zpool import new_pool

        if self.release == "6.1":
            return new_pool(self.params[ZSWAP + "zpool"], self.page_size, "6.1")
        return new_pool("zsmalloc", self.page_size, self.release)

    # --- parameters -------------------------------------------------------------------------
    def param(self, name: str) -> str:
        """A sysfs parameter by path, or a zswap parameter by its short name."""
        if not name.startswith("/"):
            name = ZSWAP + name
        return self.params[name]

    def set_param(self, path: str, value: str) -> None:
        """Store a validated parameter value; zswap picks the change up at once."""
        self.params[path] = value
        if self._zswap is not None:
            self._zswap.refresh()

    # --- the swap table ---------------------------------------------------------------------
    def swap_info_for_type(self, type_: int) -> SwapInfoStruct | None:
        return self.swap_info[type_] if 0 <= type_ < len(self.swap_info) else None

    def active(self) -> list[SwapInfoStruct]:
        return [si for si in self.swap_info if si is not None]

    def active_list(self) -> list[SwapInfoStruct]:
        """``swap_active_head``: by priority, highest first; equal priorities in swapon order."""
        return sorted(self.active(), key=lambda si: (-si.prio, si.active_seq))

    def publish_swap_info(self, si: SwapInfoStruct) -> None:
        while len(self.swap_info) <= si.type:
            self.swap_info.append(None)
        self.swap_info[si.type] = si
        self._removed_types.discard(si.type)
        self._avail_groups = None

    def unpublish_swap_info(self, si: SwapInfoStruct) -> None:
        si.close()
        self.swap_info[si.type] = None
        while self.swap_info and self.swap_info[-1] is None:
            self.swap_info.pop()
        self._removed_types.add(si.type)
        self._avail_groups = None
        self.new_disk_slots = array("Q", (
            s for s in self.new_disk_slots if s >> SWP_TYPE_SHIFT != si.type))

    def mark_dirty(self, si: SwapInfoStruct) -> None:
        """Rows are rewritten at every commit; kept for symmetry with the kernel's locking."""
        self._avail_groups = None

    @property
    def total_swap_pages(self) -> int:
        return sum(si.pages for si in self.active() if si.writeok)

    @property
    def nr_swap_pages(self) -> int:
        return sum(si.pages - si.inuse_pages for si in self.active() if si.writeok)

    def nr_real_swapfiles(self) -> int:
        """RFC: non-ghost areas on the available list (a full area is not on it)."""
        return sum(
            1 for si in self.active() if si.writeok and not si.is_ghost and not si.full
        )

    def get_swap_page(self) -> tuple[SwapInfoStruct | None, int]:
        """``get_swap_pages`` for one page: highest priority first, round-robin among equals."""
        groups = self._avail_groups
        if groups is None:
            groups = self._build_avail_groups()
        for g in groups:
            devs = g[0]
            n = len(devs)
            if n == 1:
                si = devs[0]
                off = si.slots.alloc()
                if off:
                    return si, off
                continue
            start = g[1]
            for j in range(n):
                si = devs[(start + j) % n]
                off = si.slots.alloc()
                if off:
                    g[1] = (start + j + 1) % n
                    return si, off
        return None, 0

    def _build_avail_groups(self) -> list[list]:
        by_prio: dict[int, list[SwapInfoStruct]] = {}
        for si in self.active():
            if si.writeok:
                self.load_slots(si)
                by_prio.setdefault(si.prio, []).append(si)
        groups = []
        for prio in sorted(by_prio, reverse=True):
            devs = sorted(by_prio[prio], key=lambda s: s.avail_seq)
            groups.append([devs, 0])
        self._avail_groups = groups
        return groups

    # --- memory -----------------------------------------------------------------------------
    @property
    def pool_pages(self) -> int:
        if self._zswap is not None:
            return self._zswap.model.pool_pages
        blob = self.db.get_blob("zswap.model")
        if not blob:
            return 0
        from ghostswap_cli.kernel.zpool import pool_pages_of

        try:
            return pool_pages_of(blob)
        except StateError as e:
            raise state_corrupt(self.db.path, str(e)) from None

    def zswap_stored_pages(self) -> int:
        if self._zswap is not None:
            return self._zswap.stored_pages
        blob = self.db.get_blob("zswap.state")
        return int.from_bytes(blob[16:24], "little") if blob else 0

    @property
    def used_ram_pages(self) -> int:
        present = self._mm.present_pages if self._mm is not None else self.counters.get(
            "nr_present_pages", 0
        )
        return present + self.counters["nr_swapcache_pages"] + self.pool_pages

    @property
    def free_ram_pages(self) -> int:
        return max(self.totalram_pages - self.used_ram_pages, 0)

    def mm_pages_needed_for_unuse(self, si: SwapInfoStruct) -> int:
        return self.mm.pages_needed_for_unuse(si)

    def try_to_unuse(self, si: SwapInfoStruct, drop_unreadable: bool = False) -> int:
        n = self.mm.try_to_unuse(si, drop_unreadable)
        slots = si.slots
        if slots is not None:
            slots.pending_free.clear()
        return n

    # --- commit -----------------------------------------------------------------------------
    def save(self) -> None:
        """Write every change into the open transaction (the caller commits)."""
        db = self.db
        for si in self.active():
            if si.slots is not None:
                si.slots.release_pending()
        self._mark_disk_slots_committed()
        if self._removed_types:
            for t in self._removed_types:
                db.execute("DELETE FROM clusters WHERE type=?", (t,))
                db.execute("DELETE FROM blobs WHERE name=?", (f"slots.{t}",))
        db.execute("DELETE FROM swap_info")
        self._renumber_avail_seq()
        for si in self.active():
            slots = si.slots
            if slots is not None:
                if slots.dropped:
                    db.executemany(
                        "DELETE FROM clusters WHERE type=? AND idx=?",
                        [(si.type, idx) for idx in slots.dropped],
                    )
                    slots.dropped.clear()
                if slots.dirty:
                    # rows are generated as SQLite takes them: a list of every dirty record
                    # would double the memory of a replay's state at its commit
                    db.executemany(
                        "INSERT OR REPLACE INTO clusters(type, idx, data) VALUES (?, ?, ?)",
                        ((si.type, idx, slots.clusters[idx].to_bytes()) for idx in slots.dirty
                         if idx in slots.clusters),
                    )
                    slots.dirty.clear()
                db.put_blob(f"slots.{si.type}", slots.state_bytes())
            bad = b"".join(b.to_bytes(4, "little") for b in si.badpages)
            db.execute(
                "INSERT INTO swap_info(type, flags, prio, path, name, dev, ino, file_size, "
                "file_mtime_ns, max, pages, inuse_pages, label, uuid, nr_extents, span, "
                "swap_flags, active_seq, avail_seq, badpages, allocator) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (si.type, int(si.flags), si.prio, to_db_text(si.path), to_db_text(si.name),
                 si.dev, si.ino,
                 si.file_size, si.file_mtime_ns, si.max, si.pages, si.inuse_pages, si.label,
                 si.uuid, si.nr_extents, si.span, si.swap_flags, si.active_seq, si.avail_seq,
                 bad, b""),
            )
        self._removed_types.clear()
        if self._mm is not None:
            mm = self._mm
            gone: list[tuple[int]] = []

            def pte_rows() -> Iterator[tuple[int, bytes]]:
                for key in mm.dirty:
                    data = mm.chunk_bytes(key)
                    if data is None:
                        gone.append((key,))
                        del mm.table[key]
                    else:
                        yield key, data

            db.executemany("INSERT OR REPLACE INTO ptes(chunk, data) VALUES (?, ?)", pte_rows())
            db.executemany("DELETE FROM ptes WHERE chunk=?", gone)
            mm.dirty.clear()
            self.counters["nr_present_pages"] = mm.present_pages
        if self._zswap is not None:
            z = self._zswap
            db.executemany(
                "INSERT OR REPLACE INTO zswap_entries(chunk, data) VALUES (?, ?)",
                ((chunk, z.chunk_bytes(chunk)) for chunk in sorted(z.dirty)),
            )
            z.dirty.clear()
            db.put_blob("zswap.model", z.model.to_bytes())
            db.put_blob("zswap.state", z.state_bytes())
        if self._arena is not None:
            db.put_blob("arena", self._arena.dump_state())
        if self._unreadable_dirty:
            keep = sorted(self._unreadable)[:1 << 20]
            if self._mm is not None:  # only pages still swapped out can be read back
                from ghostswap_cli.kernel.mm import PTE_PRESENT

                keep = [v for v in keep if self._mm.lookup(v)[0] not in (0, PTE_PRESENT)]
            db.put_blob("unreadable", array("Q", keep).tobytes())
            self._unreadable_dirty = False
        self.counters["total_swap_pages"] = self.total_swap_pages
        self.counters["nr_swap_pages"] = self.nr_swap_pages
        db.executemany(
            "INSERT OR REPLACE INTO counters(name, value) VALUES (?, ?)",
            list(self.counters.items()),
        )
        db.executemany(
            "INSERT OR REPLACE INTO params(name, value) VALUES (?, ?)",
            [("machine." + k, v) for k, v in self.machine.items()]
            + list(self.params.items()),
        )
        if self.printk.pending:
            db.executemany(
                "INSERT INTO klog(ts, level, text) VALUES (?, ?, ?)",
                [(line.ts, line.level, line.text) for line in self.printk.pending],
            )
            self.printk.pending.clear()
            db.execute(
                "DELETE FROM klog WHERE seq <= (SELECT MAX(seq) FROM klog) - ?",
                (LOG_RING_LINES,),
            )

    def after_commit(self) -> None:
        """The transaction is durable: pool extents freed since the last one may be reused."""
        if self._arena is not None:
            self._arena.commit()
        if self.write:
            from ghostswap_cli.kernel.swapfile import release_held

            release_held(self.directory, self.active())

    def _mark_disk_slots_committed(self) -> None:
        """Slots written to disk since the last commit are in the state about to be committed:
        from now on their data must survive until the commit after they are freed."""
        for swp in self.new_disk_slots:
            si = self.swap_info_for_type(swp >> SWP_TYPE_SHIFT)
            if si is None or si.slots is None:
                continue
            offset = swp & SWP_OFFSET_MASK
            c = si.slots.clusters.get(offset // SWAPFILE_CLUSTER)
            if c is not None and c.loc[offset % SWAPFILE_CLUSTER] == LOC_DISK:
                c.loc[offset % SWAPFILE_CLUSTER] = LOC_DISK | LOC_COMMITTED
                si.slots.dirty.add(c.idx)
        del self.new_disk_slots[:]

    def commit(self) -> None:
        """A checkpoint in the middle of a long command (``replay --commit-every``)."""
        self.save()
        self.db.commit()
        self.after_commit()
        self.db.begin(write=True)

    def close(self) -> None:
        for si in self.active():
            si.close()
        if self._arena is not None:
            self._arena.close()

    def log_lines(self, limit: int | None = None) -> list[LogLine]:
        sql = "SELECT ts, level, text FROM klog ORDER BY seq"
        rows = self.db.execute(sql).fetchall()
        if limit:
            rows = rows[-limit:]
        for ts, level, text in rows:
            if not isinstance(ts, int | float) or not isinstance(level, int) or \
                    not isinstance(text, str):
                raise state_corrupt(self.db.path, "a kernel log line is malformed")
        return [LogLine(ts, level, text) for ts, level, text in rows] + list(self.printk.pending)

    def _renumber_avail_seq(self) -> None:
        """Persist the round-robin position: the next device of each group gets the lowest seq."""
        if self._avail_groups is None:
            return
        for devs, start in self._avail_groups:
            n = len(devs)
            base = min(si.avail_seq for si in devs)
            for j in range(n):
                devs[(start + j) % n].avail_seq = base + j


def init_kernel(db: StateDB, machine: dict[str, str] | None = None) -> None:
    """Write a fresh machine into an empty (or reset) database, inside the open transaction."""
    from ghostswap_cli.kernel.compressors import (
        DEFAULT_COMPRESSOR,
        MSG_COMPRESSOR_FALLBACK,
        default_available_compressor,
    )

    values = resolve_machine({name: p.default for name, p in MACHINE_PARAMS.items()},
                             machine or {})
    boot = time.time()
    db.put_meta("boot_time", repr(boot))
    rows = [("machine." + k, v) for k, v in values.items()]
    compressor = default_available_compressor()
    for path, p in params_for(values["config"]).items():
        rows.append((path, compressor if path.endswith("/compressor") else p.default))
    db.executemany("INSERT OR REPLACE INTO params(name, value) VALUES (?, ?)", rows)
    db.executemany(
        "INSERT OR REPLACE INTO counters(name, value) VALUES (?, ?)", list(COUNTERS.items())
    )
    log = []
    ram_k = int(values["ram"]) // 1024
    log.append(f"Memory: {ram_k}K available (ghostswap simulated kernel, "
               f"{values['personality']} personality, PAGE_SIZE {values['page_size']})")
    if compressor != DEFAULT_COMPRESSOR:
        log.append("zswap: " + MSG_COMPRESSOR_FALLBACK % (DEFAULT_COMPRESSOR, compressor))
    if config_release(values["config"]) == "6.1":
        # 6.1's zswap_setup() names the zpool too: "loaded using pool lzo/zbud"
        log.append(f"zswap: loaded using pool {compressor}/{params_for(values['config'])[ZSWAP + 'zpool'].default}")
    else:
        log.append(f"zswap: loaded using pool {compressor}")
    db.executemany(
        "INSERT INTO klog(ts, level, text) VALUES (?, ?, ?)", [(0.0, 6, line) for line in log]
    )


@contextlib.contextmanager
def open_kernel(
    state_dir: Path,
    *,
    write: bool = True,
    create: bool = True,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[Kernel]:
    """Open the machine in ``state_dir``; initialise it with defaults if it does not exist.

    With ``write`` the state lock is held throughout and everything is committed in one
    transaction when the block ends without an exception; any exception rolls back.
    """
    directory = prepare_state_dir(Path(state_dir), create=create)
    if not write and not (directory / "state.db").exists():
        if not create:
            raise StateError(f"{directory}: no state (run `ghostswap kernel init`)")
        with state_lock(directory, on_wait):
            _ensure_initialised(directory)
    lock = state_lock(directory, on_wait) if write else contextlib.nullcontext()
    with lock:
        if write:
            _ensure_initialised(directory)
        conn = connect(directory, create=False, readonly=not write)
        db = StateDB(directory, conn)
        k = None
        try:
            db.begin(write=write)
            k = Kernel(directory, db, write)
            yield k
            if write:
                k.save()
                db.commit()
                k.after_commit()
            else:
                db.rollback()
        except BaseException:
            db.rollback()
            raise
        finally:
            if k is not None:
                k.close()
            db.close()


def _ensure_initialised(directory: Path) -> None:
    _initialise(directory, None, only_if_missing=True)


def _initialise(directory: Path, machine: dict[str, str] | None, *, only_if_missing: bool) -> None:
    """Write a fresh machine into ``directory``'s database (the caller holds the state lock)."""
    conn = connect(directory, create=True)
    db = StateDB(directory, conn)
    try:
        if not only_if_missing or db.get_meta("boot_time") is None:
            db.begin(write=True)
            if not only_if_missing or db.get_meta("boot_time") is None:
                init_kernel(db, machine)
            db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(directory / name, 0o600)


def read_machine_params(directory: Path) -> dict[str, str] | None:
    """The machine configuration of an existing state, or None if it cannot be read (a
    symbolic link in the state directory is not followed: None). A state file that cannot be
    read for a reason outside it (I/O error, permissions) raises :class:`StateIOError`: that
    state is not damaged, and must not be treated as if it were."""
    try:
        prepare_state_dir(Path(directory), create=False)
    except StateIOError:
        raise
    except StateError:
        return None
    db = _open_if_readable(directory)
    if db is None:
        return None
    try:
        rows = db.execute("SELECT name, value FROM params WHERE name LIKE 'machine.%'").fetchall()
        return {name[8:]: value for name, value in rows}
    except StateIOError:
        raise
    except StateError:
        return None
    finally:
        db.close()


def _open_if_readable(directory: Path) -> StateDB | None:
    """The state database, or None when it is damaged; a cause outside it (I/O error,
    permissions, a full disk) raises :class:`StateIOError`."""
    try:
        return StateDB(directory, connect(directory, create=False))
    except StateIOError:
        raise
    except StateError:
        return None


def reset_state(
    state_dir: Path,
    machine: dict[str, str] | None = None,
    *,
    keep_machine: bool = True,
    on_wait: Callable[[], None] | None = None,
) -> dict[str, str]:
    """Reboot the simulated kernel: a fresh table, pool, counters and log.

    The machine configuration is kept (when readable and ``keep_machine``), then ``machine``
    overrides apply. Swap files on disk are not touched.

    All or nothing: a readable state is emptied and rebooted in one SQLite transaction (a full
    disk, an I/O error or a kill on the way leaves it as it was); an unreadable one is replaced
    by a fresh database built beside it first and renamed over it.
    """
    from ghostswap_cli.kernel.swapfile import release_held

    directory = prepare_state_dir(Path(state_dir), create=True)
    with state_lock(directory, on_wait):
        values = resolve_machine((read_machine_params(directory) if keep_machine else None) or {},
                                 machine or {})
        if not _reset_in_place(directory, values):
            _replace_state(directory, values)
        release_held(directory, [])
    full = {name: p.default for name, p in MACHINE_PARAMS.items()}
    full.update(values)
    return full


def _reset_in_place(directory: Path, values: dict[str, str]) -> bool:
    """Empty and reboot a readable state in one transaction; False if it is not readable."""
    from ghostswap_cli.state.db import SCHEMA

    if not (directory / "state.db").exists():
        return False
    db = _open_if_readable(directory)
    if db is None:
        return False
    try:
        db.begin(write=True)
        for table in re.findall(r"CREATE TABLE (\w+)", SCHEMA):
            if table != "meta":
                db.execute(f"DELETE FROM {table}")
        db.execute("DELETE FROM meta WHERE key != 'schema_version'")
        init_kernel(db, values)
        db.commit()
    except StateIOError:
        db.rollback()
        raise
    except StateError:
        db.rollback()
        return False
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
    # the pool's bytes belong to no entry now; the committed state has no arena, so the file
    # is reused from its start
    return True


def _replace_state(directory: Path, values: dict[str, str]) -> None:
    """Build a fresh state beside an unreadable one, then rename it into place."""
    import shutil

    staging = directory / ".reset"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        os.mkdir(staging, 0o700)
        _initialise(staging, values, only_if_missing=False)
        conn = connect(staging, create=False)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")  # fold the WAL into state.db
        finally:
            conn.close()
        for name in ("state.db-wal", "state.db-shm", POOL_NAME):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(directory / name)
        os.replace(staging / "state.db", directory / "state.db")
    except OSError as e:
        from ghostswap_cli.state.db import state_os_error

        raise state_os_error(directory, e, "cannot reset the state") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(directory / name, 0o600)


def state_exists(state_dir: Path) -> bool:
    return (Path(state_dir) / "state.db").exists()
