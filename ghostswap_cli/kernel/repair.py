"""``ghostswap kernel fsck``: check a state directory, and repair it without losing a page.

The page table is the truth: every swapped-out page has a PTE holding its swap entry and the
CRC32 of its bytes. Everything else (swap_map counts, cluster records and allocator lists,
zswap entries and LRU, the zsmalloc model, the arena's free lists, counters) is derived from
where each page's bytes are. So the repair does not patch problems one by one: it finds, for
every swapped-out page, bytes that match its CRC32 (at the slot's recorded location, in a zswap
entry stored for that swap entry, in the zeromap, in the swap file at the slot's offset), then
rebuilds the derived structures from those findings. A page whose bytes are found nowhere is
lost: its PTE is cleared and its VPN reported. Nothing that still matches a page's checksum is
dropped, and repair never writes page data (pages that cannot keep their slot are brought
back into simulated RAM, as swapoff does).

Passes, all inside one write transaction under the writers' lock (``open_kernel`` is not used
because a damaged state must be opened piece by piece):

1. files: the state directory and its files are private (0700/0600) and not symlinks;
2. rows: SQLite's own ``quick_check``, the schema's tables, then every row the loader decodes
   (meta, params, counters, swap_info); a bad row is set aside inside the transaction so the
   machine can load (rolled back when only checking);
3. records: cluster records, allocator state, page-table records, the zswap index and model,
   the pool file and its committed state, loaded one by one (a bad one is reported and left
   out);
4. cross-checks (:func:`~ghostswap_cli.kernel.check.find_problems`), and with ``--verify``
   every swapped-out page against its CRC32;
5. with ``--repair``: the rebuild above, then commit, then a fresh check of the result.

Without ``--repair`` the transaction is rolled back and no file is touched.

Exit status (OR-ed, as fsck(8)): 0 clean; 1 problems found (or, with --repair, found and
repaired); 4 problems left unrepaired or pages lost; 8 operational error (no state, cannot be
opened or read); 16 usage error.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import secrets
import stat
import zlib
from array import array
from collections.abc import Callable
from pathlib import Path

from ghostswap_cli.errors import GhostswapError, StateError, StateIOError
from ghostswap_cli.kernel.check import (
    MAX_PTE_CHUNKS,
    SWAP_INFO_COLUMNS,
    PageCheck,
    Problem,
    _Problems,
    backing_problem,
    check_params,
    check_zswap_layout,
    decode_cluster_row,
    decode_swap_info_row,
    disk_page,
    find_problems,
    read_page,
    restore_slots,
    swapped_ptes,
    verify_pages,
)
from ghostswap_cli.kernel.cluster import (
    LOC_CACHE,
    LOC_COMMITTED,
    LOC_DISK,
    LOC_KIND,
    LOC_ZERO,
    LOC_ZSWAP,
    SwapSlots,
)
from ghostswap_cli.kernel.mm import PTE_PRESENT, PTRS_PER_PTE
from ghostswap_cli.kernel.swapfile import backing_path
from ghostswap_cli.state.db import (
    DB_NAME,
    LOCK_NAME,
    POOL_NAME,
    SCHEMA,
    StateDB,
    connect,
    prepare_state_dir,
    state_lock,
)
from ghostswap_cli.uapi import (
    SWAP_FLAG_PREFER,
    SWAP_MAP_BAD,
    SWAPFILE_CLUSTER,
    SWP_OFFSET_MASK,
    SWP_TYPE_SHIFT,
)

__all__ = (
    "FsckReport",
    "fsck",
    "EXIT_CLEAN",
    "EXIT_PROBLEMS",
    "EXIT_UNCORRECTED",
    "EXIT_OPERATIONAL",
    "EXIT_USAGE",
    "format_report",
)

EXIT_CLEAN = 0
EXIT_PROBLEMS = 1  # problems found (nothing changed), or found and all repaired
EXIT_UNCORRECTED = 4  # --repair left problems, or pages were lost
EXIT_OPERATIONAL = 8  # the state could not be opened or read at all
EXIT_USAGE = 16

_CL = SWAPFILE_CLUSTER
_SHIFT = SWP_TYPE_SHIFT
_MASK = SWP_OFFSET_MASK
ENTRY_CHUNK = 4096
ENTRY_BYTES = 20  # zswap.ENTRY_BYTES (schema 2)
#: Lost pages listed one by one in the kernel log before the rest are counted.
LOG_LOST_PAGES = 20
_FILES = (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", POOL_NAME, LOCK_NAME)


@dataclasses.dataclass
class FsckReport:
    state: str
    problems: list[Problem] = dataclasses.field(default_factory=list)
    repairs: list[str] = dataclasses.field(default_factory=list)
    lost: list[int] = dataclasses.field(default_factory=list)  # VPNs marked lost
    lost_records: list[str] = dataclasses.field(default_factory=list)  # unreadable PTE records
    unrepaired: list[Problem] = dataclasses.field(default_factory=list)
    pages: PageCheck | None = None  # --verify
    error: str | None = None  # operational error: nothing could be checked
    repaired: bool = False
    areas: int = 0
    swapped_pages: int = 0

    @property
    def exit_status(self) -> int:
        if self.error is not None:
            return EXIT_OPERATIONAL
        status = EXIT_PROBLEMS if self.problems else EXIT_CLEAN
        if self.unrepaired or self.lost or self.lost_records:
            status |= EXIT_UNCORRECTED
        return status

    def to_json(self) -> dict:
        pages = None
        if self.pages is not None:
            pages = {"checked": self.pages.checked, "corrupt": self.pages.corrupt,
                     "missing": self.pages.missing, "skipped": self.pages.skipped}
        return {
            "state": self.state,
            "clean": not self.problems and self.error is None,
            "problems": [dataclasses.asdict(p) for p in self.problems],
            "repaired": self.repaired,
            "repairs": self.repairs,
            "lost_pages": [hex(v) for v in self.lost],
            "lost_page_ranges": self.lost_records,
            "unrepaired": [dataclasses.asdict(p) for p in self.unrepaired],
            "verify": pages,
            "areas": self.areas,
            "swapped_pages": self.swapped_pages,
            "error": self.error,
            "exit_status": self.exit_status,
        }


def format_report(r: FsckReport) -> str:
    """The text fsck prints on stdout: one line per problem, repair and lost page, a summary."""
    lines = [f"problem: {p.text}" for p in r.problems]
    lines += [f"repaired: {text}" for text in r.repairs]
    shown = r.lost[:100]
    lines += [f"lost: page {vpn:#x}: no copy of its data matches its checksum" for vpn in shown]
    if len(r.lost) > len(shown):
        lines.append(f"lost: ... and {len(r.lost) - len(shown)} more pages")
    lines += [f"lost: {where}: their page-table record was unreadable"
              for where in r.lost_records]
    lines += [f"unrepaired: {p.text}" for p in r.unrepaired]
    head = f"ghostswap fsck: {r.state}: "
    verified = ""
    if r.pages is not None:
        verified = f", {r.pages.checked} verified"
    if not r.problems:
        lines.append(f"{head}clean ({r.areas} active areas, {r.swapped_pages} pages swapped "
                     f"out{verified})")
    elif not r.repaired:
        n = len(r.problems)
        lines.append(f"{head}{n} problem{'s' if n != 1 else ''} found; nothing changed (repair "
                     f"with `ghostswap kernel fsck --repair`)")
    else:
        n = len(r.problems)
        tail = "state is consistent now" if not r.unrepaired else \
            f"{len(r.unrepaired)} left unrepaired"
        lost = f"; {len(r.lost)} page{'s' if len(r.lost) != 1 else ''} lost" if r.lost else ""
        if r.lost_records:
            lost += f"; {len(r.lost_records)} page-table records lost"
        lines.append(f"{head}{n} problem{'s' if n != 1 else ''} found and repaired{lost}; {tail}")
    return "\n".join(lines) + "\n"


# --- the driver -------------------------------------------------------------------------------


def fsck(state_dir: Path | str, *, repair: bool = False, verify: bool = False,
         on_wait: Callable[[], None] | None = None) -> FsckReport:
    """Check (and with ``repair`` fix) the state in ``state_dir``; see the module docstring."""
    directory = Path(state_dir)
    report = FsckReport(str(directory))
    try:
        prepare_state_dir(directory, create=False)
    except StateError as e:
        report.error = str(e)
        return report
    if not (directory / DB_NAME).exists():
        report.error = f"{directory}: no state database (run `ghostswap kernel init`)"
        return report
    try:
        with state_lock(directory, on_wait):
            _fsck_locked(directory, report, repair=repair, verify=verify)
    except GhostswapError as e:
        # the state could not be opened, or a repair step failed (rolled back)
        report.error = str(e) if "ghostswap kernel" in str(e) or isinstance(e, StateIOError) else (
            f"{e}; move the state directory away or run `ghostswap kernel reset --force`")
        return report
    if repair and report.problems and report.error is None:
        again = FsckReport(str(directory))
        with state_lock(directory, on_wait):
            _fsck_locked(directory, again, repair=False, verify=verify)
        report.unrepaired = again.problems
        if again.error:
            report.unrepaired.append(Problem("fsck", again.error))
        report.areas, report.swapped_pages = again.areas, again.swapped_pages
    return report


def _fsck_locked(directory: Path, report: FsckReport, *, repair: bool, verify: bool) -> None:
    out = _Problems()
    _check_files(directory, out, repair, report)
    conn = connect(directory, create=False)
    db = StateDB(directory, conn)
    k = None
    try:
        db.begin(write=True)
        damaged = _check_sqlite(db, out)
        if damaged:
            report.problems = out.capped()
            report.error = (f"{db.path}: SQLite finds the database damaged ({damaged}); copy "
                            f"out what you can (sqlite3 {DB_NAME} .recover) or run `ghostswap "
                            f"kernel reset --force`")
            db.rollback()
            return
        salvage = _Salvage()
        _check_rows(db, out, salvage)
        from ghostswap_cli.kernel.machine import Kernel

        k = Kernel(directory, db, True)
        loaded = _load_records(k, out, salvage, repair)
        problems = find_problems(k, pool_available=loaded.pool_checkable)
        for p in problems:
            out.add(p.kind, p.text)
        pc = None
        if verify:
            pc = verify_pages(k, pool_available=loaded.pool_readable)
            for vpn in pc.corrupt:
                out.add("page-corrupt", f"page {vpn:#x}: data does not match its checksum")
            for vpn in pc.missing:
                out.add("page-missing", f"page {vpn:#x}: its data cannot be found")
            for vpn in pc.skipped:
                out.add("page-unchecked", f"page {vpn:#x}: in a pool that cannot be opened")
            report.pages = pc
        report.problems = out.capped()
        report.areas = len(k.active())
        report.swapped_pages = k.mm.swapped_pages
        if repair and report.problems:
            kinds = {p.kind for p in out.items}
            report.lost_records = list(salvage.lost_ranges)
            _Rebuild(k, loaded, salvage, kinds, verify, report).run()
            k.save()
            for sql, params in salvage.cleanup:
                db.execute(sql, params)
            db.commit()
            k.after_commit()
            report.repaired = True
        else:
            db.rollback()
    except BaseException:
        db.rollback()
        raise
    finally:
        if k is not None:
            k.close()
        db.close()


# --- pass 1: files ----------------------------------------------------------------------------


def _check_files(directory: Path, out: _Problems, repair: bool, report: FsckReport) -> None:
    """The state directory 0700 and its files 0600: the pool holds users' page contents."""
    for path, want in [(directory, 0o700)] + [(directory / n, 0o600) for n in _FILES]:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            out.add("permissions", f"{path}: mode {mode:04o} lets others read the state "
                                   f"(expected {want:04o})")
            if repair:
                os.chmod(path, want)
                report.repairs.append(f"{path}: mode set to {want:04o}")


# --- pass 2: rows -----------------------------------------------------------------------------


@dataclasses.dataclass
class _Salvage:
    """What the row and record passes set aside, for the rebuild to use or clean up."""

    cleanup: list[tuple[str, tuple]] = dataclasses.field(default_factory=list)
    paths: dict[int, str] = dataclasses.field(default_factory=dict)  # type -> path of a bad row
    dropped_types: set[int] = dataclasses.field(default_factory=set)
    lost_ranges: list[str] = dataclasses.field(default_factory=list)  # of unreadable PTE records


def _check_sqlite(db: StateDB, out: _Problems) -> str | None:
    rows = db.execute("PRAGMA quick_check(20)").fetchall()
    bad = [str(r[0]) for r in rows if str(r[0]) != "ok"]
    for text in bad:
        out.add("sqlite", f"{db.path}: {text}")
    return bad[0] if bad else None


def _tables() -> dict[str, str]:
    tables = {}
    for statement in SCHEMA.split(";"):
        words = statement.split()
        if len(words) > 2 and words[0] == "CREATE" and words[1] == "TABLE":
            tables[words[2]] = statement
    return tables


def _check_rows(db: StateDB, out: _Problems, salvage: _Salvage) -> None:
    """Everything the loader decodes; bad rows are fixed inside the transaction (the fix is
    rolled back when only checking) so that the machine can be loaded and checked further."""
    from ghostswap_cli.kernel.machine import COUNTER_LIMIT, COUNTERS, LATER_COUNTERS
    from ghostswap_cli.kernel.params import (
        CONFIG_NAMES,
        MACHINE_PARAMS,
        MAINLINE_ONLY,
        PARAMS,
        PARAMS_6_1,
        combination_problem,
        params_for,
    )

    have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for name, sql in _tables().items():
        if name not in have:
            out.add("schema", f"{db.path}: table {name} is missing (recreated empty)")
            db.execute(sql)
    _check_text(db, out, salvage)
    boot = db.get_meta("boot_time")
    try:
        float(boot)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        out.add("row", f"{db.path}: boot time {boot!r} is not a number (set to now)")
        import time

        db.put_meta("boot_time", repr(time.time()))
    # parameters: text, and values that could have been written
    machine: dict[str, str] = {}
    params: dict[str, str] = {}
    for name, value in db.execute("SELECT name, value FROM params").fetchall():
        if not isinstance(name, str) or not isinstance(value, str):
            out.add("row", f"{db.path}: parameter row {name!r} is not text (removed)")
            db.execute("DELETE FROM params WHERE name IS ?", (name,))
        elif name.startswith("machine."):
            machine[name[8:]] = value
        elif name not in PARAMS and name not in PARAMS_6_1:
            out.add("row", f"{db.path}: parameter row {name!r} names no parameter (removed)")
            db.execute("DELETE FROM params WHERE name IS ?", (name,))
        else:
            params[name] = value
    model_page_size = _model_page_size(db)
    for name, p in MACHINE_PARAMS.items():
        value = machine.get(name, p.default)
        trial = {**{n: q.default for n, q in MACHINE_PARAMS.items()}, name: value}
        if name == "config" and value in MAINLINE_ONLY:
            trial["personality"] = "mainline"  # judged alone; the pair is checked below
        trial_params = params_for(trial["config"]) if trial["config"] in CONFIG_NAMES else PARAMS
        if check_params(trial, {path: q.default for path, q in trial_params.items()}) is not None:
            fixed = str(model_page_size) if name == "page_size" and model_page_size else p.default
            out.add("row", f"machine parameter {name} holds {value!r} (set to {fixed})")
            db.execute("INSERT OR REPLACE INTO params(name, value) VALUES (?, ?)",
                       ("machine." + name, fixed))
            machine[name] = fixed
    config = machine.get("config", MACHINE_PARAMS["config"].default)
    if combination_problem({"config": config, "personality": machine.get("personality", "ghost")}):
        out.add("row", f"machine parameter personality ghost cannot go with {config} (set to "
                       f"mainline)")
        db.execute("INSERT OR REPLACE INTO params(name, value) VALUES (?, ?)",
                   ("machine.personality", "mainline"))
    for path, p in params_for(config).items():
        value = params.get(path, p.default)
        try:
            p.parse(value)
            if path.endswith("/compressor"):
                from ghostswap_cli.kernel.compressors import get_compressor

                get_compressor(value)
        except GhostswapError:
            from ghostswap_cli.kernel.compressors import default_available_compressor

            fixed = default_available_compressor() if path.endswith("/compressor") else p.default
            out.add("row", f"parameter {path} holds {value!r} (set to {fixed!r})")
            db.execute("INSERT OR REPLACE INTO params(name, value) VALUES (?, ?)", (path, fixed))
    # counters: integers; the derived ones are recomputed by the rebuild
    names = set()
    for name, value in db.execute("SELECT name, value FROM counters").fetchall():
        names.add(name)
        if not isinstance(value, int) or not -COUNTER_LIMIT < value < COUNTER_LIMIT:
            default = COUNTERS.get(name, 0) if isinstance(name, str) else 0
            out.add("counter", f"counter {name!r} holds {value!r}, not a count (reset to "
                               f"{default})")
            db.execute("DELETE FROM counters WHERE name IS ?", (name,))
    missing = sorted(set(COUNTERS) - names - LATER_COUNTERS)
    if missing:
        out.add("counter", f"counter {missing[0]} is missing ({len(missing)} counters; reset)")
    # swap_info rows
    row = db.execute("SELECT value FROM params WHERE name='machine.page_size'").fetchone()
    page_size = int(row[0]) if row else 4096
    rows = db.execute(f"SELECT rowid, {', '.join(SWAP_INFO_COLUMNS)} FROM swap_info").fetchall()
    for rowid, *row in rows:
        try:
            decode_swap_info_row(tuple(row), page_size)
        except ValueError as e:
            t = row[0]
            out.add("swap-info", f"{e} (row set aside: the area is dropped, its pages are "
                                 f"recovered from zswap, the zeromap or its file)")
            path = row[3]
            if isinstance(t, int) and isinstance(path, str) and path.startswith("/") and \
                    "\0" not in path:
                salvage.paths[t] = path
            if isinstance(t, int):
                salvage.dropped_types.add(t)
            db.execute("DELETE FROM swap_info WHERE rowid=?", (rowid,))
    # the kernel log: rows dmesg can print
    bad_log = db.execute(
        "SELECT COUNT(*) FROM klog WHERE typeof(ts) NOT IN ('real', 'integer') OR "
        "typeof(level) != 'integer' OR typeof(text) != 'text'").fetchone()[0]
    if bad_log:
        out.add("row", f"{db.path}: {bad_log} kernel log lines are malformed (removed)")
        db.execute("DELETE FROM klog WHERE typeof(ts) NOT IN ('real', 'integer') OR "
                   "typeof(level) != 'integer' OR typeof(text) != 'text'")


# text columns the loader decodes; a damaged one (not UTF-8) fails every read of its table
_TEXT_COLUMNS = {"meta": ("key", "value"), "params": ("name", "value"), "counters": ("name",),
                 "swap_info": ("path", "name", "label", "uuid"), "klog": ("text",),
                 "blobs": ("name",)}


def _check_text(db: StateDB, out: _Problems, salvage: _Salvage) -> None:
    """Rows holding text that is not UTF-8 are removed (inside the transaction): nothing can
    read them. Their bytes are fetched as blobs, so the check itself can."""
    for table, cols in _TEXT_COLUMNS.items():
        for col in cols:
            rows = db.execute(f"SELECT rowid, CAST({col} AS BLOB) FROM {table} "  # noqa: S608
                              f"WHERE typeof({col}) = 'text'").fetchall()
            for rowid, raw in rows:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    out.add("row", f"{db.path}: {table} row {rowid}: {col} is not UTF-8 text "
                                   f"(row removed)")
                    if table == "swap_info":
                        t = db.execute("SELECT type FROM swap_info WHERE rowid=?", (rowid,)
                                       ).fetchone()[0]
                        if isinstance(t, int):
                            salvage.dropped_types.add(t)
                    db.execute(f"DELETE FROM {table} WHERE rowid=?", (rowid,))  # noqa: S608


def _model_page_size(db: StateDB) -> int | None:
    """The page size the zsmalloc model blob was made for, when it is readable."""
    from ghostswap_cli.kernel.zsmalloc import ZsPoolModel

    row = db.execute("SELECT data FROM blobs WHERE name='zswap.model'").fetchone()
    if row is None or not isinstance(row[0], bytes):
        return None
    try:
        return ZsPoolModel.from_bytes(row[0]).page_size
    except GhostswapError:
        return None


# --- pass 3: records --------------------------------------------------------------------------


@dataclasses.dataclass
class _Loaded:
    pool_readable: bool = True  # page bytes in the pool can be read
    pool_checkable: bool = True  # the arena's free lists are the committed ones: check them
    pool_trusted: bool = True  # pages in the pool may be kept without reading them
    allocator_rebuilt: set[int] = dataclasses.field(default_factory=set)
    cluster_rows_bad: set[int] = dataclasses.field(default_factory=set)  # types
    zswap_rebuilt: bool = False


def _blob(db: StateDB, name: str, out: _Problems) -> bytes | None:
    row = db.execute("SELECT data FROM blobs WHERE name=?", (name,)).fetchone()
    if row is None:
        return None
    if not isinstance(row[0], bytes):
        out.add("record", f"blob {name} is not a blob (ignored)")
        return None
    return row[0]


def _load_records(k, out: _Problems, salvage: _Salvage, repair: bool) -> _Loaded:
    """Load slots, page table, pool and zswap one record at a time, leaving out bad ones."""
    from ghostswap_cli.kernel.mm import MM

    db = k.db
    ld = _Loaded()
    active = {si.type: si for si in k.active()}
    # slots of every active area
    for si in active.values():
        clusters = {}
        for idx, data in db.execute("SELECT idx, data FROM clusters WHERE type=?",
                                    (si.type,)).fetchall():
            try:
                clusters[idx] = decode_cluster_row(si, idx, data)
            except ValueError as e:
                out.add("cluster-record", f"swap type {si.type}: {e} (left out)")
                ld.cluster_rows_bad.add(si.type)
        state = _blob(db, f"slots.{si.type}", out)
        try:
            if state is None:
                raise ValueError("allocator state is missing")
            si.slots = restore_slots(si, state, clusters)
        except ValueError as e:
            out.add("allocator", f"swap type {si.type}: {e}")
            si.slots = _fresh_allocator(si, clusters, None)
            ld.allocator_rebuilt.add(si.type)
    for (t,) in db.execute("SELECT DISTINCT type FROM clusters").fetchall():
        if t not in active:
            out.add("orphan", f"cluster records of swap type {t!r}, which is not active")
            salvage.cleanup.append(("DELETE FROM clusters WHERE type IS ?", (t,)))
    for (name,) in db.execute("SELECT name FROM blobs WHERE name LIKE 'slots.%'").fetchall():
        t = name[6:]
        if not (t.isdigit() and int(t) in active):
            out.add("orphan", f"allocator state {name} of a swap type that is not active")
            salvage.cleanup.append(("DELETE FROM blobs WHERE name=?", (name,)))
    # page table
    mm = MM(k)
    for key, data in db.execute("SELECT chunk, data FROM ptes").fetchall():
        ok = isinstance(key, int) and 0 <= key < MAX_PTE_CHUNKS and isinstance(data, bytes)
        if ok:
            try:
                mm.load_chunk(key, data)
            except ValueError:
                ok = False
        if not ok:
            where = (f"pages {key * PTRS_PER_PTE:#x}-{key * PTRS_PER_PTE + PTRS_PER_PTE - 1:#x}"
                     if isinstance(key, int) else "its pages")
            out.add("pte-record", f"page-table record {key!r} is unreadable: {where} are lost "
                                  f"(record removed on repair)")
            salvage.lost_ranges.append(where)
            salvage.cleanup.append(("DELETE FROM ptes WHERE chunk IS ?", (key,)))
    k._mm = mm
    # the pool file
    k._arena = _open_pool(k, out, ld, repair)
    # zswap
    _load_zswap(k, out, ld)
    return ld


def _fresh_allocator(si, clusters: dict, old: SwapSlots | None) -> SwapSlots:
    """Allocator state consistent with ``clusters`` (the records as loaded): for checking
    after the stored state proved unreadable, and for the rebuild."""
    new = SwapSlots(si.max, si.badpages)
    special = new._special
    for idx, c in clusters.items():
        if idx in special:
            base = new.clusters[idx]
            for i in range(_CL):
                if c.map[i] and base.map[i] == 0:
                    base.map[i], base.loc[i], base.ref[i] = c.map[i], c.loc[i], c.ref[i]
            base.count = _CL - base.map.count(0)
        else:
            new.clusters[idx] = c
            c.on_nonfull = False
    _relist(new, old)
    return new


def _relist(s: SwapSlots, old: SwapSlots | None) -> None:
    """Rebuild cursor, free and nonfull lists and inuse_pages from ``s.clusters``, keeping the
    old lists' order where it is still right (so allocation goes on as it would have)."""
    n = s.nr_clusters
    special = s._special
    touched = [i for i in s.clusters if i not in special]
    next_fresh = old.next_fresh if old is not None and old.next_fresh <= n else 0
    next_fresh = max([next_fresh, *(i + 1 for i in touched)])
    s.next_fresh = next_fresh
    old_freed = list(old.freed) if old is not None else []
    free = []
    seen = set()
    for i in old_freed:
        if i < next_fresh and i not in s.clusters and i not in special and i not in seen:
            free.append(i)
            seen.add(i)
    free += [i for i in range(next_fresh) if i not in s.clusters and i not in special
             and i not in seen]
    s.freed = collections.deque(free)
    for c in s.clusters.values():
        c.count = _CL - c.map.count(0)
        c.on_nonfull = False
    order = [i for i in (old.nonfull if old is not None else ()) if i in s.clusters]
    order += sorted(s.clusters)
    nonfull = []
    for i in order:
        c = s.clusters[i]
        if c.count < _CL and not c.on_nonfull:
            c.on_nonfull = True
            nonfull.append(i)
    s.nonfull = collections.deque(nonfull)
    s.cur = None
    s.cur_next = 0
    s.inuse_pages = sum(_CL - c.map.count(0) - c.map.count(SWAP_MAP_BAD)
                        for c in s.clusters.values())
    s.pending_free = []


class _NoPool:
    """Stands in for an arena that cannot be opened without changing its file."""

    file_bytes = 0

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def read(self, handle: int, length: int) -> bytes:
        from ghostswap_cli.kernel.arena import ArenaError

        raise ArenaError(self.reason)

    def check(self, live, limit: int = 50) -> list[str]:
        return []

    def close(self) -> None:
        pass

    def dump_state(self) -> bytes:  # pragma: no cover - never saved: only used when checking
        raise StateError(self.reason)


def _open_pool(k, out: _Problems, ld: _Loaded, repair: bool):
    """Open the pool file as it was committed, or as much of it as can be read.

    When only checking, nothing may change on disk: an arena that would have to be extended
    or rewritten to open is replaced by :class:`_NoPool` (pages in it are not checked)."""
    from ghostswap_cli.kernel.arena import (
        _FILE_HEADER,
        _FILE_MAGIC,
        _FILE_VERSION,
        _STATE_HEADER,
        GRANULE_SHIFT,
        INITIAL_FILE_SIZE,
        Arena,
    )

    path = k.directory / POOL_NAME
    blob = _blob(k.db, "arena", out)
    blob_id = blob_bump = None
    if blob is not None and len(blob) >= _STATE_HEADER.size:
        _m, _v, _s, blob_id, blob_bump, *_ = _STATE_HEADER.unpack_from(blob)
    if not path.exists():
        if blob is None:
            # nothing was ever committed to the pool: it is empty
            if repair:
                return Arena(path, create=True)
            ld.pool_checkable = ld.pool_readable = True
            return _EmptyPool()
        out.add("pool-missing", f"{path}: pool file is missing; the pages it held are lost "
                                f"unless found elsewhere")
        ld.pool_trusted = ld.pool_checkable = False
        if repair:
            ld.pool_readable = True
            return Arena(path, create=True)
        ld.pool_readable = False
        return _NoPool("pool file is missing")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(_FILE_HEADER.size)
    header_ok = False
    if len(head) == _FILE_HEADER.size:
        magic, version, shift, file_id = _FILE_HEADER.unpack(head)
        header_ok = magic == _FILE_MAGIC and version == _FILE_VERSION and shift == GRANULE_SHIFT
    if header_ok and size >= INITIAL_FILE_SIZE:
        try:
            return Arena(path, state=blob)
        except GhostswapError as e:
            problem = ("pool-truncated" if blob_bump is not None
                       and blob_bump << GRANULE_SHIFT > size else "pool-state")
            out.add(problem, f"{path}: {str(e).removeprefix(str(path) + ': ')}")
    elif not header_ok:
        out.add("pool-header", f"{path}: not a ghostswap pool file (header overwritten)")
    else:
        out.add("pool-truncated", f"{path}: pool file is truncated to {size} bytes")
    ld.pool_trusted = ld.pool_checkable = False
    if not repair and (not header_ok or size < INITIAL_FILE_SIZE):
        ld.pool_readable = False
        return _NoPool("pool file is damaged")
    if not header_ok:
        # the header is the only part of the file the arena itself reads: put it back, keep
        # every byte after it (pages there are kept only if they match their checksums)
        arena_id = blob_id if blob_id is not None else secrets.randbits(32)
        with open(path, "r+b") as f:
            f.write(_FILE_HEADER.pack(_FILE_MAGIC, _FILE_VERSION, GRANULE_SHIFT, arena_id))
    arena = Arena(path)  # no committed state: everything free, the file's bytes untouched
    # let every byte of the file be read while salvaging; the rebuild sets the real lists
    arena.rebuild([_whole_file(arena)])
    ld.pool_readable = True
    return arena


def _whole_file(arena) -> tuple[int, int]:
    """(handle, length) of every whole granule after the header: a file cut off in the middle
    of a granule (one byte short) still has all the granules before it."""
    from ghostswap_cli.kernel.arena import GRANULE_SHIFT

    whole = arena.file_bytes >> GRANULE_SHIFT
    return 1, max(whole - 1, 1) << GRANULE_SHIFT


class _EmptyPool(_NoPool):
    def __init__(self) -> None:
        super().__init__("the pool is empty")

    def check(self, live, limit: int = 50) -> list[str]:
        live = list(live)
        return [f"{len(live)} objects refer to a pool that was never written"] if live else []


def _load_zswap(k, out: _Problems, ld: _Loaded) -> None:
    from ghostswap_cli.kernel.zsmalloc import ZsPoolModel
    from ghostswap_cli.kernel.zswap import Zswap

    db = k.db
    blob = _blob(db, "zswap.model", out)
    model = None
    if blob:
        try:
            model = ZsPoolModel.from_bytes(blob)
            if model.page_size != k.page_size:
                raise StateError(f"zsmalloc pool state is for {model.page_size}-byte pages")
        except StateError as e:
            out.add("zswap-model", f"zswap pool model: {e}")
            model = None
    if model is None:
        model = k.new_zswap_pool()
    state = _blob(db, "zswap.state", out)
    rows = db.execute("SELECT chunk, data FROM zswap_entries ORDER BY chunk").fetchall()
    z = Zswap(k, k._arena, model)
    try:
        n = check_zswap_layout(state, rows)
        if state:
            z.restore_state(state)
            for chunk, data in rows:
                z.load_chunk(chunk, data)
            z.ensure_size(n)
    except ValueError as e:
        out.add("zswap-index", f"zswap index: {e} (entries salvaged record by record)")
        ld.zswap_rebuilt = True
        z = Zswap(k, k._arena, model)
        good = []
        for chunk, data in rows:
            # records are chunks 0..m: an id far past the number of records is corrupt (and
            # would size the entry arrays)
            ok = (isinstance(chunk, int) and 0 <= chunk <= len(rows) + 64
                  and isinstance(data, bytes) and len(data) >= 4)
            if ok:
                count = int.from_bytes(data[:4], "little")
                # schema 1's 24-byte entries too (a reader's view of an unmigrated state)
                ok = count <= ENTRY_CHUNK and len(data) in (4 + ENTRY_BYTES * count,
                                                            4 + 24 * count)
            if ok:
                good.append((chunk, data))
            else:
                out.add("zswap-index", f"zswap entry record {chunk!r} is unreadable (its "
                                       f"entries are lost)")
                db.execute("DELETE FROM zswap_entries WHERE chunk IS ?", (chunk,))
        for chunk, data in good:
            z.load_chunk(chunk, data)
        n = len(z.e_handle)
        for arr in (z.e_prev, z.e_next):
            for i in range(n):
                if arr[i] >= n:
                    arr[i] = 0
        z.lru_head = z.lru_tail = 0
        z.stored_pages = sum(1 for _ in z.live_entries())
        z.free_ids = array("I", (i for i in range(1, n) if not z.e_swp[i]))
    if isinstance(z.model, ZsPoolModel):
        # a state of before #19: the page-level pool of the entries (or the old counts, when
        # the entries disagree with them: the check reports it, the rebuild stores the entries)
        z.model = z.adopt_page_pool(z.model)
    k._zswap = z


# --- pass 5: the rebuild ----------------------------------------------------------------------


class _Rebuild:
    """Find every swapped-out page's bytes, then rebuild what is derived from them."""

    def __init__(self, k, ld: _Loaded, salvage: _Salvage, kinds: set[str], verify: bool,
                 report: FsckReport) -> None:
        self.k = k
        self.ld = ld
        self.salvage = salvage
        self.kinds = kinds
        self.verify = verify
        self.report = report
        self.ps = k.page_size
        self.zero_csum = zlib.crc32(bytes(k.page_size))
        self.fds: dict[str, int] = {}
        self.suspect_vpns = set(k.unreadable)  # swapoff could not read them: never trusted
        self.pool_suspect = not ld.pool_trusted or bool(
            kinds & {"pool", "pool-state", "pool-header", "pool-truncated", "pool-missing",
                     "zswap-entry", "zswap-index"})

    def say(self, text: str) -> None:
        from ghostswap_cli.state.db import printable

        self.report.repairs.append(printable(text))

    def run(self) -> None:
        try:
            self._run()
        finally:
            for fd in self.fds.values():
                os.close(fd)

    # -- finding the pages ---------------------------------------------------------------------
    def _run(self) -> None:
        k, z = self.k, self.k.zswap
        arena = k.arena
        if self.pool_suspect and not isinstance(arena, _NoPool) and self.ld.pool_checkable:
            # the committed free lists and bump pointer are in doubt: read the whole file
            # while salvaging (every page is checked against its CRC), rebuild them after
            arena.rebuild([_whole_file(arena)])
            self.ld.pool_checkable = False
        active = {si.type: si for si in k.active()}
        self.bad_dev: dict[int, str] = {}
        seen_files: dict[tuple[int, int], int] = {}
        for si in k.active_list():
            p = backing_problem(k, si)
            if p is not None:
                self.bad_dev[si.type] = p.text.removeprefix(f"swap type {si.type}: {si.path}: ")
            elif seen_files.setdefault((si.dev, si.ino), si.type) != si.type:
                self.bad_dev[si.type] = "the same file is active twice"
        n = len(z.e_swp)
        self.by_swp: dict[int, list[int]] = collections.defaultdict(list)
        for eid in range(1, n):
            if z.e_swp[eid]:
                self.by_swp[z.e_swp[eid]].append(eid)
        self.used_eids: set[int] = set()
        keep: dict[int, dict[int, tuple[int, int]]] = {t: {} for t in active}
        kept_swp: set[int] = set()
        to_ram: list[tuple[int, int]] = []  # (vpn, type it came from)
        lost: list[tuple[int, int]] = []
        pages = list(swapped_ptes(k))
        self.vpns_by_swp: dict[int, list[int]] = collections.defaultdict(list)
        for vpn, pte, _csum in pages:
            self.vpns_by_swp[pte].append(vpn)
        for vpn, pte, csum in pages:
            t, off = pte >> _SHIFT, pte & _MASK
            si = active.get(t)
            slot_ok = (si is not None and t not in self.bad_dev and 0 < off < si.max
                       and off not in si.badpages and pte not in kept_swp)
            found = self._find(vpn, pte, csum, si, keep_slot=slot_ok)
            if found is None:
                lost.append((vpn, t))
            elif slot_ok:
                keep[t][off] = found
                kept_swp.add(pte)
                if found[0] & LOC_KIND == LOC_ZSWAP:
                    self.used_eids.add(found[1])
            else:
                to_ram.append((vpn, t))
        if lost and self.ld.pool_readable:
            self._scan_pool(keep, kept_swp, to_ram, lost, active)
        self._resolve_pool_overlaps(keep, to_ram, lost)
        # -- apply: page table ------------------------------------------------------------------
        mm = k.mm
        for vpn, _t in to_ram:
            self._set_pte(vpn, PTE_PRESENT)
        for vpn, _t in lost:
            self._set_pte(vpn, 0)
        mm.present_pages = sum(p.count(PTE_PRESENT) for p, _ in mm.table.values())
        mm.swapped_pages = sum(PTRS_PER_PTE - p.count(0) - p.count(PTE_PRESENT)
                               for p, _ in mm.table.values())
        self.report.lost = sorted(vpn for vpn, _ in lost)
        # -- areas --------------------------------------------------------------------------------
        for t, reason in sorted(self.bad_dev.items()):
            si = active[t]
            n_in = sum(1 for _, s in to_ram if s == t)
            n_lost = sum(1 for _, s in lost if s == t)
            self._deactivate(si)
            self.say(f"deactivated swap type {t} ({si.path}): {reason}; {n_in} pages brought "
                     f"back into RAM, {n_lost} lost")
            del keep[t]
        for t in sorted(set(s for _, s in to_ram + lost) - set(self.bad_dev)):
            n_in = sum(1 for _, s in to_ram if s == t)
            n_lost = sum(1 for _, s in lost if s == t)
            if n_in:
                self.say(f"swap type {t}: {n_in} pages that could not keep their slot brought "
                         f"back into RAM")
            if n_lost:
                self.say(f"swap type {t}: {n_lost} pages lost (no copy of their data matches "
                         f"its checksum)")
        for t in sorted(self.salvage.dropped_types):
            self.say(f"swap type {t}: unreadable swap_info row removed")
        for t, slots_keep in keep.items():
            self._rebuild_slots(active[t], slots_keep)
        self._rebuild_zswap(keep)
        self._rebuild_pool(keep)
        self._fix_counters(keep)
        if lost:
            log = k.printk
            for vpn, _t in lost[:LOG_LOST_PAGES]:
                log.pr_err(f"ghostswap: fsck: page {vpn:#x} lost: no copy of its data matches "
                           f"its checksum")
            if len(lost) > LOG_LOST_PAGES:
                log.pr_err(f"ghostswap: fsck: {len(lost) - LOG_LOST_PAGES} more pages lost")
            k.counters["corrupt_pages"] += len(lost)
        k.note_unreadable((), clear=True)  # every page was read or marked lost
        k.printk.pr_warn(f"ghostswap: fsck: {len(self.report.problems)} problems repaired, "
                         f"{len(lost)} pages lost")

    def _set_pte(self, vpn: int, value: int) -> None:
        mm = self.k.mm
        ptes, csums = mm.table[vpn // PTRS_PER_PTE]
        ptes[vpn % PTRS_PER_PTE] = value
        csums[vpn % PTRS_PER_PTE] = 0
        mm.dirty.add(vpn // PTRS_PER_PTE)

    def _recorded(self, si, off: int) -> tuple[int, int, bool] | None:
        """(loc, ref, consistent) recorded at the slot, or None when there is no record."""
        if si is None or si.slots is None or not 0 < off < si.max:
            return None
        c = si.slots.clusters.get(off // _CL)
        if c is None:
            return None
        j = off % _CL
        return c.loc[j], c.ref[j], c.map[j] == 1

    def _find(self, vpn: int, pte: int, csum: int, si, keep_slot: bool
              ) -> tuple[int, int] | None:
        """(loc, ref) of bytes matching ``csum`` for page ``vpn`` (swap entry ``pte``)."""
        z = self.k.zswap
        t, off = pte >> _SHIFT, pte & _MASK
        rec = self._recorded(si, off)
        tried: set[tuple[int, int]] = set()
        if rec is not None:
            loc, ref, consistent = rec
            kind = loc & LOC_KIND
            if kind == LOC_ZSWAP and not (0 < ref < len(z.e_swp) and z.e_swp[ref] == pte):
                consistent = False
            if kind == LOC_ZSWAP and ref in self.used_eids:
                consistent = False
            trusted = consistent and keep_slot and not self.verify and \
                vpn not in self.suspect_vpns and (
                kind == LOC_ZERO and csum == self.zero_csum
                or kind == LOC_DISK and t not in self.bad_dev
                or kind in (LOC_ZSWAP, LOC_CACHE) and not self.pool_suspect)
            if kind in (LOC_ZERO, LOC_ZSWAP, LOC_CACHE, LOC_DISK) and not (
                    kind == LOC_ZSWAP and ref in self.used_eids):
                if trusted or self._matches(si, off, loc, ref, csum):
                    return (LOC_DISK | LOC_COMMITTED, 0) if kind == LOC_DISK else (kind, ref)
                tried.add((kind, 0 if kind == LOC_DISK else ref))
        for eid in self.by_swp.get(pte, ()):
            if eid not in self.used_eids and (LOC_ZSWAP, eid) not in tried and \
                    self._matches(si, off, LOC_ZSWAP, eid, csum):
                return LOC_ZSWAP, eid
        if csum == self.zero_csum:
            return LOC_ZERO, 0
        path = backing_path(self.k.directory, si) if si is not None else self.salvage.paths.get(t)
        if path is not None and (si is None or not si.is_ghost) and (LOC_DISK, 0) not in tried:
            page = self._disk(path, off)
            if page is not None and zlib.crc32(page) == csum:
                return LOC_DISK | LOC_COMMITTED, 0
        return None

    def _disk(self, path: str, off: int) -> bytes | None:
        return disk_page(self.k, path, off, self.fds) if off > 0 else None

    def _matches(self, si, off: int, loc: int, ref: int, csum: int) -> bool:
        kind = loc & LOC_KIND
        if kind == LOC_DISK:
            if si is None or si.is_ghost:
                return False
            page = self._disk(backing_path(self.k.directory, si), off)
        elif kind in (LOC_ZSWAP, LOC_CACHE) and not self.ld.pool_readable:
            return False
        else:
            page = read_page(self.k, si, off, loc, ref, self.fds)
        return page is not None and zlib.crc32(page) == csum

    def _scan_pool(self, keep, kept_swp, to_ram, lost, active) -> None:
        """Last resort for pages found nowhere: a page left in the swap cache is a raw page in
        the pool, and an unreadable cluster record loses its handle. Look for it, by checksum,
        in the parts of the pool that no stored object claims."""
        k, z, ps = self.k, self.k.zswap, self.ps
        arena = k.arena
        g_page = ps >> 4
        claimed = [(z.e_handle[e], (z.e_len[e] + 15) >> 4) for e in z.live_entries()]
        for si in active.values():
            if si.slots is None:
                continue
            for c in si.slots.clusters.values():
                for i in range(_CL):
                    if c.map[i] and c.loc[i] & LOC_KIND == LOC_CACHE:
                        claimed.append((c.ref[i], g_page))
        claimed.sort()
        end_g = arena.bump_bytes >> 4
        wanted: dict[int, list[tuple[int, int]]] = collections.defaultdict(list)
        for vpn, t in lost:
            wanted[self._csum(vpn)].append((vpn, t))
        found: dict[int, int] = {}  # vpn -> handle
        cur = 1
        gaps = []
        for h, g in claimed + [(end_g, 0)]:
            if h - cur >= g_page:
                gaps.append((cur, h))
            cur = max(cur, h + g)
        budget = 1 << 22  # windows checked at most (16 GiB of crc32 is not a repair)
        for start, stop in gaps:
            g = start
            while g + g_page <= stop and wanted and budget > 0:
                budget -= 1
                try:
                    page = arena.read(g, ps)
                except GhostswapError:
                    break
                hit = wanted.get(zlib.crc32(page))
                if hit:
                    vpn, _t = hit.pop()
                    if not hit:
                        del wanted[zlib.crc32(page)]
                    found[vpn] = g
                    g += g_page
                else:
                    g += 1
        if not found:
            return
        still = []
        for vpn, t in lost:
            h = found.get(vpn)
            if h is None:
                still.append((vpn, t))
                continue
            pte = k.mm.lookup(vpn)[0]
            si = active.get(t)
            off = pte & _MASK
            if (si is not None and t not in self.bad_dev and 0 < off < si.max
                    and off not in si.badpages and pte not in kept_swp):
                keep[t][off] = (LOC_CACHE, h)
                kept_swp.add(pte)
            else:
                to_ram.append((vpn, t))
        lost[:] = still
        self.say(f"zswap pool: {len(found)} pages found again by their checksums in pool space "
                 f"no record claimed")

    def _resolve_pool_overlaps(self, keep, to_ram, lost) -> None:
        """Two kept pages whose pool extents overlap cannot both be right: keep the ones whose
        bytes match, bring a matching second one into RAM, lose the rest."""
        z = self.k.zswap
        ext = []
        for t, slots_keep in keep.items():
            for off, (loc, ref) in slots_keep.items():
                kind = loc & LOC_KIND
                if kind == LOC_ZSWAP:
                    ext.append((z.e_handle[ref], z.e_handle[ref] + (z.e_len[ref] + 15) // 16,
                                t, off))
                elif kind == LOC_CACHE:
                    ext.append((ref, ref + self.ps // 16, t, off))
        ext.sort()
        end = 0
        prev = None
        limit = self.k.arena.file_bytes >> 4
        for start, stop, t, off in ext:
            bad = start < 1 or stop > limit or (prev is not None and start < end)
            if bad:
                vpns = self._vpns_of((t << _SHIFT) | off)
                si = self.k.swap_info_for_type(t)
                loc, ref = keep[t][off]
                good = start >= 1 and stop <= limit and all(
                    self._matches(si, off, loc, ref, self._csum(v)) for v in vpns)
                del keep[t][off]
                if loc & LOC_KIND == LOC_ZSWAP:
                    self.used_eids.discard(ref)
                for v in vpns:
                    (to_ram if good else lost).append((v, t))
                continue
            if stop > end:
                end, prev = stop, (t, off)

    def _vpns_of(self, swp: int) -> list[int]:
        return self.vpns_by_swp.get(swp, [])

    def _csum(self, vpn: int) -> int:
        return self.k.mm.lookup(vpn)[1]

    # -- rebuilding ----------------------------------------------------------------------------
    def _deactivate(self, si) -> None:
        """The end of ``sys_swapoff`` once every page is back: priorities, then unpublish."""
        k = self.k
        if si.prio < 0 and k.machine["prio_scheme"] == "decrement":
            for other in k.active_list():
                if other is not si and (other.prio, -other.active_seq) < (
                        si.prio, -si.active_seq):
                    other.prio += 1
        k.printk.pr_warn(f"ghostswap: fsck: swap type {si.type} ({si.path}) deactivated")
        k.unpublish_swap_info(si)

    def _rebuild_slots(self, si, slots_keep: dict[int, tuple[int, int]]) -> None:
        old = si.slots
        new = SwapSlots(si.max, si.badpages)
        for off, (loc, ref) in slots_keep.items():
            c = new._cluster(off // _CL)
            i = off % _CL
            c.map[i], c.loc[i], c.ref[i] = 1, loc, ref if loc & LOC_KIND in (LOC_ZSWAP,
                                                                             LOC_CACHE) else 0
        _relist(new, old)
        if self._same_slots(si, old, new):
            return
        si.slots = new
        new.dirty = set(new.clusters)
        new.dropped = set()
        # every row of the area goes, unreadable ones included; save() writes the new ones
        self.k.db.execute("DELETE FROM clusters WHERE type=?", (si.type,))
        self.say(f"swap type {si.type}: rebuilt swap_map counts, slot records and the cluster "
                 f"allocator from the page table ({len(slots_keep)} slots in use)")
        k = self.k
        k._avail_groups = None

    def _same_slots(self, si, old: SwapSlots | None, new: SwapSlots) -> bool:
        """Nothing to rewrite: same records, and the old allocator had no problem."""
        if old is None or si.type in self.ld.allocator_rebuilt or \
                si.type in self.ld.cluster_rows_bad:
            return False
        if set(old.clusters) != set(new.clusters):
            return False
        for idx, c in new.clusters.items():
            o = old.clusters[idx]
            if o.map != c.map or o.loc != c.loc:
                return False
            for i in range(_CL):
                if c.loc[i] & LOC_KIND in (LOC_ZSWAP, LOC_CACHE) and o.ref[i] != c.ref[i]:
                    return False
        problems: list[str] = []
        from ghostswap_cli.kernel.check import _check_allocator

        _check_allocator(self.k, si, lambda kind, text: problems.append(text))
        return not problems and old.inuse_pages == new.inuse_pages and \
            si.inuse_pages_saved == new.inuse_pages

    def _rebuild_zswap(self, keep) -> None:
        z = self.k.zswap
        kept: dict[int, int] = {}
        for t, slots_keep in keep.items():
            for off, (loc, ref) in slots_keep.items():
                if loc & LOC_KIND == LOC_ZSWAP:
                    kept[ref] = (t << _SHIFT) | off
        n = len(z.e_swp)
        live = {eid for eid in range(1, n) if z.e_swp[eid]}
        relinked = sum(1 for eid, swp in kept.items() if z.e_swp[eid] != swp)
        zswap_kinds = {"zswap-count", "zswap-link", "zswap-free", "zswap-lru", "zswap-model",
                       "zswap-entry", "zswap-index", "record"}
        if set(kept) == live and not relinked and not (self.kinds & zswap_kinds) and \
                not self.ld.zswap_rebuilt:
            return
        # LRU order: the old list as far as it can be walked, then the rest by id
        order: list[int] = []
        seen: set[int] = set()
        eid = z.lru_head
        while eid and eid < n and eid not in seen:
            seen.add(eid)
            if eid in kept:
                order.append(eid)
            eid = z.e_next[eid]
        order += sorted(set(kept) - set(order))
        for eid in range(1, n):
            z.e_prev[eid] = z.e_next[eid] = 0
            if eid not in kept:
                z.e_swp[eid] = 0
                z.e_flags[eid] = 0
        for eid, swp in kept.items():
            z.e_swp[eid] = swp
        prev = 0
        for eid in order:
            z.e_prev[eid] = prev
            if prev:
                z.e_next[prev] = eid
            prev = eid
        z.lru_head = order[0] if order else 0
        z.lru_tail = prev
        z.stored_pages = len(kept)
        old_free = [i for i in z.free_ids if 0 < i < n and i not in kept]
        seen_free = set()
        free = []
        for i in old_free:
            if i not in seen_free:
                seen_free.add(i)
                free.append(i)
        free += [i for i in range(1, n) if i not in kept and i not in seen_free]
        z.free_ids = array("I", free)
        from ghostswap_cli.kernel.compressors import SAME_FILLED_ID

        model = z.model.empty_copy()
        same_filled = 0
        for eid in kept:
            if z.e_comp[eid] == SAME_FILLED_ID:
                same_filled += 1
            else:
                model.obj_store(z.e_len[eid] + z.hlen, eid)
        z.model = model
        z.k.counters["same_filled_pages"] = same_filled
        z.dirty = set(range(((n - 1) >> 12) + 1))
        self.salvage.cleanup.append(("DELETE FROM zswap_entries WHERE chunk > ?",
                                     ((n - 1) >> 12,)))
        dropped = len(live - set(kept))
        self.say(f"zswap: rebuilt LRU, counters and pool model from {len(kept)} entries"
                 + (f"; {relinked} entries relinked to their slots" if relinked else "")
                 + (f"; dropped {dropped} entries no page refers to" if dropped else ""))

    def _rebuild_pool(self, keep) -> None:
        from ghostswap_cli.kernel.arena import ArenaError

        z = self.k.zswap
        live = []
        for slots_keep in keep.values():
            for _off, (loc, ref) in slots_keep.items():
                kind = loc & LOC_KIND
                if kind == LOC_ZSWAP:
                    live.append((z.e_handle[ref], z.e_len[ref]))
                elif kind == LOC_CACHE:
                    live.append((ref, self.ps))
        arena = self.k.arena
        if isinstance(arena, _NoPool):  # pragma: no cover - repair always opens a real arena
            return
        if self.ld.pool_checkable and not arena.check(live):
            return
        try:
            arena.rebuild(live)
        except ArenaError as e:  # pragma: no cover - overlaps were resolved above
            raise StateError(f"cannot rebuild the pool: {e}") from None
        self.say(f"zswap pool: free lists rebuilt around {len(live)} live objects")

    def _fix_counters(self, keep) -> None:
        k = self.k
        from ghostswap_cli.kernel.swapfile import _counts_as_rotational

        want = {"nr_swapcache_pages": sum(1 for s in keep.values() for loc, _ in s.values()
                                          if loc & LOC_KIND == LOC_CACHE)}
        if k.machine["ghost_rotate_leak"] != "1":
            want["nr_rotate_swap"] = sum(1 for si in k.active() if _counts_as_rotational(k, si))
        if k.machine["prio_scheme"] == "decrement":
            want["least_priority"] = -1 - sum(1 for si in k.active()
                                              if not si.swap_flags & SWAP_FLAG_PREFER)
        want["nr_present_pages"] = k.mm.present_pages
        for name, value in want.items():
            if k.counters.get(name) != value:
                self.say(f"counter {name}: {k.counters.get(name)} -> {value}")
                k.counters[name] = value
