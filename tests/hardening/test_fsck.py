"""``ghostswap kernel fsck``: each injected fault is found with its own message, check-only
changes nothing, and ``--repair`` gives back a consistent state without losing a page whose
bytes could still be found (every page that stays swapped out reads back byte for byte)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Built, locations, pte_of, swap_in_all

from ghostswap_cli.kernel.cluster import LOC_CACHE, LOC_DISK, LOC_ZERO, LOC_ZSWAP
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.mm import PTE_PRESENT
from ghostswap_cli.kernel.repair import EXIT_OPERATIONAL, EXIT_USAGE


def fsck(run_cli, state: Path, *args: str):
    return run_cli("--state", state, "kernel", "fsck", *args)


def snapshot(b: Built) -> dict:
    """Every row, the pool's bytes and the swap files' bytes."""
    conn = sqlite3.connect(f"file:{b.state / 'state.db'}?mode=ro", uri=True)
    try:
        rows = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
                for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    files = {}
    for p in (b.state / "zswap.pool", b.real, b.ghost):
        files[p.name] = hashlib.sha1(p.read_bytes()).hexdigest() if p.exists() else None
    modes = {p.name: os.stat(p).st_mode for p in (b.state, b.state / "state.db")}
    return {"rows": rows, "files": files, "modes": modes}


# --- faults -----------------------------------------------------------------------------------


def _cluster(b: Built, type_: int, idx: int) -> bytearray:
    row = b.db().execute("SELECT data FROM clusters WHERE type=? AND idx=?", (type_, idx)
                         ).fetchone()
    return bytearray(row[0])


def _put_cluster(b: Built, type_: int, idx: int, data: bytearray) -> None:
    b.db().execute("UPDATE clusters SET data=? WHERE type=? AND idx=?", (bytes(data), type_, idx))


def deleted_file(b: Built, run_cli) -> None:
    # the file and the state's hard link to it (as when the state is on another file system,
    # where no link can be kept): its pages on disk are gone
    b.real.unlink()
    shutil.rmtree(b.state / "held")


def replaced_file(b: Built, run_cli) -> None:
    # same bytes, new inode (cp + mv): the area is not the file that was swapped on
    shutil.copyfile(b.real, b.real.with_suffix(".new"))
    os.replace(b.real.with_suffix(".new"), b.real)
    shutil.rmtree(b.state / "held")  # no link kept (see deleted_file): the old inode is gone


def mkswap_again(b: Built, run_cli) -> None:
    # mkswap refuses an active area now; write a fresh header page over it by hand, as
    # another tool (or mkswap on a machine that does not know the area is active) would
    other = b.real.with_suffix(".other")
    assert run_cli("mkswap", "-q", "--file", "--size", "1M", other).exit_code == 0
    with open(b.real, "r+b") as f:
        f.write(other.read_bytes()[:4096])
    other.unlink()


def truncated_pool(b: Built, run_cli) -> None:
    os.truncate(b.state / "zswap.pool", 48 << 10)


def pool_header(b: Built, run_cli) -> None:
    with open(b.state / "zswap.pool", "r+b") as f:
        f.write(b"not an arena....")


def count_off_by_one(b: Built, run_cli) -> None:
    data = _cluster(b, 0, 1)
    data[7] += 1  # slot 519: one more reference than the page table has
    _put_cluster(b, 0, 1, data)


def wrong_counter(b: Built, run_cli) -> None:
    b.db().execute("UPDATE counters SET value=value+5 WHERE name='nr_swapcache_pages'")


def broken_lru(b: Built, run_cli) -> None:
    with open_kernel(b.state) as k:
        z = k.zswap
        second = z.e_next[z.lru_head]
        z.e_prev[second] = z.e_next[second]  # a back link to the wrong entry
        z.dirty.add(second >> 12)


def entry_not_pointing_back(b: Built, run_cli) -> None:
    with open_kernel(b.state) as k:
        z = k.zswap
        a, c = sorted(z.live_entries())[3:5]
        z.e_swp[a], z.e_swp[c] = z.e_swp[c], z.e_swp[a]
        z.dirty.add(0)


def lost_cluster_real(b: Built, run_cli) -> None:
    b.db().execute("DELETE FROM clusters WHERE type=0 AND idx=1")


def lost_cluster_ghost(b: Built, run_cli) -> None:
    # the ghost's swap-cache pages lose their pool handles with it: found again by checksum
    b.db().execute("DELETE FROM clusters WHERE type=1 AND idx=1")


def lost_allocator(b: Built, run_cli) -> None:
    b.db().execute("DELETE FROM blobs WHERE name='slots.1'")


def _patch_arena_blob(b: Built, offset: int, xor: int) -> None:
    db = b.db()
    blob = bytearray(db.execute("SELECT data FROM blobs WHERE name='arena'").fetchone()[0])
    blob[offset] ^= xor
    db.execute("UPDATE blobs SET data=? WHERE name='arena'", (bytes(blob),))


def foreign_arena_state(b: Built, run_cli) -> None:
    _patch_arena_blob(b, 8, 0x01)  # the arena id: the state of another pool file


def arena_bump_lowered(b: Built, run_cli) -> None:
    _patch_arena_blob(b, 12, 0x40)  # the bump pointer, below the last live object


def corrupt_zswap_index(b: Built, run_cli) -> None:
    b.db().execute("UPDATE blobs SET data=x'0102' WHERE name='zswap.state'")


def lost_pool_model(b: Built, run_cli) -> None:
    b.db().execute("DELETE FROM blobs WHERE name='zswap.model'")


def unreadable_swap_info(b: Built, run_cli) -> None:
    b.db().execute("UPDATE swap_info SET flags='?' WHERE type=0")


def loose_permissions(b: Built, run_cli) -> None:
    os.chmod(b.state / "state.db", 0o644)
    os.chmod(b.state, 0o755)


def wrong_inuse_row(b: Built, run_cli) -> None:
    b.db().execute("UPDATE swap_info SET inuse_pages=inuse_pages-1 WHERE type=1")


@dataclasses.dataclass(frozen=True)
class Fault:
    inject: Callable[[Built, object], None]
    kind: str
    text: str  # a fragment of the problem's line
    lost: Callable[[Built], set[int]] = lambda b: set()  # pages that may be lost
    deactivates: int | None = None  # the type deactivated by the repair


def _disk_pages(b: Built) -> set[int]:
    return set(b.vpns(0, LOC_DISK))


def _pool_pages(b: Built) -> set[int]:
    return set(b.vpns(kind=LOC_ZSWAP)) | set(b.vpns(kind=LOC_CACHE))


FAULTS = {
    "deleted backing file": Fault(deleted_file, "backing-missing", "real.swap: No such file or "
                                  "directory", _disk_pages, 0),
    "backing file replaced": Fault(replaced_file, "backing-replaced", "not the file that was "
                                   "swapped on (device/inode changed)", deactivates=0),
    "mkswap over an active file": Fault(mkswap_again, "backing-header", "header UUID is",
                                        deactivates=0),
    "truncated pool": Fault(truncated_pool, "pool-truncated", "pool file is truncated to 49152 "
                            "bytes", _pool_pages),
    "pool header overwritten": Fault(pool_header, "pool-header", "not a ghostswap pool file"),
    "swap_map count off by one": Fault(count_off_by_one, "swap-map", "swap type 0 slot 519: "
                                       "swap_map count 2 but 1 page-table references"),
    "wrong counter": Fault(wrong_counter, "counter", "counter nr_swapcache_pages 35, slots say "
                           "30"),
    "broken LRU link": Fault(broken_lru, "zswap-lru", "has a broken back link"),
    "zswap entry not pointed back at": Fault(entry_not_pointing_back, "zswap-link",
                                             "points at it"),
    "lost cluster record (real)": Fault(lost_cluster_real, "cluster-lost", "has no cluster "
                                        "record (cluster 1 of swap type 0 is lost)"),
    "lost cluster record (ghost)": Fault(lost_cluster_ghost, "cluster-lost", "cluster 1 of swap "
                                         "type 1 is lost"),
    "lost allocator state": Fault(lost_allocator, "allocator", "swap type 1: allocator state is "
                                  "missing"),
    "arena state of another pool": Fault(foreign_arena_state, "pool-state", "arena state "
                                         "belongs to another arena file"),
    "arena bump pointer lowered": Fault(arena_bump_lowered, "pool", "out of range (objects live "
                                        "in granules"),
    "corrupt zswap index": Fault(corrupt_zswap_index, "zswap-index", "index state is malformed"),
    "lost pool model": Fault(lost_pool_model, "zswap-model", "0 objects in 0 pages accounted"),
    "unreadable swap_info row": Fault(unreadable_swap_info, "swap-info", "swap_info row 0: "
                                      "flags '?' is not an integer", deactivates=0),
    "loose permissions": Fault(loose_permissions, "permissions", "state.db: mode 0644 lets "
                               "others read the state (expected 0600)"),
    "inuse_pages row off by one": Fault(wrong_inuse_row, "inuse-pages", "swap_info row says 119 "
                                        "pages in use, swap_map says 120"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_is_found_and_repaired(name, built: Built, run_cli):
    fault = FAULTS[name]
    fault.inject(built, run_cli)
    before = snapshot(built)

    # check only: the problem, with its own message, and nothing changed
    r = fsck(run_cli, built.state, "--json")
    report = json.loads(r.stdout)
    assert r.exit_code == 1, r.stdout
    hits = [p for p in report["problems"] if p["kind"] == fault.kind]
    assert hits, report["problems"]
    assert any(fault.text in p["text"] for p in hits), hits
    assert snapshot(built) == before
    text = fsck(run_cli, built.state)
    assert text.exit_code == 1 and text.stderr == ""
    assert any(line.startswith("problem: ") and fault.text in line
               for line in text.stdout.splitlines())
    assert text.stdout.splitlines()[-1].endswith(
        "nothing changed (repair with `ghostswap kernel fsck --repair`)")
    assert snapshot(built) == before

    # repair
    r = fsck(run_cli, built.state, "--repair", "--json")
    report = json.loads(r.stdout)
    lost = {int(v, 16) for v in report["lost_pages"]}
    may_lose = fault.lost(built)
    assert lost <= may_lose, sorted(lost - may_lose)[:5]
    assert r.exit_code == (5 if lost else 1), report
    assert report["repaired"] and report["unrepaired"] == [], report
    assert report["repairs"], report

    # consistent afterwards, every page checked
    after = fsck(run_cli, built.state, "--verify", "--json")
    assert after.exit_code == 0, after.stdout
    assert json.loads(after.stdout)["clean"]

    # no page lost that was recoverable, and every kept page reads back byte for byte
    still = locations(built.state)
    for vpn in built.pages:
        if vpn in lost:
            assert pte_of(built.state, vpn) == 0
        elif vpn not in still:
            # brought back into RAM: only the pages of a deactivated area
            assert built.where[vpn][0] == fault.deactivates, hex(vpn)
            assert pte_of(built.state, vpn) == PTE_PRESENT
    back = swap_in_all(built.state, still)
    assert {v for v, page in back.items() if page != built.pages[v]} == set()
    if fault.deactivates is not None:
        with open_kernel(built.state, write=False) as k:
            assert fault.deactivates not in {si.type for si in k.active()}


def test_the_state_is_built_as_intended(built: Built):
    """The faults above rely on pages in every place, on both kinds of area."""
    kinds = {(t, k) for t, _o, k in built.where.values()}
    assert kinds == {(0, LOC_ZERO), (0, LOC_ZSWAP), (0, LOC_DISK),
                     (1, LOC_ZERO), (1, LOC_ZSWAP), (1, LOC_CACHE)}


def test_clean_state(built: Built, run_cli):
    r = fsck(run_cli, built.state, "--verify")
    assert r.exit_code == 0, r.stdout
    assert r.stdout == (f"ghostswap fsck: {built.state}: clean (2 active areas, 240 pages "
                        f"swapped out, 240 verified)\n")
    report = json.loads(fsck(run_cli, built.state, "--json", "--verify").stdout)
    assert report["clean"] and report["verify"]["checked"] == 240
    assert report["exit_status"] == 0 and report["error"] is None


def test_exact_lines_for_a_deleted_file(built: Built, run_cli):
    deleted_file(built, run_cli)
    r = fsck(run_cli, built.state, "--repair")
    lines = r.stdout.splitlines()
    assert lines[0] == f"problem: swap type 0: {built.real}: No such file or directory"
    assert lines[1] == (f"repaired: deactivated swap type 0 ({built.real}): No such file or "
                        f"directory; 90 pages brought back into RAM, 30 lost")
    lost = [line for line in lines if line.startswith("lost: ")]
    assert len(lost) == 30 == len(built.vpns(0, LOC_DISK))
    assert lost[0] == f"lost: page {built.vpns(0, LOC_DISK)[0]:#x}: no copy of its data matches " \
                      f"its checksum"
    assert lines[-1] == (f"ghostswap fsck: {built.state}: 1 problem found and repaired; 30 pages "
                         f"lost; state is consistent now")
    # the kernel log says it, and the counter counts it
    log = run_cli("--state", built.state, "dmesg").stdout
    assert "ghostswap: fsck: swap type 0 (" in log and "deactivated" in log
    assert f"ghostswap: fsck: page {built.vpns(0, LOC_DISK)[0]:#x} lost" in log
    assert run_cli("--state", built.state, "cat", "/proc/vmstat").exit_code == 0


def test_repair_then_the_machine_works_on(built: Built, run_cli, tmp_path):
    deleted_file(built, run_cli)
    assert fsck(run_cli, built.state, "--repair").exit_code == 5
    trace = tmp_path / "more.trace"
    trace.write_text("ghostswap-trace 1\n" + "".join(f"out {0x9000 + i:#x} text:{i}\n"
                                                       for i in range(50))
                     + "".join(f"in {0x9000 + i:#x}\n" for i in range(50)))
    r = run_cli("--state", built.state, "replay", "--no-progress", trace)
    assert r.exit_code == 0, r.stderr
    r = run_cli("--state", built.state, "swapoff", "-a")
    assert r.exit_code == 0, r.stderr
    assert fsck(run_cli, built.state, "--verify").exit_code == 0


def test_verify_finds_corrupt_pages_and_repair_marks_them_lost(built: Built, run_cli):
    # overwrite one disk page behind the kernel's back: structure intact, bytes wrong
    vpn = built.vpns(0, LOC_DISK)[0]
    _t, off, _k = built.where[vpn]
    with open(built.real, "r+b") as f:
        f.seek(off * 4096)
        f.write(b"\xff" * 4096)
    assert fsck(run_cli, built.state).exit_code == 0  # the structure is fine
    r = fsck(run_cli, built.state, "--verify")
    assert r.exit_code == 1
    assert f"problem: page {vpn:#x}: data does not match its checksum" in r.stdout
    r = fsck(run_cli, built.state, "--repair", "--verify", "--json")
    assert json.loads(r.stdout)["lost_pages"] == [hex(vpn)]
    assert r.exit_code == 5
    assert fsck(run_cli, built.state, "--verify").exit_code == 0
    assert pte_of(built.state, vpn) == 0


def test_unreadable_page_table_record_reports_the_range(built: Built, run_cli):
    db = built.db()
    (chunk,) = db.execute("SELECT MIN(chunk) FROM ptes").fetchone()
    db.execute("UPDATE ptes SET data=x'00' WHERE chunk=?", (chunk,))
    r = fsck(run_cli, built.state, "--repair", "--json")
    report = json.loads(r.stdout)
    assert r.exit_code == 5
    assert report["lost_page_ranges"] == [f"pages {chunk * 512:#x}-{chunk * 512 + 511:#x}"]
    assert fsck(run_cli, built.state, "--verify").exit_code == 0


# --- states that cannot be checked --------------------------------------------------------


def test_no_state_directory(run_cli, tmp_path):
    r = fsck(run_cli, tmp_path / "nothing")
    assert r.exit_code == EXIT_OPERATIONAL
    assert r.stderr == (f"ghostswap: {tmp_path / 'nothing'}: no state directory (run "
                        f"`ghostswap kernel init`)\n")
    assert not (tmp_path / "nothing").exists()


def test_no_state_database(run_cli, tmp_path):
    (tmp_path / "empty").mkdir(mode=0o700)
    r = fsck(run_cli, tmp_path / "empty")
    assert r.exit_code == EXIT_OPERATIONAL
    assert "no state database (run `ghostswap kernel init`)" in r.stderr
    assert not (tmp_path / "empty" / "state.db").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_database_that_does_not_load(built: Built, run_cli, damage):
    db = built.state / "state.db"
    if damage == "truncate":
        os.truncate(db, 100)
    else:
        db.write_bytes(b"this is not an SQLite database" * 100)
    before = db.read_bytes()
    r = fsck(run_cli, built.state)
    assert r.exit_code == EXIT_OPERATIONAL, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "state database is unreadable" in r.stderr
    assert "ghostswap kernel reset --force" in r.stderr
    assert db.read_bytes() == before
    # --repair cannot do better, and says so the same way
    r = fsck(run_cli, built.state, "--repair")
    assert r.exit_code == EXIT_OPERATIONAL and "kernel reset --force" in r.stderr
    # and every other command says it in one line too
    for args in (["cat", "/proc/swaps"], ["swapshow"], ["swapoff", "-a"]):
        res = run_cli("--state", built.state, *args)
        assert res.exit_code != 0 and res.stderr.count("\n") == 1, (args, res.stderr)


def test_usage_error_is_16(run_cli):
    r = run_cli("kernel", "fsck", "--bogus")
    assert r.exit_code == EXIT_USAGE
    assert "No such option" in r.stderr
