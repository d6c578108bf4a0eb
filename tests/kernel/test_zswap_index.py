"""The zswap entry index (issue #18): 20 bytes an entry, the slot kept as a 32-bit offset with
the swap type in the flags byte, and the migration of state schema 1 (64-bit ``e_swp``).

Property: any sequence of stores, loads and invalidations on a real kernel (real lz4, real pool
file) gives back exactly the bytes stored, keeps the accounting (stored pages, payload bytes,
bytes per entry) and survives a commit and a reopen. Migration: a state directory written by
ghostswap at 30c0488 (``tests/fixtures/state_schema1.tar.gz``, made by
``tests/fixtures/make_state_schema1.py``) opens, reads back every page and passes fsck."""

from __future__ import annotations

import json
import sqlite3
import tarfile
from array import array
from pathlib import Path

import pytest
from helpers import ghost_swapfile, machine, real_swapfile, swapon
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.zswap import ENTRY_BYTES, ENTRY_CHUNK, entry_record_v1_to_v2
from ghostswap_cli.state.db import SCHEMA_VERSION
from ghostswap_cli.uapi import SWP_OFFSET_MASK, SWP_TYPE_SHIFT

FIXTURE = Path(__file__).parent.parent / "fixtures" / "state_schema1.tar.gz"
PAGE = 4096


def _page(seed: int, kind: int) -> bytes:
    if kind == 0:  # text-like, compresses well
        return ((b"page %d of the property test " % seed) * 200)[:PAGE]
    if kind == 1:  # half random: compresses a little
        import random

        r = random.Random(seed)
        return r.randbytes(PAGE // 2) + bytes(PAGE // 2)
    return bytes([seed & 255]) * PAGE  # one repeated byte


def two_areas(d: Path) -> Path:
    """A kernel with a small ghost (type 0, 31 slots) and a real swapfile (type 1) after it."""
    state = d / "state"
    machine(state)
    swapon(state, ghost_swapfile(d / "ghost.swap", 32 * PAGE), real_swapfile(d / "real.swap"))
    return state


def index_bytes(z) -> int:
    return sum(memoryview(a).nbytes for a in (z.e_handle, z.e_len, z.e_off, z.e_prev,
                                               z.e_next, z.e_flags, z.e_comp))


def test_an_entry_is_20_bytes() -> None:
    assert ENTRY_BYTES == 20


ops = st.lists(st.tuples(st.sampled_from(("store", "load", "invalidate", "commit")),
                         st.integers(0, 63), st.integers(0, 2)), min_size=1, max_size=120)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_store_load_free_give_back_the_exact_bytes(tmp_path_factory, sequence) -> None:
    d = tmp_path_factory.mktemp("zidx")
    state = two_areas(d)
    stored: dict[int, tuple[int, bytes]] = {}  # vpn -> (eid, page)
    with open_kernel(state) as k:
        k.load_all()
        z = k.zswap
        for op, slot, kind in sequence:
            vpn = 0x4000 + slot
            if op == "store":
                if vpn in stored:
                    continue
                page = _page(slot * 7 + kind, kind)
                k.mm.swap_out(vpn, page)
                eid = k.mm.zswap_entry_of(vpn)
                assert eid, "a compressible page goes to zswap"
                stored[vpn] = (eid, page)
                swp = z.e_swp[eid]
                assert z.e_off[eid] == swp & SWP_OFFSET_MASK
                assert z.e_flags[eid] >> 3 == swp >> SWP_TYPE_SHIFT
            elif op == "load" and vpn in stored:
                _eid, page = stored.pop(vpn)
                assert k.mm.swap_in(vpn) == page
            elif op == "invalidate" and vpn in stored:
                eid, _page_ = stored.pop(vpn)
                k.mm.free(vpn)
                assert z.e_swp[eid] == 0 and z.e_off[eid] == 0
            elif op == "commit":
                k.commit()
            assert z.stored_pages == len(stored)
            assert sorted(z.live_entries()) == sorted(e for e, _ in stored.values())
            assert sum(z.e_len[e] for e, _ in stored.values()) == sum(
                z.e_len[e] for e in z.live_entries())
            assert index_bytes(z) == ENTRY_BYTES * len(z.e_handle)
        k.commit()
    with open_kernel(state) as k:  # reopened from the committed records
        k.load_all()
        z = k.zswap
        assert z.stored_pages == len(stored)
        for vpn, (eid, page) in stored.items():
            assert z.decompress(eid) == page
            assert k.mm.swap_in(vpn) == page
        assert k.zswap.stored_pages == 0


@given(st.integers(0, 31), st.integers(1, (1 << 32) - 1), st.booleans())
def test_the_swap_entry_view_keeps_type_offset_and_the_referenced_bit(type_, offset, ref) -> None:
    from ghostswap_cli.kernel.zswap import E_REFERENCED, _SwpView

    class Z:
        e_off = array("I", [0, 0])
        e_flags = bytearray([0, E_REFERENCED if ref else 0])

    z = Z()
    view = _SwpView(z)  # type: ignore[arg-type]
    swp = type_ << SWP_TYPE_SHIFT | offset
    view[1] = swp
    assert view[1] == swp and len(view) == 2 and view.count(0) == 1 and view.count(swp) == 1
    assert bool(z.e_flags[1] & E_REFERENCED) == ref
    view[1] = 0
    assert view[1] == 0 and z.e_off[1] == 0 and bool(z.e_flags[1] & E_REFERENCED) == ref
    with pytest.raises(ValueError):
        view[1] = 1 << 32


@given(st.lists(st.tuples(st.integers(0, 31), st.integers(0, (1 << 32) - 1),
                          st.integers(0, 255)), min_size=1, max_size=50))
def test_a_schema1_record_converts_entry_by_entry(entries) -> None:
    n = len(entries)
    swp = array("Q", (t << SWP_TYPE_SHIFT | o if o else 0 for t, o, _ in entries))
    handle = array("I", range(n))
    length = array("H", (i % 4000 for i in range(n)))
    prev = array("I", range(1, n + 1))
    nxt = array("I", range(2, n + 2))
    flags = bytes(f & 1 for _, _, f in entries)
    comp = bytes(f for _, _, f in entries)
    v1 = b"".join((n.to_bytes(4, "little"), handle.tobytes(), length.tobytes(), swp.tobytes(),
                   prev.tobytes(), nxt.tobytes(), flags, comp))
    v2 = entry_record_v1_to_v2(v1)
    assert len(v2) == 4 + ENTRY_BYTES * n
    from ghostswap_cli.kernel.zswap import Zswap

    z = Zswap.__new__(Zswap)
    z.e_handle, z.e_len, z.e_off = array("I"), array("H"), array("I")
    z.e_prev, z.e_next, z.e_flags, z.e_comp = array("I"), array("I"), bytearray(), bytearray()
    z.load_chunk(0, v2)
    view = z.e_swp = __import__("ghostswap_cli.kernel.zswap", fromlist=["_SwpView"])._SwpView(z)
    assert [view[i] for i in range(n)] == list(swp)
    assert list(z.e_handle) == list(handle) and list(z.e_len) == list(length)
    assert list(z.e_prev) == list(prev) and list(z.e_next) == list(nxt)
    assert [f & 1 for f in z.e_flags] == list(flags) and bytes(z.e_comp) == comp
    assert entry_record_v1_to_v2(v1[:-1]) == v1[:-1]  # malformed: left for fsck


def _v1_entries(db: Path) -> dict[int, tuple[int, int, int]]:
    """eid -> (swp, handle, length) of every stored entry, read from schema-1 records."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
        out = {}
        for chunk, data in conn.execute("SELECT chunk, data FROM zswap_entries ORDER BY chunk"):
            n = int.from_bytes(data[:4], "little")
            assert len(data) == 4 + 24 * n
            h, ln, swp = array("I"), array("H"), array("Q")
            h.frombytes(data[4:4 + 4 * n])
            ln.frombytes(data[4 + 4 * n:4 + 6 * n])
            swp.frombytes(data[4 + 6 * n:4 + 14 * n])
            for i in range(n):
                if swp[i]:
                    out[chunk * ENTRY_CHUNK + i] = (swp[i], h[i], ln[i])
        return out
    finally:
        conn.close()


def _page_schema1(i: int) -> bytes:  # as make_state_schema1.py writes them
    return ((b"schema-1 page %d " % i) * 300)[:4096]


def _extract_fixture(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    state = tmp_path / "state"
    state.chmod(0o700)
    return state


def test_a_schema1_state_migrates_and_reads_back(tmp_path: Path, run_cli) -> None:
    state = _extract_fixture(tmp_path)
    before = _v1_entries(state / "state.db")
    assert len(before) == 266
    assert {swp >> SWP_TYPE_SHIFT for swp, _h, _l in before.values()} == {0, 1}
    # readers read schema 1 as it is, and leave it so
    r = run_cli("--state", state, "kernel", "show")
    assert r.exit_code == 0 and "266 pages stored" in r.output, r.output
    with open_kernel(state, write=False) as k:
        z = k.zswap
        assert {e: (z.e_swp[e], z.e_handle[e], z.e_len[e]) for e in z.live_entries()} == before
        assert z.decompress(next(iter(before))) is not None
    assert _v1_entries(state / "state.db") == before
    r = run_cli("--state", state, "kernel", "fsck", "--json")
    # the fixture's swap files were in the generator's temporary directory: only they are
    # missing; the index, the pool and the slots are consistent
    kinds = {p["kind"] for p in json.loads(r.output)["problems"]}
    assert kinds == {"backing-missing"}, r.output
    conn = sqlite3.connect(state / "state.db")
    try:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] \
            == str(SCHEMA_VERSION) == "2"
        for _chunk, data in conn.execute("SELECT chunk, data FROM zswap_entries"):
            assert len(data) == 4 + ENTRY_BYTES * int.from_bytes(data[:4], "little")
    finally:
        conn.close()
    with open_kernel(state) as k:
        k.load_all()
        z = k.zswap
        assert {e: (z.e_swp[e], z.e_handle[e], z.e_len[e]) for e in z.live_entries()} == before
        for i in range(400):
            if i % 3:
                assert k.mm.swap_in(0x1000 + i) == _page_schema1(i)
        assert k.mm.stats.corrupt_pages == 0 and z.stored_pages == 0
        k.commit()


def _downgrade_to_schema1(state: Path) -> None:
    """Rewrite a schema-2 state's entry records as schema 1 wrote them (the inverse of the
    migration), so the migration and fsck can be run on a state whose swap files exist."""
    conn = sqlite3.connect(state / "state.db")
    try:
        rows = conn.execute("SELECT chunk, data FROM zswap_entries").fetchall()
        for chunk, data in rows:
            n = int.from_bytes(data[:4], "little")
            off = array("I")
            off.frombytes(data[4 + 6 * n:4 + 10 * n])
            flags = data[4 + 18 * n:4 + 19 * n]
            swp = array("Q", (f >> 3 << SWP_TYPE_SHIFT | o if o else 0
                              for o, f in zip(off, flags, strict=True)))
            v1 = b"".join((data[:4 + 6 * n], swp.tobytes(), data[4 + 10 * n:4 + 18 * n],
                           bytes(f & 7 for f in flags), data[4 + 19 * n:]))
            conn.execute("UPDATE zswap_entries SET data=? WHERE chunk=?", (v1, chunk))
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
        conn.commit()
    finally:
        conn.close()


def test_fsck_and_repair_after_the_migration(tmp_path: Path, run_cli) -> None:
    state = two_areas(tmp_path)
    pages = {0x2000 + i: _page(i, i % 3) for i in range(100)}
    with open_kernel(state) as k:
        k.load_all()
        for vpn, page in pages.items():
            k.mm.swap_out(vpn, page)
        k.commit()
    _downgrade_to_schema1(state)
    before = _v1_entries(state / "state.db")
    assert {swp >> SWP_TYPE_SHIFT for swp, _h, _l in before.values()} == {0, 1}
    r = run_cli("--state", state, "kernel", "fsck")
    assert r.exit_code == 0 and "clean" in r.output, r.output
    with open_kernel(state) as k:
        k.load_all()
        z = k.zswap
        assert {e: (z.e_swp[e], z.e_handle[e], z.e_len[e]) for e in z.live_entries()} == before
        a, c = list(z.live_entries())[:2]
        z.e_swp[a], z.e_swp[c] = z.e_swp[c], z.e_swp[a]  # two entries name each other's slots
        z.dirty.update((a >> 12, c >> 12))
        k.commit()
    r = run_cli("--state", state, "kernel", "fsck")
    assert r.exit_code != 0 and "zswap entry 1: says slot 0:2, but slot 0:1" in r.output
    r = run_cli("--state", state, "kernel", "fsck", "--repair")
    assert "2 entries relinked to their slots" in r.output and "consistent now" in r.output
    r = run_cli("--state", state, "kernel", "fsck")
    assert r.exit_code == 0 and "clean" in r.output, r.output
    with open_kernel(state) as k:
        k.load_all()
        for vpn, page in pages.items():
            assert k.mm.swap_in(vpn) == page
        assert k.mm.stats.corrupt_pages == 0
