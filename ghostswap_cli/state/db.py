"""The state directory and its SQLite database.

Layout of a state directory (created 0700; symlinks refused)::

    DIR/state.db      SQLite (WAL): swap_info table, clusters, page table, zswap index, params,
                      counters, kernel log                                            (0600)
    DIR/zswap.pool    the zswap pool arena (compressed objects and resident pages)    (0600)
    DIR/lock          flock(2) target that serialises writers between processes       (0600)

Writers take an exclusive ``flock`` on ``lock`` for the whole command and do all their changes
in one SQLite transaction, so two processes never interleave and a failed command changes
nothing. Readers use WAL snapshots and never block writers, nor are they blocked by them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ghostswap_cli.errors import StateError, StateIOError
from ghostswap_cli.faults import fault_point

__all__ = (
    "SCHEMA_VERSION",
    "DB_NAME",
    "POOL_NAME",
    "LOCK_NAME",
    "prepare_state_dir",
    "connect",
    "state_lock",
    "StateDB",
)

SCHEMA_VERSION = 2
DB_NAME = "state.db"
POOL_NAME = "zswap.pool"
LOCK_NAME = "lock"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE params (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE swap_info (
    type INTEGER PRIMARY KEY,
    flags INTEGER NOT NULL,
    prio INTEGER NOT NULL,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    file_size INTEGER NOT NULL,
    file_mtime_ns INTEGER NOT NULL,
    max INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    inuse_pages INTEGER NOT NULL,
    label TEXT NOT NULL,
    uuid TEXT NOT NULL,
    nr_extents INTEGER NOT NULL,
    span INTEGER NOT NULL,
    swap_flags INTEGER NOT NULL,
    active_seq INTEGER NOT NULL,
    avail_seq INTEGER NOT NULL,
    badpages BLOB NOT NULL,
    allocator BLOB NOT NULL
);
CREATE TABLE clusters (type INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
                       PRIMARY KEY (type, idx)) WITHOUT ROWID;
CREATE TABLE ptes (chunk INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE zswap_entries (chunk INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE klog (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, level INTEGER NOT NULL,
                   text TEXT NOT NULL);
"""

# Older schemas we know how to bring forward: version -> SQL that moves it to version + 1.
# The SQL may call the Python functions of _MIGRATION_FUNCTIONS.
MIGRATIONS: dict[int, str] = {
    # 2: zswap entry records keep the slot as a 32-bit offset and the type in the flags byte
    # (20 bytes an entry instead of 24)
    1: "UPDATE zswap_entries SET data = ghostswap_zswap_entries_v2(data)",
}


def _zswap_entries_v2(data: object) -> object:
    from ghostswap_cli.kernel.zswap import entry_record_v1_to_v2

    return entry_record_v1_to_v2(data) if isinstance(data, bytes) else data


_MIGRATION_FUNCTIONS = {"ghostswap_zswap_entries_v2": (1, _zswap_entries_v2)}
#: Older schemas a reader understands as they are (it converts their records on load), so
#: commands that only read need not wait for a writer to migrate them.
READABLE_SCHEMAS = frozenset({1})


# What to say for each cause, and only advice that is safe whatever the state holds: a full
# disk or a failing one is never a reason to start a fresh kernel.
_ADVICE = {
    errno.ENOSPC: "free some space and run the command again (nothing was changed)",
    errno.EDQUOT: "free some space and run the command again (nothing was changed)",
    errno.EFBIG: "the file size limit (ulimit -f) stops the write; raise it and run the "
                 "command again (nothing was changed)",
    errno.EIO: "the disk may be failing: copy the state directory somewhere safe before "
               "anything else",
    errno.EROFS: "the file system is read-only: commands that only read (cat, dmesg, swapshow, "
                 "kernel show) still work; use another --state to change anything",
    errno.EACCES: "check the owner and mode of the state directory and its files",
    errno.EPERM: "check the owner, mode and attributes of the state directory and its files",
    errno.ENOTDIR: "a component of the path is not a directory: give another --state",
    errno.ELOOP: "too many symbolic links in the path: give another --state",
    errno.ENAMETOOLONG: "the path is too long: give another --state",
}


def state_os_error(path: Path | str, e: OSError, what: str = "") -> StateError:
    """One line for an OSError met on a state file: the file, the cause, and safe advice."""
    code = e.errno or errno.EIO
    cause = os.strerror(code)
    advice = _ADVICE.get(code)
    where = f"{what}: " if what else ""
    return StateIOError(f"{path}: {where}{cause}" + (f"; {advice}" if advice else ""))


def _refuse_symlink(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise state_os_error(path, e) from None
    if stat.S_ISLNK(st.st_mode):
        raise StateError(f"{path}: refusing to use a symbolic link in the state directory")


def prepare_state_dir(directory: Path, create: bool = True) -> Path:
    """Make sure ``directory`` exists (0700) and is a real directory, not a symlink."""
    directory = Path(directory)
    refuse_unsafe_state_dir(directory)
    _refuse_symlink(directory)
    try:
        exists = os.path.lexists(directory)
        if not exists:
            os.stat(directory.parent)  # ENOTDIR, EACCES, ELOOP of the path say it clearly
    except FileNotFoundError:
        pass
    except OSError as e:
        raise state_os_error(directory, e) from None
    if not exists:
        if not create:
            raise StateError(f"{directory}: no state directory (run `ghostswap kernel init`)")
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise state_os_error(directory, e, "cannot create state directory") from None
    if not directory.is_dir():
        raise StateError(f"{directory}: not a directory")
    _refuse_foreign_owner(directory)
    for name in (DB_NAME, POOL_NAME, LOCK_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        _refuse_symlink(directory / name)
    return directory


#: Directories whose files belong to the system: a state there would litter it (or, as root,
#: put state.db beside the system's own files).
SYSTEM_DIRS = frozenset({"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64",
                         "/libx32", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp",
                         "/usr", "/var", "/var/tmp", "/var/lib", "/var/log", "/opt", "/home",
                         "/mnt", "/media", "/usr/bin", "/usr/lib", "/usr/local",
                         "/usr/local/bin", "/usr/sbin", "/usr/share", "/var/cache", "/var/run"})


def refuse_unsafe_state_dir(directory: Path) -> None:
    """A state directory must be one of its own: not ``/``, not a system directory, not the
    home directory itself."""
    text = str(directory)
    if not text.strip():
        raise StateError("the state directory is empty (GHOSTSWAP_STATE=\"\" or --state \"\"); "
                         "unset it for the default, or name a directory")
    try:
        real = os.path.realpath(directory)
    except (OSError, ValueError):
        real = os.path.abspath(text)
    home = os.path.realpath(os.path.expanduser("~"))
    if real in SYSTEM_DIRS or real == home:
        raise StateError(f"{directory}: refusing to use {real} as a state directory (it is a "
                         f"system or home directory, its files are not ghostswap's); name a "
                         f"directory of its own, e.g. {os.path.join(real, 'ghostswap')}")


def _refuse_foreign_owner(directory: Path) -> None:
    """Another user's state directory: their pages, and a lock and database they own."""
    try:
        st = os.stat(directory)
    except OSError as e:
        raise state_os_error(directory, e) from None
    uid = os.geteuid()
    if st.st_uid != uid:
        raise StateError(f"{directory}: the state directory belongs to uid {st.st_uid}, not to "
                         f"you (uid {uid}); use a state directory of your own")


def _create_private(path: Path) -> None:
    """Create ``path`` 0600 if missing, without following a symlink planted there."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise StateError(f"{path}: refusing to use a symbolic link in the state directory") from e
        raise state_os_error(path, e) from None
    os.close(fd)


@contextlib.contextmanager
def state_lock(
    directory: Path, on_wait: Callable[[], None] | None = None, timeout: float | None = None
) -> Iterator[None]:
    """Hold the writers' lock of ``directory``; ``on_wait`` is called once after a second."""
    path = directory / LOCK_NAME
    _create_private(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError as e:
        raise state_os_error(path, e) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            start = time.monotonic()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - start
                    if timeout is not None and waited > timeout:
                        raise StateError(
                            f"{directory}: state is locked by another ghostswap process"
                        ) from None
                    if timeout is None and waited > 1.0:
                        if on_wait:
                            on_wait()  # say so once, when the wait is noticeable
                        fcntl.flock(fd, fcntl.LOCK_EX)  # then queue in the kernel
                        break
                    time.sleep(0.001)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


# A damaged database can also hand back text that is not UTF-8, in a row or in SQLite's own
# error message (a damaged schema is quoted in it): the sqlite3 module then raises
# UnicodeDecodeError instead of DatabaseError.
_DB_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError)


def printable(text: str) -> str:
    """``text`` on one line: control and unprintable characters escaped (SQLite's messages
    quote damaged rows, which may hold anything)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# SQLite's primary result codes that are not about the database's contents
_SQLITE_ERRNO = {
    "SQLITE_FULL": errno.ENOSPC,
    "SQLITE_IOERR": errno.EIO,
    "SQLITE_READONLY": errno.EROFS,
    "SQLITE_PERM": errno.EACCES,
    "SQLITE_AUTH": errno.EACCES,
}


def _corrupt(path: Path, detail: str | BaseException) -> StateError:
    """The one line for a failed SQLite call: damage gets the way out of damage; a full disk,
    an I/O error, a read-only file system, a lock held elsewhere get their own cause."""
    if isinstance(detail, sqlite3.Error):
        name = getattr(detail, "sqlite_errorname", "") or ""
        primary = name.split("_")[0] + "_" + name.split("_")[1] if name.count("_") >= 1 else name
        if primary in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            return StateIOError(f"{path}: the state database is locked by another process (a "
                              f"ghostswap command or sqlite3 holding it); wait for it to finish "
                              f"and run the command again")
        code = _SQLITE_ERRNO.get(primary)
        if name.startswith("SQLITE_IOERR_NOMEM"):
            code = errno.ENOMEM
        if primary == "SQLITE_CANTOPEN":
            code = _cantopen_errno(path)
        if code is not None:
            return state_os_error(path, OSError(code, os.strerror(code)))
        if primary not in ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_ERROR", "SQLITE_SCHEMA",
                           "SQLITE_MISMATCH", "SQLITE_FORMAT", "SQLITE_RANGE", ""):
            return StateError(f"{path}: {printable(str(detail))} ({name})")
    detail = printable(str(detail))
    return StateError(
        f"{path}: state database is unreadable ({detail}); move the state directory away or "
        f"run `ghostswap kernel reset --force` to start a fresh kernel"
    )


def _cantopen_errno(path: Path) -> int:
    """Why SQLite could not open ``path`` (it does not say): ask the file system."""
    for target, mode in ((path, os.R_OK | os.W_OK), (path.parent, os.W_OK | os.X_OK)):
        try:
            os.stat(target)
        except OSError as e:
            return e.errno or errno.EIO
        if not os.access(target, mode):
            return errno.EACCES
    return errno.EIO


def connect(directory: Path, *, create: bool, readonly: bool = False) -> sqlite3.Connection:
    """Open ``state.db``; create and initialise the schema if ``create`` and it is missing."""
    path = directory / DB_NAME
    exists = path.exists()
    if not exists and not create:
        raise StateError(f"{directory}: no state database (run `ghostswap kernel init`)")
    if not exists:
        _create_private(path)
    try:
        if readonly:
            conn = _connect_readonly(path)
        else:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA busy_timeout = 30000")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                # a read-only filesystem or similar; rollback journal is still transactional
                pass
            conn.execute("PRAGMA synchronous = NORMAL")
        version = _schema_version(conn)
    except _DB_ERRORS as e:
        raise _corrupt(path, e) from None
    if version is None:
        if readonly:
            raise StateError(f"{directory}: state database is not initialised")
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path, 0o600)
        try:
            conn.execute("BEGIN IMMEDIATE")
            if _schema_version(conn) is None:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            conn.execute("COMMIT")
        except _DB_ERRORS as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise _corrupt(path, e) from None
    elif version != SCHEMA_VERSION:
        _migrate(conn, path, version, readonly)
    return conn


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A reader's connection. A WAL database needs its -shm file to be read; where that cannot
    be made (a read-only copy of a state, a read-only file system) nobody can be writing it
    either, so it is read as immutable."""
    from urllib.parse import quote

    uri = f"file:{quote(str(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError as e:
        name = getattr(e, "sqlite_errorname", "") or ""
        if not name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")) or _writable(path):
            raise
        conn.close()
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True,
                           isolation_level=None, timeout=30.0)


def _writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK) and (
        not os.path.exists(str(path) + "-shm") or os.access(str(path) + "-shm", os.W_OK))


def _schema_version(conn: sqlite3.Connection) -> int | None:
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if row is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        return None
    try:
        return int(row[0])
    except ValueError:
        return -1


def _migrate(conn: sqlite3.Connection, path: Path, version: int, readonly: bool) -> None:
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{path}: state was written by a newer ghostswap (schema {version}, this one "
            f"understands {SCHEMA_VERSION}); upgrade ghostswap or use another --state"
        )
    if version < 1 or any(v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
        raise StateError(
            f"{path}: state schema {version} cannot be migrated to {SCHEMA_VERSION}; "
            f"run `ghostswap kernel reset --force` to start a fresh kernel"
        )
    if readonly:
        if version in READABLE_SCHEMAS:
            return
        raise StateError(f"{path}: state schema {version} needs migrating; run any write command")
    for name, (nargs, fn) in _MIGRATION_FUNCTIONS.items():
        conn.create_function(name, nargs, fn, deterministic=True)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _schema_version(conn) == SCHEMA_VERSION:  # another process migrated it meanwhile
            conn.execute("COMMIT")
            return
        for v in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[v].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except sqlite3.DatabaseError:
        conn.execute("ROLLBACK")
        raise


class _Cursor:
    """A cursor whose row fetches, like its execute, turn SQLite failures into StateError:
    a damaged page of the database is often found only while rows are read."""

    __slots__ = ("_cur", "_path")

    def __init__(self, cur: sqlite3.Cursor, path: Path) -> None:
        self._cur = cur
        self._path = path

    def __iter__(self):
        return iter(self.fetchall())

    def fetchone(self):
        try:
            return self._cur.fetchone()
        except _DB_ERRORS as e:
            raise _corrupt(self._path, e) from None

    def fetchall(self) -> list:
        try:
            return self._cur.fetchall()
        except _DB_ERRORS as e:
            raise _corrupt(self._path, e) from None

    def __getattr__(self, name: str):
        return getattr(self._cur, name)


_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "COMMIT", "CREATE", "REPLAC"})


class StateDB:
    """A thin wrapper that turns every SQLite failure into a StateError with a way out."""

    def __init__(self, directory: Path, conn: sqlite3.Connection) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        self.conn = conn

    def execute(self, sql: str, params: tuple | list = ()) -> _Cursor:
        try:
            if sql[:6] in _WRITES:
                fault_point("db")
            return _Cursor(self.conn.execute(sql, params), self.path)
        except _DB_ERRORS as e:
            raise _corrupt(self.path, e) from None
        except OSError as e:
            raise state_os_error(self.path, e) from None

    def executemany(self, sql: str, rows) -> None:
        try:
            fault_point("db")
            self.conn.executemany(sql, rows)
        except _DB_ERRORS as e:
            raise _corrupt(self.path, e) from None
        except OSError as e:
            raise state_os_error(self.path, e) from None

    def begin(self, write: bool) -> None:
        self.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    # small typed helpers ------------------------------------------------------------------
    def get_blob(self, name: str) -> bytes | None:
        row = self.execute("SELECT data FROM blobs WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        if not isinstance(row[0], bytes):
            # bytes(n) of a corrupt integer would allocate n bytes
            raise StateError(f"{self.path}: blob {name!r} is not a blob; run "
                             f"`ghostswap kernel fsck --repair`")
        return row[0]

    def put_blob(self, name: str, data: bytes) -> None:
        self.execute(
            "INSERT INTO blobs(name, data) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET data=excluded.data",
            (name, data),
        )

    def get_meta(self, key: str) -> str | None:
        row = self.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def put_meta(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )
