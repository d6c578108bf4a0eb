"""The object arena: a real mmap-ed file in tmp_path, its free lists, growth, and the deferred
reuse that keeps the last committed index readable after a crash (module invariants I1-I4)."""

from __future__ import annotations

import os
import random
import shutil
import stat
import tempfile
import tracemalloc
from array import array
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from ghostswap_cli.errors import GhostswapError, StateError
from ghostswap_cli.kernel import arena as arena_module
from ghostswap_cli.kernel.arena import (
    GRANULE,
    INITIAL_FILE_SIZE,
    MAX_ARENA_BYTES,
    MAX_GROWTH_STEP,
    MAX_OBJECT_SIZE,
    Arena,
    ArenaError,
    ArenaFull,
    next_file_size,
)


def blob(seed: int, length: int) -> bytes:
    return random.Random(seed).randbytes(length)


def granules(length: int) -> int:
    return -(-length // GRANULE)


def checkpoint(arena: Arena) -> bytes:
    """The commit protocol of the module docstring, without the database."""
    state = arena.dump_state()
    arena.commit()
    return state


@pytest.fixture
def arena(tmp_path: Path):
    a = Arena(tmp_path / "arena", create=True)
    yield a
    a.close()


# --- file ------------------------------------------------------------------------------------


def test_create_makes_a_private_sparse_file(tmp_path: Path) -> None:
    path = tmp_path / "arena"
    with Arena(path, create=True) as a:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.stat().st_size == a.file_bytes == INITIAL_FILE_SIZE
        assert path.read_bytes()[:8] == b"GSARENA\0"
        assert (a.used_bytes, a.free_bytes, a.pending_bytes) == (0, 0, 0)
    with pytest.raises(ArenaError, match="already exists"):
        Arena(path, create=True)


def test_open_refuses_other_files(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.write_bytes(b"not an arena at all" * 10)
    with pytest.raises(ArenaError, match="not a ghostswap arena"):
        Arena(other)
    with pytest.raises(ArenaError, match="no such arena file"):
        Arena(tmp_path / "missing")
    assert isinstance(ArenaError("x"), GhostswapError)


def test_open_creates_a_missing_file_only_without_state(tmp_path: Path) -> None:
    path = tmp_path / "arena"
    a = Arena.open(path, None)
    h = a.store(b"x" * 100)
    state = checkpoint(a)
    a.close()
    path.unlink()
    with pytest.raises(StateError, match="missing"):
        Arena.open(path, state)
    assert h == 1


# --- store, read, free -----------------------------------------------------------------------


def test_store_and_read_back_aligned(arena: Arena) -> None:
    items = [(arena.store(blob(i, n)), blob(i, n)) for i, n in enumerate((1, 15, 16, 17, 4096,
                                                                          MAX_OBJECT_SIZE))]
    handles = [h for h, _ in items]
    assert handles[0] == 1  # granule 0 is the header
    assert handles == sorted(handles)
    for (h, data), nxt in zip(items, handles[1:] + [None], strict=True):
        assert arena.read(h, len(data)) == data
        if nxt is not None:
            assert nxt - h == granules(len(data))  # 16-byte granules, no gaps on the bump path
    assert arena.used_bytes == sum(granules(len(d)) * GRANULE for _, d in items)


def test_alloc_then_write(arena: Arena) -> None:
    h = arena.alloc(100)
    arena.write(h, b"a" * 100)
    assert arena.read(h, 100) == b"a" * 100
    with pytest.raises(ArenaError):
        arena.write(h + 7, b"b" * 100)  # would run past the allocated end


@pytest.mark.parametrize("length", [0, -1, MAX_OBJECT_SIZE + 1])
def test_bad_lengths(arena: Arena, length: int) -> None:
    with pytest.raises(ValueError):
        arena.alloc(length)
    if length > 0:
        with pytest.raises(ValueError):
            arena.store(b"x" * length)


def test_out_of_range_handles(arena: Arena) -> None:
    h = arena.store(b"z" * 32)
    for bad_handle, length in ((0, 16), (-1, 16), (h + 2, 16), (h, 48)):
        with pytest.raises(ArenaError):
            arena.read(bad_handle, length)
        with pytest.raises(ArenaError):
            arena.free(bad_handle, length)


def test_exact_size_class_reuse(arena: Arena) -> None:
    a = arena.store(b"a" * 100)  # 7 granules
    b = arena.store(b"b" * 200)  # 13 granules
    arena.free(a, 100, deferred=False)
    assert arena.store(b"c" * 97) == a  # 97 bytes round to 7 granules too
    arena.free(b, 200, deferred=False)
    c = arena.store(b"d" * 100)
    assert c not in (a, b)  # 7-granule class empty, 13-granule extent not split
    assert arena.store(b"e" * 193) == b


# --- deferred reuse (I1) ---------------------------------------------------------------------


def test_deferred_free_is_reused_only_after_commit(arena: Arena) -> None:
    old = arena.store(blob(1, 500))
    checkpoint(arena)
    arena.free(old, 500, deferred=True)
    assert arena.pending_bytes == granules(500) * GRANULE
    new = arena.store(blob(2, 500))
    assert new != old
    assert arena.read(old, 500) == blob(1, 500)  # untouched until the commit
    checkpoint(arena)
    assert arena.pending_bytes == 0
    assert arena.store(blob(3, 500)) == old


def test_auto_mode_defers_committed_extents_and_frees_new_ones(arena: Arena) -> None:
    committed = arena.store(b"c" * 64)
    checkpoint(arena)
    fresh = arena.store(b"f" * 64)
    arena.free(committed, 64)  # below the committed bump: deferred
    arena.free(fresh, 64)  # above it: allocated after the commit, reusable now
    assert arena.pending_bytes == 64 and arena.free_bytes == 64
    assert arena.store(b"n" * 64) == fresh


def test_commit_refuses_changes_after_dump(arena: Arena) -> None:
    arena.store(b"x" * 10)
    arena.dump_state()
    arena.store(b"y" * 10)
    with pytest.raises(ArenaError, match="between dump_state"):
        arena.commit()
    checkpoint(arena)  # a fresh dump + commit works


# --- rollback by reopening (I3) --------------------------------------------------------------


def test_crash_after_uncommitted_work_reopens_the_committed_state(tmp_path: Path) -> None:
    path = tmp_path / "arena"
    a = Arena(path, create=True)
    committed = {a.store(blob(i, 300 + i)): blob(i, 300 + i) for i in range(20)}
    state = checkpoint(a)
    bump_at_commit = a.bump_bytes
    # Uncommitted epoch: free half the committed objects, store more, free some new ones.
    victims = sorted(committed)[::2]
    for h in victims:
        a.free(h, len(committed[h]))
    fresh = [a.store(blob(100 + i, 300 + i)) for i in range(30)]
    for h in fresh[::3]:
        a.free(h, 300 + fresh.index(h), deferred=False)
    a.store(blob(999, 5000))
    a.close()  # crash: no commit

    b = Arena.open(path, state)
    for h, data in committed.items():
        assert b.read(h, len(data)) == data
    assert b.check((h, len(d)) for h, d in committed.items()) == []
    assert b.bump_bytes == bump_at_commit  # everything allocated since is free again
    assert b.pending_bytes == 0
    b.close()


def test_reopen_without_state_means_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "arena"
    a = Arena(path, create=True)
    a.store(b"x" * 1000)
    a.close()
    b = Arena.open(path, None)
    assert b.used_bytes == 0 and b.store(b"y" * 10) == 1
    b.close()


def test_state_is_compact_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "arena"
    a = Arena(path, create=True)
    hs = [a.store(b"x" * 100) for _ in range(1000)]
    for h in hs[:500]:
        a.free(h, 100, deferred=False)
    state = checkpoint(a)
    assert len(state) == 32 + 8 * 1 + 4 * 500  # header, one class, 500 free extents
    a.close()
    bad = bytearray(state)
    bad[-3] ^= 0x40
    for broken in (bytes(bad), state[:-4], state[:20], b"XXXX" + state[4:]):
        with pytest.raises(StateError):
            Arena(path, state=broken)
    other = tmp_path / "other"
    Arena(other, create=True).close()
    with pytest.raises(StateError, match="another arena"):
        Arena(other, state=state)
    with Arena(path, state=state) as b:
        assert b.free_bytes == 500 * 112 and b.used_bytes == 500 * 112


# --- growth ----------------------------------------------------------------------------------


def test_growth_doubles_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "arena"
    a = Arena(path, create=True)
    items = []
    sizes_seen = {a.file_bytes}
    for i in range(700):  # ~2.8 MiB of 4 KiB pages: 1 -> 2 -> 4 MiB
        h = a.store(blob(i, 4096))
        items.append((h, i))
        sizes_seen.add(a.file_bytes)
    assert sizes_seen == {1 << 20, 2 << 20, 4 << 20}
    assert path.stat().st_size == 4 << 20
    state = checkpoint(a)
    a.flush()
    a.close()
    with Arena.open(path, state) as b:
        for h, i in items:
            assert b.read(h, 4096) == blob(i, 4096)
        assert b.file_bytes == 4 << 20


def test_growth_policy_doubles_then_steps_by_64_mib() -> None:
    mib = 1 << 20
    sizes = [INITIAL_FILE_SIZE]
    while sizes[-1] < 300 * mib:
        sizes.append(next_file_size(sizes[-1], sizes[-1] + 1))
    assert [s // mib for s in sizes] == [1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 320]
    assert next_file_size(mib, 10 * mib) == 16 * mib  # one call covers a big jump
    assert next_file_size(mib, mib) == mib
    assert next_file_size(MAX_ARENA_BYTES - mib, MAX_ARENA_BYTES) == MAX_ARENA_BYTES
    assert MAX_GROWTH_STEP >> 20 == 64


def test_arena_full_at_the_handle_limit(arena: Arena) -> None:
    # Pretend the bump pointer is near 2**32 granules; nothing is written there.
    arena._bump = (1 << 32) - 1
    arena._ready = 0
    with pytest.raises(ArenaFull, match="arena full"):
        arena.alloc(64)
    assert isinstance(ArenaFull("x"), ArenaError)


# --- check and rebuild (I4) ------------------------------------------------------------------


def test_check_finds_overlaps_leaks_and_range_errors(arena: Arena) -> None:
    x = arena.store(b"x" * 64)
    y = arena.store(b"y" * 64)
    z = arena.store(b"z" * 64)
    arena.free(y, 64, deferred=False)
    assert arena.check([(x, 64), (z, 64)]) == []
    problems = arena.check([(x, 64), (y, 64), (z, 64)])  # y is live and free
    assert any("overlaps" in p and "free" in p for p in problems)
    assert any("overlaps" in p for p in arena.check([(x, 80), (z, 64)]))  # x runs into y
    leak = arena.check([(x, 64)])
    assert leak == ["64 bytes in 1 gaps are neither live nor free (leaked)"]
    assert any("out of range" in p for p in arena.check([(x, 64), (z, 64), (z + 4, 16)]))


def test_check_limits_its_report(arena: Arena) -> None:
    h = arena.store(b"q" * 16)
    problems = arena.check([(h, 16)] * 60, limit=5)
    assert len(problems) == 6 and problems[-1] == "... and 54 more problems"


def test_rebuild_repacks_free_space(tmp_path: Path) -> None:
    path = tmp_path / "arena"
    a = Arena(path, create=True)
    hs = [(a.store(blob(i, 100 * (i % 7 + 1))), blob(i, 100 * (i % 7 + 1))) for i in range(60)]
    keep = hs[::4]
    for h, d in hs:
        if (h, d) not in keep:
            a.free(h, len(d), deferred=False)
    last_end = max(h + granules(len(d)) for h, d in keep) * GRANULE
    a.rebuild((h, len(d)) for h, d in keep)
    assert a.check((h, len(d)) for h, d in keep) == []
    assert a.bump_bytes == last_end
    assert a.used_bytes == sum(granules(len(d)) * GRANULE for _, d in keep)
    state = checkpoint(a)
    a.close()
    with Arena.open(path, state) as b:
        for h, d in keep:
            assert b.read(h, len(d)) == d
        with pytest.raises(ArenaError):
            b.rebuild([(1, 100), (2, 100)])


# --- memory ----------------------------------------------------------------------------------


def test_no_python_objects_per_stored_object(arena: Arena) -> None:
    data = blob(5, 700)
    handles = array("I")
    arena.store(data)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(20000):
            handles.append(arena.store(data))
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename")
                if s.traceback[0].filename == arena_module.__file__)
    assert grown < 4096, grown  # nothing retained per object inside the arena
    for h in handles[:1000]:
        arena.free(h, 700, deferred=False)
    assert arena.free_bytes == 1000 * 704  # 4 bytes of array per free extent, tested below
    assert len(arena.dump_state()) == 32 + 8 + 4 * 1000


# --- the allocator property test -------------------------------------------------------------


class ArenaMachine(RuleBasedStateMachine):
    """Random store / free (deferred, immediate or auto) / commit / crash / clean reopen.

    Model: ``live`` maps handle -> bytes now; ``committed`` is the live map at the last commit
    and ``state`` its blob. After a crash the arena must come back as ``committed`` exactly.
    ``protected`` holds the extents that must not be handed out before the next commit: those
    the committed index references and that were freed since, plus every deferred free.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="arena-"))
        self.path = self.dir / "arena"
        self.arena = Arena(self.path, create=True)
        self.live: dict[int, bytes] = {}
        self.fresh: set[int] = set()  # allocated since the last commit
        self.committed: dict[int, bytes] = {}
        self.state: bytes | None = None
        self.protected: list[tuple[int, int]] = []
        self.seed = 0

    def teardown(self) -> None:
        self.arena.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # Half the lengths come from a few sizes so that frees and stores meet in one class.
    @rule(length=st.one_of(st.sampled_from([1, 16, 17, 100, 700, 4096, 65536]),
                           st.integers(1, 3000)))
    def store(self, length: int) -> None:
        self.seed += 1
        data = blob(self.seed, length)
        h = self.arena.store(data)
        end = h + granules(length)
        for ph, pg in self.protected:  # I1: deferred extents are not reused before commit
            assert end <= ph or ph + pg <= h, (h, length, ph, pg)
        assert h not in self.live
        self.live[h] = data
        self.fresh.add(h)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def free(self, data: st.DataObject) -> None:
        h = data.draw(st.sampled_from(sorted(self.live)))
        payload = self.live.pop(h)
        if h in self.fresh:
            deferred = data.draw(st.sampled_from([None, False, True]))
            self.fresh.discard(h)
        else:
            deferred = data.draw(st.sampled_from([None, True]))
        self.arena.free(h, len(payload), deferred)
        if deferred or self.committed.get(h) == payload:
            self.protected.append((h, granules(len(payload))))

    @rule()
    def commit(self) -> None:
        self.state = checkpoint(self.arena)
        self.committed = dict(self.live)
        self.fresh.clear()
        self.protected.clear()

    @rule()
    def crash(self) -> None:
        self.arena.close()
        self.arena = Arena.open(self.path, self.state)
        self.live = dict(self.committed)
        self.fresh.clear()
        self.protected.clear()

    @rule()
    def commit_and_reopen(self) -> None:
        self.commit()
        self.crash()

    @invariant()
    def objects_intact_and_extents_disjoint(self) -> None:
        for h, data in self.live.items():
            assert self.arena.read(h, len(data)) == data
        assert self.arena.check((h, len(d)) for h, d in self.live.items()) == []
        assert self.arena.used_bytes == sum(granules(len(d)) * GRANULE
                                            for d in self.live.values())


TestArenaMachine = ArenaMachine.TestCase
TestArenaMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])


def test_file_is_not_left_behind_when_create_fails(tmp_path: Path) -> None:
    # A directory cannot be opened read-write: nothing must be created or removed.
    target = tmp_path / "dir"
    target.mkdir()
    with pytest.raises(ArenaError):
        Arena(target, create=True)
    assert target.is_dir() and os.listdir(target) == []
