"""The design lab under memory pressure: one access trace, one memory limit, every design.

With an access trace (read/write events, trace format 2) nothing says which pages go out: the
process touches pages and reclaim decides. Each design gets a process of its own, in a memory
cgroup of its own with the same settings (``memory.max``, ``memory.high``, ``memory.swap.max``,
``vm.swappiness``, the reclaim policy), running the same accesses. The reclaim is the simulated
kernel's (``kernel/vmscan.py`` or ``kernel/lru_gen.py``, with ``kernel/workingset.py`` and the
charging of ``kernel/memcontrol.py``): the design only answers ``pageout`` for the page reclaim
picked, through its model's ``out`` (``designs/base.py``):

* zeromap, zswap or disk: the page is freed (its compressed bytes stay charged to the cgroup
  while it is in zswap, as the kernel charges them since 5.19; writeback moves them out);
* no slot, or nowhere to write what zswap rejected (the RFC's ghost): the page stays resident and
  is activated, so the cgroup is no smaller and reclaim goes on, up to the OOM kill.

So pages kept resident, refaults, writeback and OOM differ by design, not only metadata bytes.

Simplifications against ``replay/access_replay.py`` (the simulated kernel's own access replay,
which also runs here, once, as the oracle): a swap-in always frees the slot and the zswap entry
(no page kept in the swap cache after a read, as 6.12+ zswap loads are exclusive); a page written
to disk is freed at once (no rotation while the write completes); ``memory.zswap.max`` is not
applied to the models. Each distinct page content is compressed once, for real, with the chosen
compressor; its length is what the models store.
"""

from __future__ import annotations

import dataclasses
import tempfile
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ghostswap_cli.codec.trace import (
    K_ZERO,
    OP_FREE,
    OP_IN,
    OP_OUT,
    OP_READ,
    OP_WRITE,
    Content,
    TraceReader,
    content_page,
)
from ghostswap_cli.designs.base import CACHE, Design, Row
from ghostswap_cli.errors import TraceError
from ghostswap_cli.kernel.memcontrol import UNLIMITED, MemCgroup
from ghostswap_cli.kernel.vmscan import PAGEOUT_ACTIVATE, PAGEOUT_FREED, Lruvec
from ghostswap_cli.kernel.workingset import NO_SHADOW

__all__ = ("PRESSURE_ROWS", "MemorySettings", "DesignProcess", "run_pressure", "auto_slots")

#: rows a design gets on an access trace, after the others
PRESSURE_ROWS: tuple[Row, ...] = (
    Row("resident_peak_pages", "resident pages, peak", "count"),
    Row("memory_peak_bytes", "memory.current, peak", "bytes"),
    Row("swap_outs", "swap-outs (reclaimed to swap)", "count"),
    Row("swap_ins", "swap-ins (major faults)", "count"),
    Row("refaults", "refaults (workingset_refault_anon)", "count"),
    Row("refault_activations", "  of them activated", "count"),
    Row("oom_killed", "OOM kill", "bool"),
    Row("oom_at_access", "  at access", "count"),
)

_NONE, _ZEROMAP, _RESIDENT, _OUT = range(4)


@dataclasses.dataclass(frozen=True)
class MemorySettings:
    """The cgroup every design's process runs in (sizes in bytes; None is ``max``)."""

    memory_max: int | None = None
    memory_high: int | None = None
    swap_max: int | None = None
    swappiness: int = 60
    policy: str = "lru"  # or "mglru"

    def to_dict(self) -> dict[str, Any]:
        return {"memory_max_bytes": self.memory_max, "memory_high_bytes": self.memory_high,
                "memory_swap_max_bytes": self.swap_max, "swappiness": self.swappiness,
                "reclaim_policy": self.policy}


def _pages(limit: int | None, ps: int) -> int:
    return UNLIMITED if limit is None else limit // ps


def auto_slots(pages: int, headroom_percent: float, cluster_slots: int) -> int:
    """Slots (header included) for ``pages`` pages plus headroom, in whole clusters: every
    page the process touches may be swapped out at once."""
    need = -(-pages * (100 + int(headroom_percent)) // 100) + 1
    return -(-need // cluster_slots) * cluster_slots


class DesignProcess:
    """One process whose swap is one design: the ``PageOwner`` reclaim calls back."""

    def __init__(self, design: Design, settings: MemorySettings, ram_pages: int,
                 page_size: int, pages: dict[int, tuple[bool, int]]) -> None:
        self.d = design
        self.ps = page_size
        self.cg = MemCgroup(page_size, max_pages=min(_pages(settings.memory_max, page_size), ram_pages),
                            high_pages=_pages(settings.memory_high, page_size),
                            swap_max_pages=_pages(settings.swap_max, page_size))
        if settings.policy == "mglru":
            from ghostswap_cli.kernel.lru_gen import LruGen

            self.lruvec = LruGen(swappiness=settings.swappiness)
        else:
            self.lruvec = Lruvec(swappiness=settings.swappiness)
        self.contents = pages  # content id -> (zero page, compressed length)
        self.index: dict[int, int] = {}
        self.vpns = array("q")
        self.state = bytearray()
        self.content = array("i")
        self.shadow = array("q")
        self.ptes: set[int] = set()
        self.alive = True
        self.accesses = 0
        self.oom_at: int | None = None
        self.resident_peak = 0
        self.swap_outs = self.swap_ins = self.kept = 0

    def page_index(self, vpn: int) -> int:
        i = len(self.vpns)
        self.index[vpn] = i
        self.vpns.append(vpn)
        self.state.append(_NONE)
        self.content.append(-1)
        self.shadow.append(NO_SHADOW)
        lv = self.lruvec
        if i >= lv.capacity:
            lv.grow(max(2 * lv.capacity, i + 1))
        if vpn >> 9 not in self.ptes:
            self.ptes.add(vpn >> 9)
            self.cg.pagetable_pages += 1
        return i

    def _reclaim(self, nr: int) -> None:
        self.lruvec.try_to_free_pages(nr, self)

    def _sync_zswap(self) -> None:
        self.cg.zswap_bytes = self.d.zswap_bytes

    def access(self, vpn: int, write: bool, cid: int) -> None:
        i = self.index.get(vpn)
        if i is None:
            i = self.page_index(vpn)
        self.accesses += 1
        st = self.state[i]
        if st == _RESIDENT:  # a hit: nothing changes but the young bit, no sample either
            self.lruvec.young[i] = 1
            if write:
                self.content[i] = cid
            return
        cg = self.cg
        if st != _OUT:
            if not write:
                self.state[i] = _ZEROMAP  # a read before any write maps the zero page
                return
            if not cg.try_charge(self._reclaim):
                return self._oom()
            self.lruvec.add_new(i)
        else:
            if not cg.try_charge(self._reclaim):
                return self._oom()
            active = False
            if self.shadow[i] != NO_SHADOW:
                active = self.lruvec.refault(i, self.shadow[i], self.swap_available())
                self.shadow[i] = NO_SHADOW
            self.d.swap_in(vpn)
            self._sync_zswap()
            cg.swap_pages -= 1
            self.swap_ins += 1
            self.lruvec.add_refaulted(i, active)
        if write:
            self.content[i] = cid
        self.state[i] = _RESIDENT
        cg.resident += 1
        if cg.resident > self.resident_peak:
            self.resident_peak = cg.resident
        cg.handle_over_high(self._reclaim)
        cg.note_peak()
        self.d.sample()

    def _oom(self) -> None:
        self.alive = False
        self.oom_at = self.accesses
        self.d.sample()

    def free(self, vpn: int) -> None:
        i = self.index.get(vpn)
        if i is None:
            return
        st = self.state[i]
        if st == _RESIDENT:
            self.lruvec.remove(i)
            self.cg.resident -= 1
        elif st == _OUT:
            self.d.free(vpn)
            self._sync_zswap()
            self.cg.swap_pages -= 1
            self.d.sample()
        self.state[i] = _NONE
        self.shadow[i] = NO_SHADOW

    # --- PageOwner ----------------------------------------------------------------------
    def swap_available(self) -> bool:
        return self.cg.swap_pages < self.cg.swap_max_pages and self.d.can_swap()

    def pageout(self, i: int) -> int:
        cg = self.cg
        if cg.swap_pages >= cg.swap_max_pages:
            return PAGEOUT_ACTIVATE
        vpn = self.vpns[i]
        zero, clen = self.contents[self.content[i]]
        d = self.d
        d.out(vpn, zero, clen)
        rec = d.pages.get(vpn)
        if rec is None or rec[0] == CACHE:
            if rec is not None:  # the RFC's ACTIVATE: the page stays, its slot is let go
                d.drop(vpn)
            self._sync_zswap()
            self.kept += 1
            return PAGEOUT_ACTIVATE
        self._sync_zswap()
        cg.swap_pages += 1
        self.swap_outs += 1
        return PAGEOUT_FREED

    def free_folio(self, i: int, shadow: int) -> None:
        self.state[i] = _OUT
        self.shadow[i] = shadow
        self.cg.resident -= 1
        lv = self.lruvec
        lv.young[i] = lv.referenced[i] = lv.workingset[i] = 0

    def rows(self) -> dict[str, Any]:
        ev = self.lruvec.events
        return {
            "resident_peak_pages": self.resident_peak,
            "memory_peak_bytes": self.cg.peak_pages * self.ps,
            "swap_outs": self.swap_outs,
            "swap_ins": self.swap_ins,
            "refaults": ev["workingset_refault_anon"],
            "refault_activations": ev["workingset_activate_anon"],
            "oom_killed": self.oom_at is not None,
            "oom_at_access": self.oom_at,
        }


def scan_access_trace(reader: TraceReader) -> dict[str, int]:
    """First pass: the events of an access trace, and how many distinct pages it touches."""
    vpns: set[int] = set()
    counts = {"events": 0, "reads": 0, "writes": 0, "frees": 0}
    names = {OP_READ: "reads", OP_WRITE: "writes", OP_FREE: "frees"}
    for op, vpn, _c in reader.events():
        if op in (OP_OUT, OP_IN):
            raise TraceError(str(reader.path), f"event {counts['events'] + 1}",
                             "out/in event in an access trace: swap events and access events do "
                             "not mix")
        counts["events"] += 1
        counts[names[op]] += 1
        if op != OP_FREE:
            vpns.add(vpn)
    counts["distinct_pages"] = len(vpns)
    return counts


def run_pressure(reader: TraceReader, models: Sequence[Design], settings: MemorySettings,
                 ram_pages: int, compress, timeline=None,
                 every: int = 100) -> tuple[list[DesignProcess], dict[str, int]]:
    """Replay ``reader`` once, every model's process in step; ``compress(page) -> bytes``.
    ``timeline`` (a csv writer) gets each model's metadata every ``every`` events. Returns the
    processes and what the distinct contents compressed to."""
    ps = reader.page_size
    zero_page = bytes(ps)
    contents: dict[int, tuple[bool, int]] = {}
    ids: dict[Content, int] = {}
    stats = {"zero_pages": 0, "compressed_pages": 0, "compressed_bytes": 0,
             "incompressible_pages": 0}

    def content_id(c: Content) -> int:
        cid = ids.get(c)
        if cid is None:
            cid = ids[c] = len(ids)
            page = content_page(c, ps)
            if c.kind == K_ZERO or page == zero_page:
                contents[cid] = (True, 0)
                stats["zero_pages"] += 1
            else:
                clen = len(compress(page))
                contents[cid] = (False, clen)
                if clen < ps:
                    stats["compressed_pages"] += 1
                    stats["compressed_bytes"] += clen
                else:
                    stats["incompressible_pages"] += 1
        return cid

    procs = [DesignProcess(m, settings, ram_pages, ps, contents) for m in models]
    last: tuple[object, int] = (None, -1)
    n = 0
    for op, vpn, c in reader.events():
        n += 1
        if op == OP_FREE:
            for p in procs:
                if p.alive:
                    p.free(vpn)
        else:
            write = op == OP_WRITE
            cid = -1
            if write:
                if c is last[0]:
                    cid = last[1]
                else:
                    cid = content_id(c)  # type: ignore[arg-type]
                    last = (c, cid)
            for p in procs:
                if p.alive:
                    p.access(vpn, write, cid)
        if timeline is not None and n % every == 0:
            timeline.writerow([n, *(m.current_metadata() for m in models)])
    if timeline is not None and n % every:
        timeline.writerow([n, *(m.current_metadata() for m in models)])
    return procs, stats


def oracle_replay(reader: TraceReader, settings: MemorySettings, real_slots: int, ram: int,
                  compressor: str | None, pool_limit_pages: int) -> dict[str, Any]:
    """The simulated kernel's own access replay (``replay/access_replay.py``) under the same
    settings, on a throwaway kernel with one real swapfile of ``real_slots`` slots: every page
    swapped in is checked against the bytes that went out."""
    from ghostswap_cli.cli.demo import make_swapfile
    from ghostswap_cli.kernel.machine import open_kernel, reset_state
    from ghostswap_cli.kernel.params import ZSWAP
    from ghostswap_cli.kernel.procfs import write_file
    from ghostswap_cli.kernel.swapfile import sys_swapon
    from ghostswap_cli.replay.access_replay import AccessOptions, replay_access_trace

    ps = reader.page_size
    with tempfile.TemporaryDirectory(prefix="ghostswap-designs-") as tmp:
        state = Path(tmp) / "state"
        reset_state(state, {"page_size": str(ps), "ram": str(ram), "personality": "ghost",
                            "backing_rotational": "0", "backing_discard": "0"}, keep_machine=False)
        real = Path(tmp) / "oracle-real.swap"
        make_swapfile(real, real_slots * ps, ps, ghost=False, label="oracle")
        with open_kernel(state) as k:
            pct = max(1, -(-pool_limit_pages * 100 // max(k.totalram_pages, 1)))
            write_file(k, ZSWAP + "max_pool_percent", str(min(pct, 100)))
            sys_swapon(k, str(real), 0)
            opts = AccessOptions(
                memory_max="max" if settings.memory_max is None else str(settings.memory_max),
                memory_high="max" if settings.memory_high is None else str(settings.memory_high),
                memory_swap_max="max" if settings.swap_max is None else str(settings.swap_max),
                swappiness=settings.swappiness, policy=settings.policy, compressor=compressor)
            rep = replay_access_trace(k, reader, opts)
    return {
        "kernel": rep.kernel, "real_swapfile_bytes": real_slots * ps,
        "swap_outs": rep.swap_outs, "swap_ins": rep.swap_ins, "refaults": rep.refaults,
        "oom_killed": rep.oom_killed, "oom_at_access": rep.oom_at_access,
        "written_back_pages": rep.written_back_pages, "peak_memory_bytes": rep.peak_memory,
        "peak_resident_pages": rep.peak_resident_pages, "corrupt_pages": rep.corrupt_pages,
        "compressor": rep.compressor,
    }
