"""Fuzz targets for ghostswap's untrusted inputs, shared by the test suite and ``fuzz/run.py``.

Every target takes raw bytes (what atheris hands out; hypothesis draws them with
``st.binary()``) and decodes its choices from them with :class:`Reader`, so the same target
runs under atheris's coverage-guided mutation, under hypothesis's shrinking, and in a
regression test from a saved input. A target returns normally when the code under test
behaved, and raises ``AssertionError`` (or lets an unexpected exception escape) when it did
not: a Python traceback from a ghostswap command, an error that is not one line, a failed
command that changed the state, or page bytes that differ from what was swapped out without
being reported as corrupt.

Targets:

``header``      ``find_swap_header`` and ``classify`` on random pages and mutated valid
                headers: only values, never an exception.
``swapon``      ``sys_swapon`` of a mutated header file on a real kernel: KernelError or an
                area, and a failure leaves the swap table as it was.
``probe``       ``ghostswap probe`` (CLI) on random and mutated files: never a traceback.
``trace``       the text and binary trace readers: TraceError or events.
``replay``      ``ghostswap replay`` (CLI) of mutated traces: success, or one line and an
                unchanged state.
``state``       one corruption of a state directory (a row, a blob, a column's type, a
                truncated or overwritten state.db or zswap.pool), then ``cat /proc/swaps``,
                ``swapshow``, ``dmesg``, ``replay`` of every page, ``swapoff -a`` and
                ``kernel fsck``: each works or ends in one line; a page read back through
                the kernel is its original bytes or reported corrupt; ``kernel fsck --repair``
                leaves a state that ``kernel fsck`` finds clean and whose pages read back
                right.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = (
    "Reader",
    "TARGETS",
    "target_header",
    "target_swapon",
    "target_probe",
    "target_trace",
    "target_replay",
    "target_state",
    "build_state",
    "page_for",
    "time_limit",
)

PS = 4096


class Reader:
    """Decode choices from fuzzer bytes; past the end every read returns zeros."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bytes(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out + bytes(n - len(out))

    def int(self, n_bytes: int = 2) -> int:
        return int.from_bytes(self.bytes(n_bytes), "little")

    def below(self, n: int) -> int:
        return self.int(4) % n if n > 0 else 0

    def choice(self, seq):
        return seq[self.below(len(seq))]

    def rest(self, limit: int = 1 << 16) -> bytes:
        out = self.data[self.pos : self.pos + limit]
        self.pos = len(self.data)
        return out

    def mutate(self, data: bytes, rounds: int | None = None) -> bytes:
        """Flip, cut, insert or delete bytes of ``data``, as the fuzzer's bytes say."""
        b = bytearray(data)
        for _ in range(rounds if rounds is not None else 1 + self.below(4)):
            kind = self.below(5)
            i = self.below(len(b) + 1)
            if kind == 0 and b:
                b[i % len(b)] ^= self.int(1) or 1
            elif kind == 1:
                del b[i:]
            elif kind == 2:
                b[i:i] = self.bytes(1 + self.below(8))
            elif kind == 3:
                del b[i : i + 1 + self.below(8)]
            elif b:  # an interesting 32-bit value somewhere: sizes, counts, offsets
                v = self.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0xFFFF, 4096])
                j = i % max(len(b) - 3, 1)
                b[j : j + 4] = v.to_bytes(4, "little")
        return bytes(b)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail with TimeoutError instead of hanging (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(*_args) -> None:
        raise TimeoutError(f"fuzz input still running after {seconds} s (a hang?)")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- helpers shared by the targets -------------------------------------------------------------

_WORK: dict[str, Path] = {}


def _workdir(name: str) -> Path:
    """A per-process scratch directory (removed at exit)."""
    if name not in _WORK:
        import atexit

        d = Path(tempfile.mkdtemp(prefix=f"ghostswap-fuzz-{name}-"))
        atexit.register(shutil.rmtree, d, True)
        _WORK[name] = d
    return _WORK[name]


def _runner():
    from click.testing import CliRunner

    return CliRunner()


def _invoke(args: list[str], env: dict[str, str] | None = None):
    """Run the CLI in-process; an exception escaping the CLI propagates (a bug)."""
    from ghostswap_cli.cli import cli

    return _runner().invoke(cli, args, env=env, catch_exceptions=False)


def _one_line_failure(result, what: str, silent_ok: tuple[int, ...] = ()) -> None:
    """No traceback; a failure says why on stderr, one line per failing thing. Exit statuses
    in ``silent_ok`` report on stdout instead (fsck's "problems found", replay's "corrupt
    pages")."""
    err = result.stderr
    assert "Traceback" not in err and "Traceback" not in result.stdout, (what, err)
    assert not any(line.startswith("  File ") for line in err.splitlines()), (what, err)
    if result.exit_code != 0 and result.exit_code not in silent_ok:
        assert err.endswith("\n") and all(line.strip() for line in err.splitlines()), (
            what, result.exit_code, err)


def page_for(vpn: int) -> bytes:
    """The bytes page ``vpn`` holds in a built state: zero, incompressible or text."""
    from ghostswap_cli.codec.trace import random_page, text_page

    kind = vpn % 4
    if kind == 0:
        return bytes(PS)
    if kind == 1:
        return random_page(vpn, PS)
    return text_page(vpn, PS)


def build_state(folder: Path, n: int = 60) -> tuple[Path, dict[int, bytes]]:
    """A state in ``folder/state`` with pages everywhere a page can be: on a real file
    (type 0: zeromap, zswap, disk) and on a ghost in front of it (type 1: zeromap, zswap,
    swap cache). Returns the state directory and the bytes of every swapped-out page."""
    from ghostswap_cli.cli.demo import make_swapfile
    from ghostswap_cli.kernel.machine import open_kernel, reset_state
    from ghostswap_cli.kernel.swapfile import sys_swapon
    from ghostswap_cli.uapi import SWAP_FLAG_PREFER

    state = folder / "state"
    reset_state(state, {"backing_rotational": "0", "backing_discard": "0"}, keep_machine=False)
    real, ghost = folder / "real.swap", folder / "ghost.swap"
    make_swapfile(real, 4 << 20, PS, ghost=False, label="real")
    make_swapfile(ghost, 64 << 20, PS, ghost=True, label="ghost")
    pages: dict[int, bytes] = {}
    for path, prio, base in ((real, 5, 0x1000), (ghost, 10, 0x5000)):
        with open_kernel(state) as k:
            sys_swapon(k, str(path), SWAP_FLAG_PREFER | prio)
            for vpn in range(base, base + n):
                pages[vpn] = page_for(vpn)
                k.mm.swap_out(vpn, pages[vpn])
    conn = sqlite3.connect(state / "state.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return state, pages


def state_rows(state: Path) -> dict[str, list]:
    """Every row of every table, for "nothing changed" comparisons."""
    conn = sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True)
    conn.text_factory = bytes  # damaged text is compared, not decoded
    try:
        tables = [r[0].decode() if isinstance(r[0], bytes) else r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
                for t in tables}
    finally:
        conn.close()


def read_back(state: Path, pages: dict[int, bytes]) -> tuple[int, int]:
    """Swap every page in through the kernel (rolled back); assert each is its original bytes
    or reported corrupt (None). Returns (pages read right, pages reported corrupt). A clean
    StateError stops the walk (the state said it is inconsistent: not silent)."""
    from ghostswap_cli.errors import GhostswapError
    from ghostswap_cli.kernel.machine import open_kernel
    from ghostswap_cli.kernel.mm import PTE_PRESENT

    class _Rollback(Exception):
        pass

    good = corrupt = 0
    with contextlib.suppress(_Rollback, GhostswapError), open_kernel(state, create=False) as k:
        for vpn, want in pages.items():
            pte = k.mm.lookup(vpn)[0]
            if not pte or pte == PTE_PRESENT:
                continue
            got = k.mm.swap_in(vpn)
            if got is None:
                corrupt += 1
            else:
                assert got == want, f"page {vpn:#x} came back with other bytes, unreported"
                good += 1
        raise _Rollback
    return good, corrupt


# --- targets -----------------------------------------------------------------------------------


def _valid_header(r: Reader) -> bytes:
    from ghostswap_cli.codec.swap_header import ByteOrder, SwapHeader, build_swap_header

    ps = r.choice([4096, 8192, 16384, 65536])
    n_bad = r.below(4)
    last = max(1, r.int(4))  # a u32, never 0 (build refuses nothing else)
    h = SwapHeader(page_size=ps, byteorder=r.choice([ByteOrder.LITTLE, ByteOrder.BIG]),
                   version=1, last_page=last, nr_badpages=n_bad, sws_uuid=r.bytes(16),
                   sws_volume=r.bytes(16),
                   badpages=tuple(1 + r.below(max(last, 1)) for _ in range(n_bad)))
    return build_swap_header(h)


def target_header(data: bytes) -> None:
    from ghostswap_cli.codec.swap_header import PAGE_SIZES, classify, find_swap_header

    r = Reader(data)
    page = r.mutate(_valid_header(r)) if r.below(2) else r.rest(1 << 16)
    size = r.choice([len(page), PS, 40 << 10, 1 << 40, r.int(8)])
    pinned = r.choice([None, *PAGE_SIZES])
    found = find_swap_header(page)
    find_swap_header(page, suspend=True)
    found2, cls = classify(page, size, pinned, regular_file=bool(r.below(2)))
    assert cls.kind is not None
    if found is not None:
        assert found.page_size in PAGE_SIZES


def target_swapon(data: bytes) -> None:
    """The kernel's ``read_swap_header`` and swapon pipeline on a mutated header."""
    from ghostswap_cli.errors import KernelError
    from ghostswap_cli.kernel.machine import open_kernel, reset_state
    from ghostswap_cli.kernel.swapfile import swap_show, sys_swapon

    r = Reader(data)
    work = _workdir("swapon")
    state = work / "state"
    if not (state / "state.db").exists():
        reset_state(state, {"backing_rotational": "0", "backing_discard": "0"},
                    keep_machine=False)
    path = work / "area"
    page = r.mutate(_valid_header(r))
    size = r.choice([PS, 2 * PS, 40 << 10, len(page), 1 << 20])
    with open(path, "wb") as f:
        f.write(page[:size])
        if size > len(page):
            f.truncate(size)

    class _Rollback(Exception):
        pass

    with contextlib.suppress(_Rollback), open_kernel(state) as k:
        before = swap_show(k)
        try:
            si = sys_swapon(k, str(path), r.int(4) & 0x7FFFF)
        except KernelError:
            assert swap_show(k) == before, "a failed swapon changed the swap table"
        else:
            assert 0 < si.pages < si.max <= 0xFFFFFFFF
        raise _Rollback
    path.unlink()


def target_probe(data: bytes) -> None:
    r = Reader(data)
    work = _workdir("probe")
    path = work / "file"
    content = r.mutate(_valid_header(r)) if r.below(2) else r.rest(1 << 17)
    path.write_bytes(content)
    fmt = r.choice(["full", "value", "export", "json"])
    res = _invoke(["probe", "-o", fmt, str(path)])
    assert res.exit_code in (0, 2), (res.exit_code, res.stderr)
    _one_line_failure(res, "probe", silent_ok=(2,))  # blkid -p: nothing found, nothing said


def target_trace(data: bytes) -> None:
    from ghostswap_cli.codec.trace import open_trace
    from ghostswap_cli.errors import TraceError

    r = Reader(data)
    work = _workdir("trace")
    kind = r.below(3)
    if kind == 0:
        body = b"ghostswap-trace 1\n" + r.rest(1 << 14)
    elif kind == 1:
        body = r.mutate(_VALID_TEXT)
    else:
        body = r.mutate(_valid_binary())
    path = work / ("t.gstrace" if kind == 2 else "t.trace")
    path.write_bytes(body)
    with contextlib.suppress(TraceError), open_trace(path) as tr:
        for _ in tr:
            pass


_VALID_TEXT = (b"ghostswap-trace 1\npage-size 4096\nout 0x10 zero\nout 0x11 fill:0x5a\n"
               b"out 0x12 text:7\nout 0x13 random:3\nin 0x10\nin 0x12\nfree 0x11\n"
               b"out 0x10 hex:" + b"ab" * PS + b"\nin 0x13\n")
_BINARY_CACHE: list[bytes] = []


def _valid_binary() -> bytes:
    if not _BINARY_CACHE:
        from ghostswap_cli.codec.trace import convert_trace, open_trace

        work = _workdir("trace-corpus")
        (work / "v.trace").write_bytes(_VALID_TEXT)
        with open_trace(work / "v.trace") as tr:
            convert_trace(tr, work / "v.gstrace", "binary")
        _BINARY_CACHE.append((work / "v.gstrace").read_bytes())
    return _BINARY_CACHE[0]


def _replay_state() -> Path:
    """A small state with a real file and a ghost active, built once per process."""
    work = _workdir("replay")
    state = work / "state"
    if not (state / "state.db").exists():
        build_state(work, n=20)
    return state


def target_replay(data: bytes) -> None:
    r = Reader(data)
    state = _replay_state()
    work = state.parent
    kind = r.below(2)
    body = r.mutate(_VALID_TEXT if kind == 0 else _valid_binary())
    path = work / ("m.trace" if kind == 0 else "m.gstrace")
    path.write_bytes(body)
    before = state_rows(state)
    res = _invoke(["--state", str(state), "replay", "--no-progress", str(path)])
    _one_line_failure(res, "replay", silent_ok=(3,))
    if res.exit_code not in (0, 3):
        # the state keeps its pages between inputs: the replay warns about them first
        said = [line for line in res.stderr.splitlines() if "from earlier replays" not in line]
        assert len(said) == 1, res.stderr
        assert state_rows(state) == before, "a failed replay changed the state"
    elif res.exit_code == 0:
        # keep the state small: put it back for the next input
        shutil.rmtree(work)
        _WORK.pop("replay")


# --- state corruption ---------------------------------------------------------------------------

_TEMPLATE: list[tuple[Path, dict[int, bytes]]] = []
_TABLES = ("clusters", "ptes", "zswap_entries", "blobs", "swap_info", "params", "counters",
           "meta", "klog")


def _template() -> tuple[Path, dict[int, bytes]]:
    if not _TEMPLATE:
        work = _workdir("state-template")
        _TEMPLATE.append(build_state(work, n=40))
    return _TEMPLATE[0]


def _fresh_copy() -> tuple[Path, dict[int, bytes]]:
    """A copy of the template's folder (state and swap files at the same paths: swap_info
    rows name absolute paths, so the copy replaces the template's own files in place)."""
    tmpl_state, pages = _template()
    folder = tmpl_state.parent
    pristine = _workdir("state-pristine")
    if not (pristine / "state").exists():
        shutil.copytree(folder, pristine, dirs_exist_ok=True)
    # restore the template's folder from the pristine copy before each input
    for name in ("real.swap", "ghost.swap"):
        shutil.copyfile(pristine / name, folder / name)
    shutil.rmtree(folder / "state", ignore_errors=True)
    shutil.copytree(pristine / "state", folder / "state")
    os.chmod(folder / "state", 0o700)
    return folder / "state", pages


def _random_value(r: Reader):
    return r.choice([
        None, 0, -1, 1, 1 << 31, (1 << 63) - 1, -(1 << 63), 10**12, 3.5, "", "x" * 5,
        "abc\0def", b"", r.bytes(r.below(64)), r.bytes(8), "/etc/shadow", "../../x",
    ])


def corrupt_state(r: Reader, state: Path) -> str:
    """Apply one corruption chosen by ``r``; returns what was done (for messages)."""
    kind = r.below(10)
    db_path = state / "state.db"
    pool = state / "zswap.pool"
    if kind == 0:
        size = db_path.stat().st_size
        n = r.below(size + 1)
        os.truncate(db_path, n)
        return f"state.db truncated to {n} bytes"
    if kind == 1:
        size = db_path.stat().st_size
        off = r.below(size)
        junk = r.bytes(1 + r.below(64))
        with open(db_path, "r+b") as f:
            f.seek(off)
            f.write(junk)
        return f"state.db overwritten at {off}"
    if kind == 2 and pool.exists():
        n = r.choice([0, 8, 16, 100, 4096, 1 << 16, r.below(pool.stat().st_size + 1)])
        os.truncate(pool, n)
        return f"zswap.pool truncated to {n} bytes"
    if kind == 3 and pool.exists():
        off = r.choice([0, 8, 16, r.below(1 << 16), r.below(pool.stat().st_size)])
        with open(pool, "r+b") as f:
            f.seek(off)
            f.write(r.bytes(1 + r.below(256)))
        return f"zswap.pool overwritten at {off}"
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        table = r.choice(_TABLES)
        # clusters is WITHOUT ROWID: name its rows by their key
        key = "type=? AND idx=?" if table == "clusters" else "rowid=?"
        pick = "type, idx" if table == "clusters" else "rowid"
        rows = conn.execute(f"SELECT {pick}, * FROM {table}").fetchall()  # noqa: S608
        cols = [d[1] for d in conn.execute(f"PRAGMA table_info({table})")]
        if not rows:
            return f"{table}: empty"
        row = r.choice(rows)
        nkey = 2 if table == "clusters" else 1
        rowid, values = row[:nkey], row[nkey:]
        action = r.below(4)
        try:
            if action == 0:
                conn.execute(f"DELETE FROM {table} WHERE {key}", rowid)  # noqa: S608
                return f"{table}: row {rowid} deleted"
            col_i = r.below(len(cols))
            col, old = cols[col_i], values[col_i]
            if action == 1 and isinstance(old, bytes | str):
                raw = old.encode() if isinstance(old, str) else old
                new = r.mutate(raw)
                value = new.decode("utf-8", "replace") if isinstance(old, str) else new
            elif action == 2 and isinstance(old, int):
                value = old ^ (1 << r.below(64)) if r.below(2) else old + r.choice([-1, 1, 512])
                value = max(min(value, (1 << 63) - 1), -(1 << 63))
            else:
                value = _random_value(r)
            conn.execute(f"UPDATE {table} SET {col}=? WHERE {key}",  # noqa: S608
                         (value, *rowid))
            return f"{table}: row {rowid} column {col} = {value!r:.60}"
        except sqlite3.Error as e:
            return f"{table}: not applied ({e})"
    finally:
        conn.close()


def _snapshot(state: Path) -> tuple:
    """Rows (when SQLite can read them) and the pool's bytes: what check-only must not move."""
    try:
        rows = state_rows(state)
    except (sqlite3.Error, UnicodeDecodeError):
        rows = hashlib.sha1((state / "state.db").read_bytes()).hexdigest()
    pool = state / "zswap.pool"
    return rows, hashlib.sha1(pool.read_bytes()).hexdigest() if pool.exists() else None


def target_state(data: bytes, *, repair: bool = True) -> str:
    r = Reader(data)
    state, pages = _fresh_copy()
    what = corrupt_state(r, state)
    folder = state.parent
    fstab = folder / "fstab"
    fstab.write_text("")
    env = {"GHOSTSWAP_STATE": str(state), "LIBMOUNT_FSTAB": str(fstab), "NO_COLOR": "1"}
    trace = folder / "in.trace"
    trace.write_text("ghostswap-trace 1\n" + "".join(f"in {v:#x}\n" for v in sorted(pages))
                     + "".join(f"out {v:#x} text:{v}\n" for v in sorted(pages)[:8]))
    read_back(state, pages)
    for args in (["cat", "/proc/swaps"], ["swapshow"], ["dmesg"], ["kernel", "show"],
                 ["cat", "/proc/meminfo", "/sys/kernel/debug/zswap/stored_pages"]):
        _one_line_failure(_invoke(args, env=env), f"{' '.join(args)} after {what}")
    before = _snapshot(state)
    res = _invoke(["kernel", "fsck", "--verify"], env=env)
    _one_line_failure(res, f"fsck after {what}", silent_ok=(1,))
    assert res.exit_code in (0, 1, 8), (what, res.exit_code, res.stdout, res.stderr)
    assert _snapshot(state) == before, f"fsck without --repair changed the state ({what})"
    # the commands that change the state run on a copy; --repair runs on the original
    other = folder / "state-b"
    shutil.rmtree(other, ignore_errors=True)
    shutil.copytree(state, other)
    env_b = dict(env, GHOSTSWAP_STATE=str(other))
    for args, silent in ((["replay", "--no-progress", str(trace)], (3,)),
                         (["swapoff", "-a"], (32, 64))):
        _one_line_failure(_invoke(args, env=env_b), f"{' '.join(args)} after {what}", silent)
    if repair:
        res = _invoke(["kernel", "fsck", "--repair", "--verify"], env=env)
        _one_line_failure(res, f"fsck --repair after {what}", silent_ok=(1, 5))
        if res.exit_code != 8:
            after = _invoke(["kernel", "fsck", "--verify"], env=env)
            assert after.exit_code == 0, (what, res.stdout, after.stdout, after.stderr)
            _good, corrupt = read_back(state, pages)
            assert corrupt == 0, (what, "pages still corrupt after --repair")
    return what


TARGETS: dict[str, Callable[[bytes], object]] = {
    "header": target_header,
    "swapon": target_swapon,
    "probe": target_probe,
    "trace": target_trace,
    "replay": target_replay,
    "state": target_state,
}


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:12]
