"""One test per crash the fuzzing found (fuzz/targets.py): each damaged state used to end in a
Python traceback, a MemoryError, or page bytes read back without a word; now every command
says what is wrong in one line (pointing at ``kernel fsck --repair``), and fsck repairs it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from conftest import Built, build

from ghostswap_cli.errors import StateError
from ghostswap_cli.kernel.cluster import LOC_CACHE, LOC_ZSWAP
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.state.db import StateDB

FSCK_HINT = "run `ghostswap kernel fsck --repair`"


@pytest.fixture
def small(state_dir: Path, tmp_path: Path) -> Built:
    return build(state_dir, tmp_path, n=40)


def in_trace(b: Built) -> Path:
    p = b.state.parent / "in.trace"
    p.write_text("ghostswap-trace 1\n" + "".join(f"in {v:#x}\n" for v in sorted(b.pages)))
    return p


def one_line(r, *fragments: str) -> None:
    assert r.exit_code != 0, r.stdout
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr


def repaired(run_cli, b: Built) -> None:
    r = run_cli("--state", b.state, "kernel", "fsck", "--repair")
    assert r.exit_code in (1, 5), r.stdout + r.stderr
    after = run_cli("--state", b.state, "kernel", "fsck", "--verify")
    assert after.exit_code == 0, after.stdout


def test_a_blob_holding_a_huge_integer_is_not_allocated(small: Built, run_cli):
    """bytes(10**12) of an integer where a blob belongs tried to allocate a terabyte."""
    small.db().execute("UPDATE blobs SET data=? WHERE name='zswap.model'", (10**12,))
    r = run_cli("--state", small.state, "cat", "/proc/meminfo")
    one_line(r, "blob 'zswap.model' is not a blob", FSCK_HINT)
    repaired(run_cli, small)


def test_a_missing_pool_model_is_reported_not_a_valueerror(small: Built, run_cli):
    """zsmalloc's obj_free raised ValueError on the first swap-in from zswap."""
    small.db().execute("DELETE FROM blobs WHERE name='zswap.model'")
    r = run_cli("--state", small.state, "replay", "--no-progress", in_trace(small))
    one_line(r, "zswap pool model accounts 0 objects", FSCK_HINT)
    repaired(run_cli, small)


def test_a_page_whose_cluster_record_is_lost(small: Built, run_cli):
    """The swap-in looked the cluster up in a dict: KeyError. (The loader now finds the
    allocator's count short of its clusters first.)"""
    small.db().execute("DELETE FROM clusters WHERE type=0 AND idx=1")
    for args in (["replay", "--no-progress", str(in_trace(small))], ["swapoff", "-a"]):
        r = run_cli("--state", small.state, *args)
        one_line(r, "swap type 0: allocator counts 40 slots in use, its clusters 0", FSCK_HINT)
    repaired(run_cli, small)


def test_a_page_whose_slot_is_free(small: Built, run_cli):
    """A swap PTE naming a free slot of a loaded cluster: the swap-in freed the free slot
    again and drove the cluster's count below zero."""
    vpn = small.vpns(0, LOC_ZSWAP)[0]
    with open_kernel(small.state) as k:
        ptes, _c = k.mm.table[vpn >> 9]
        ptes[vpn & 511] = 600  # type 0, slot 600: in cluster 1, never allocated
        k.mm.dirty.add(vpn >> 9)
    r = run_cli("--state", small.state, "replay", "--no-progress", in_trace(small))
    one_line(r, f"page {vpn:#x}: swap entry 0:600 does not lead to its data", FSCK_HINT)
    repaired(run_cli, small)


def test_an_allocator_count_below_its_clusters(small: Built, run_cli):
    """inuse_pages ran below zero as pages were swapped in; the save then failed packing it
    as unsigned (OverflowError)."""
    db = small.db()
    blob = bytearray(db.execute("SELECT data FROM blobs WHERE name='slots.0'").fetchone()[0])
    blob[16:24] = (3).to_bytes(8, "little")
    db.execute("UPDATE blobs SET data=? WHERE name='slots.0'", (bytes(blob),))
    r = run_cli("--state", small.state, "replay", "--no-progress", in_trace(small))
    one_line(r, "allocator counts 3 slots in use, its clusters 40", FSCK_HINT)
    repaired(run_cli, small)


def test_a_stored_count_below_the_entries(small: Built, run_cli):
    """stored_pages ran below zero the same way (zswap's index state)."""
    db = small.db()
    blob = bytearray(db.execute("SELECT data FROM blobs WHERE name='zswap.state'").fetchone()[0])
    blob[16:24] = (1).to_bytes(8, "little")
    db.execute("UPDATE blobs SET data=? WHERE name='zswap.state'", (bytes(blob),))
    r = run_cli("--state", small.state, "replay", "--no-progress", in_trace(small))
    one_line(r, "1 pages counted stored", FSCK_HINT)
    repaired(run_cli, small)


def test_a_slot_naming_another_pages_zswap_entry(small: Built, run_cli):
    """The swap-in loaded (and freed) whatever entry the slot named: another page's."""
    with open_kernel(small.state) as k:
        z = k.zswap
        a, c = sorted(z.live_entries())[3:5]
        z.e_swp[a], z.e_swp[c] = z.e_swp[c], z.e_swp[a]
        z.dirty.add(0)
    r = run_cli("--state", small.state, "replay", "--no-progress", in_trace(small))
    one_line(r, "does not lead to its data", FSCK_HINT)
    repaired(run_cli, small)


def test_a_damaged_database_page_found_while_reading_rows(tmp_path):
    """SQLite reports a damaged page when the rows are fetched, after execute() returned:
    the raw sqlite3.DatabaseError escaped StateDB."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, bytes([i % 251]) * 300)
                                                     for i in range(2000)])
    conn.commit()
    conn.close()
    data = bytearray(path.read_bytes())
    data[100 * 4096 : 101 * 4096] = b"\xee" * 4096  # a leaf page in the middle of t
    path.write_bytes(bytes(data))
    db = StateDB(tmp_path, sqlite3.connect(path))
    cursor = db.execute("SELECT * FROM t")  # fine so far
    with pytest.raises(StateError, match="state database is unreadable .*database disk image "
                                         "is malformed"):
        list(cursor)


def test_a_damaged_schema_whose_error_message_is_not_utf8(small: Built, run_cli):
    """SQLite quotes a damaged schema in its error; the sqlite3 module raised
    UnicodeDecodeError decoding that message instead of DatabaseError."""
    db = small.state / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    at = data.index(b"CREATE TABLE klog")
    data[at + 13 : at + 15] = b"\x80\xef"
    db.write_bytes(bytes(data))
    for args in (["cat", "/proc/swaps"], ["kernel", "fsck"], ["swapoff", "-a"]):
        r = run_cli("--state", small.state, *args)
        one_line(r, "state database is unreadable")


def test_a_kernel_log_line_with_a_text_timestamp(small: Built, run_cli):
    """format_dmesg ran int() on whatever the row held."""
    small.db().execute("UPDATE klog SET ts='abc' WHERE seq=(SELECT MIN(seq) FROM klog)")
    one_line(run_cli("--state", small.state, "dmesg"), "a kernel log line is malformed",
             FSCK_HINT)
    repaired(run_cli, small)
    assert run_cli("--state", small.state, "dmesg").exit_code == 0


def test_a_parameter_row_that_names_no_parameter(small: Built, run_cli):
    """kernel show split every parameter name on "/": IndexError."""
    small.db().execute("INSERT INTO params(name, value) VALUES ('bogus', 'x')")
    assert run_cli("--state", small.state, "kernel", "show").exit_code == 0
    r = run_cli("--state", small.state, "kernel", "fsck")
    assert r.exit_code == 1 and "parameter row 'bogus' names no parameter" in r.stdout
    repaired(run_cli, small)


def test_a_pool_truncated_under_its_objects_is_not_read_as_zeros(small: Built, run_cli):
    """The arena zero-fills a file shorter than 1 MiB when opening it: pages past the cut
    came back as zeros (caught by the checksum, but as corruption, not as damage)."""
    os.truncate(small.state / "zswap.pool", 4096)
    assert run_cli("--state", small.state, "cat", "/proc/swaps").exit_code == 0
    r = run_cli("--state", small.state, "replay", "--no-progress", in_trace(small))
    one_line(r, "pool file is truncated (4096 bytes, the state needs", FSCK_HINT)
    assert (small.state / "zswap.pool").stat().st_size == 4096  # and it is left as it was
    repaired(run_cli, small)


def test_repair_of_a_swap_entry_past_any_file_offset(small: Built, run_cli):
    """fsck --repair tried os.pread at offset 2**57 * 4096: OverflowError."""
    vpn = small.vpns(0, LOC_ZSWAP)[0]
    with open_kernel(small.state) as k:
        ptes, _c = k.mm.table[vpn >> 9]
        ptes[vpn & 511] = (1 << 57) | 5  # type 0, an offset no file has
        k.mm.dirty.add(vpn >> 9)
    r = run_cli("--state", small.state, "kernel", "fsck")
    assert r.exit_code == 1 and "lies outside the area" in r.stdout
    repaired(run_cli, small)


def test_salvage_of_an_entry_record_with_a_huge_chunk_number(small: Built, run_cli):
    """fsck's record-by-record salvage sized the entry arrays by a corrupt chunk number: a
    MemoryError (27 GB)."""
    small.db().execute("UPDATE zswap_entries SET chunk=262144 WHERE chunk=0")
    r = run_cli("--state", small.state, "kernel", "fsck")
    assert r.exit_code == 1 and "zswap entry record 262144 is unreadable" in r.stdout
    repaired(run_cli, small)


def test_swap_cache_pages_survive_a_lost_cluster_record(small: Built, run_cli):
    """Not a crash: the ghost's swap-cache pages kept their handles only in the cluster
    record. The repair finds them again in the pool by their checksums."""
    cache = set(small.vpns(1, LOC_CACHE))
    assert cache
    small.db().execute("DELETE FROM clusters WHERE type=1 AND idx=1")
    r = run_cli("--state", small.state, "kernel", "fsck", "--repair")
    assert r.exit_code == 1, r.stdout
    assert "pages found again by their checksums" in r.stdout
    with open_kernel(small.state) as k:
        back = {v: k.mm.swap_in(v) for v in cache}
    assert all(back[v] == small.pages[v] for v in cache)


def test_repair_of_a_swap_info_row_whose_path_holds_a_nul(small: Built, run_cli):
    """fsck --repair tried to read the pages of an unreadable swap_info row from its path,
    which held a NUL: os.open raised ValueError."""
    small.db().execute("UPDATE swap_info SET path=?, flags='?' WHERE type=0",
                       (str(small.real) + "\0x",))
    r = run_cli("--state", small.state, "kernel", "fsck", "--repair")
    assert r.exit_code == 5, r.stdout  # the disk pages cannot be found without the path
    assert "swap_info row 0: flags '?' is not an integer" in r.stdout
    assert run_cli("--state", small.state, "kernel", "fsck", "--verify").exit_code == 0


def test_a_counter_at_the_64_bit_limit(small: Built, run_cli):
    """A counter at 2**63 - 1 counted on by one, and the save failed binding it to SQLite
    (OverflowError)."""
    small.db().execute("UPDATE counters SET value=? WHERE name='zswpin'", ((1 << 63) - 1,))
    r = run_cli("--state", small.state, "replay", "--no-progress", in_trace(small))
    one_line(r, "counter 'zswpin' holds 9223372036854775807, not a count", FSCK_HINT)
    repaired(run_cli, small)


def test_damaged_text_is_reported_on_one_line(small: Built, run_cli):
    """SQLite's error quoted a damaged text column, newline and all: a two-line message."""
    small.db().execute("UPDATE swap_info SET uuid=CAST(x'36660a13ff' AS TEXT) WHERE type=0")
    r = run_cli("--state", small.state, "cat", "/proc/swaps")
    one_line(r, "state database is unreadable", "\\n")
    r = run_cli("--state", small.state, "kernel", "fsck")
    assert r.exit_code == 1 and "swap_info row 0: uuid is not UTF-8 text" in r.stdout
    repaired(run_cli, small)
