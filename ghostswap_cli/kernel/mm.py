"""The simulated address space: a page table and the swap-out, swap-in and unmap paths.

The page table is a radix of 512-entry PTE pages, as x86-64 page tables are: ``vpn >> 9``
selects a PTE page, ``vpn & 511`` the entry. A PTE is 0 (not mapped), ``PTE_PRESENT`` (the page
is in RAM) or a swap entry (``swp_entry(type, offset)``, as a swap PTE holds). Beside each PTE
page sits an array of CRC32s of the page contents that went out, so every swap-in is checked
against what was swapped out.

The paths follow the kernel's order (swapon-kernel.md §13):

* swap-out (``shrink_folio_list`` -> ``add_to_swap`` -> ``pageout`` -> ``swap_writeout``):
  allocate a slot on the highest-priority device with room, then zero page -> zeromap, else
  ``zswap_store``, else ``__swap_writepage`` to the file; on a ghost (RFC) the write fails with
  AOP_WRITEPAGE_ACTIVATE and the page stays resident in the swap cache, slot still allocated.
* swap-in (``do_swap_page`` -> ``swap_read_folio``): swap cache, zeromap, zswap, then the file;
  the slot is freed after the read (``swap_free``), the PTE points at the page again.
* unmap (``zap_pte_range`` -> ``free_swap_and_cache``): drops the slot and any data it holds.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import zlib
from array import array
from typing import TYPE_CHECKING

from ghostswap_cli.errors import KernelError, StateError
from ghostswap_cli.kernel.cluster import (
    LOC_CACHE,
    LOC_DISK,
    LOC_KIND,
    LOC_ZERO,
    LOC_ZSWAP,
)
from ghostswap_cli.kernel.cluster import (
    ZSWAP_E_TYPE_SHIFT as E_TYPE_SHIFT,
)
from ghostswap_cli.uapi import SWAP_MAP_BAD, SWAPFILE_CLUSTER, SWP_OFFSET_MASK, SWP_TYPE_SHIFT

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel
    from ghostswap_cli.kernel.swapfile import SwapInfoStruct
    from ghostswap_cli.kernel.zswap import Zswap

__all__ = ("MM", "PTE_PRESENT", "PTRS_PER_PTE", "SessionStats", "swp_entry")

PTE_PRESENT = 1 << 63
PTRS_PER_PTE = 512
_ZERO_PTES = array("Q", bytes(8 * PTRS_PER_PTE))
_ZERO_CSUMS = array("I", bytes(4 * PTRS_PER_PTE))
_SHIFT = SWP_TYPE_SHIFT
_MASK = SWP_OFFSET_MASK
_CL = SWAPFILE_CLUSTER
_CL_SHIFT = SWAPFILE_CLUSTER.bit_length() - 1
_CL_MASK = SWAPFILE_CLUSTER - 1
assert 1 << _CL_SHIFT == _CL
crc32 = zlib.crc32


def swp_entry(type_: int, offset: int) -> int:
    return (type_ << SWP_TYPE_SHIFT) | offset


@dataclasses.dataclass
class SessionStats:
    """What happened during this process's use of the machine (not persisted)."""

    swapped_out: int = 0
    swapped_in: int = 0
    freed: int = 0
    implicit_swapins: int = 0  # `out` of a page that was swapped out: faulted in first
    in_not_swapped: int = 0  # `in` of a page that was not swapped out
    no_swap_space: int = 0  # no slot free anywhere: the page stayed in RAM
    stayed_resident: int = 0  # ghost write failed (AOP_WRITEPAGE_ACTIVATE)
    corrupt_pages: int = 0
    corrupt_vpns: list[int] = dataclasses.field(default_factory=list)
    zswap_accepted_pages: int = 0
    zswap_accepted_bytes: int = 0


class MM:
    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.page_size = ps = k.page_size
        self.zero_page = bytes(ps)
        # 6.1 has no swap-layer zero map (6.12): a zero page goes to zswap as a same-filled
        # entry, or to the file
        self.no_zeromap = k.release == "6.1"
        self.zero_csum = zlib.crc32(self.zero_page)
        self.table: dict[int, tuple[array, array]] = {}
        self.dirty: set[int] = set()
        self.present_pages = 0
        self.swapped_pages = 0
        self.stats = SessionStats()
        self.zswap: Zswap = None  # type: ignore[assignment]  # set by Kernel.mm

    # --- persistence ------------------------------------------------------------------------
    def load_chunk(self, key: int, data: bytes) -> None:
        n = PTRS_PER_PTE
        if len(data) != 12 * n:
            raise ValueError(f"page-table record {key}: {len(data)} bytes, expected {12 * n}")
        ptes = array("Q")
        ptes.frombytes(data[: 8 * n])
        csums = array("I")
        csums.frombytes(data[8 * n :])
        self.table[key] = (ptes, csums)
        present = ptes.count(PTE_PRESENT)
        self.present_pages += present
        self.swapped_pages += n - present - ptes.count(0)

    def chunk_bytes(self, key: int) -> bytes | None:
        """The record for PTE page ``key``, or None when it maps nothing (delete it)."""
        ptes, csums = self.table[key]
        if ptes.count(0) == PTRS_PER_PTE:
            return None
        return ptes.tobytes() + csums.tobytes()

    # --- helpers ----------------------------------------------------------------------------
    def _pte_page(self, key: int) -> tuple[array, array]:
        t = self.table.get(key)
        if t is None:
            t = self.table[key] = (array("Q", _ZERO_PTES), array("I", _ZERO_CSUMS))
        return t

    def lookup(self, vpn: int) -> tuple[int, int]:
        t = self.table.get(vpn >> 9)
        if t is None:
            return 0, 0
        i = vpn & 511
        return t[0][i], t[1][i]

    # --- swap-out ---------------------------------------------------------------------------
    def swap_out(self, vpn: int, page: bytes, compressed: bytes | None = None,
                 csum: int | None = None) -> None:
        """Reclaim page ``vpn`` holding ``page``: give it a slot and write it out.

        ``compressed`` is ``page`` already run through the current zswap compressor (the design
        lab compresses each page once for every model, the replay may compress ahead in another
        process); zswap then does not compress it again. ``csum``, when given, is
        ``zlib.crc32(page)``, taken by whoever compressed it.
        """
        key = vpn >> 9
        i = vpn & 511
        t = self.table.get(key)
        ptes, csums = t if t is not None else self._pte_page(key)
        pte = ptes[i]
        if pte:
            if pte != PTE_PRESENT:
                self.stats.implicit_swapins += 1
                self._fault_in(vpn, ptes, csums, i, pte)
            self.present_pages -= 1
        self.dirty.add(key)
        k = self.k
        si, offset = k.get_swap_page()
        st = self.stats
        if si is None:
            # add_to_swap failed: the folio is activated and stays in RAM
            ptes[i] = PTE_PRESENT
            self.present_pages += 1
            st.no_swap_space += 1
            k.counters["swap_out_nospace"] += 1
            return
        st.swapped_out += 1
        swp = (si.type << _SHIFT) | offset
        c = si.slots.clusters[offset >> _CL_SHIFT]
        j = offset & _CL_MASK
        if page == self.zero_page and not self.no_zeromap:
            c.loc[j] = LOC_ZERO
            k.counters["swpout_zero"] += 1
            csum = self.zero_csum
        else:
            if csum is None:
                csum = crc32(page)
            z = self.zswap
            eid = z.zswap_store(swp, page, compressed)
            if eid:
                c.loc[j] = LOC_ZSWAP
                c.ref[j] = eid
                st.zswap_accepted_pages += 1
                st.zswap_accepted_bytes += z.e_len[eid]
            elif si.is_ghost:
                # RFC: __swap_writepage on a ghost re-dirties the folio and returns
                # AOP_WRITEPAGE_ACTIVATE; the page stays in the swap cache, slot allocated
                c.loc[j] = LOC_CACHE
                c.ref[j] = k.arena.store(page)
                k.counters["nr_swapcache_pages"] += 1
                k.counters["ghost_writepage_activate"] += 1
                st.stayed_resident += 1
            else:
                k.page_io.swap_writepage_disk(si, offset, page)
                c.loc[j] = LOC_DISK
                k.new_disk_slots.append(swp)
        ptes[i] = swp
        csums[i] = csum
        self.swapped_pages += 1

    def note_written_back(self, si: SwapInfoStruct, offset: int) -> None:
        """zswap wrote the entry of this slot back to the file: the data now lives on disk."""
        c = si.slots.clusters[offset // _CL]
        j = offset % _CL
        c.loc[j] = LOC_DISK
        c.ref[j] = 0
        si.slots.dirty.add(c.idx)
        self.k.new_disk_slots.append((si.type << _SHIFT) | offset)

    # --- swap-in ----------------------------------------------------------------------------
    def swap_in(self, vpn: int) -> bytes | None:
        """Fault page ``vpn`` back in; returns its bytes, or None if it was not swapped out
        or came back corrupt (counted in ``stats``)."""
        key = vpn >> 9
        t = self.table.get(key)
        if t is not None:
            ptes = t[0]
            i = vpn & 511
            pte = ptes[i]
            if pte and pte != PTE_PRESENT:
                self.dirty.add(key)
                return self._fault_in(vpn, ptes, t[1], i, pte)
        self.stats.in_not_swapped += 1
        return None

    def _read_slot(self, si: SwapInfoStruct, offset: int) -> bytes | None:
        """``swap_read_folio``: swap cache, zeromap, zswap, then the file."""
        k = self.k
        c = si.slots.clusters[offset // _CL]
        j = offset % _CL
        loc = c.loc[j]
        kind = loc & LOC_KIND
        if kind == LOC_ZSWAP:
            return self.zswap.zswap_load(
                self._zswap_entry(c.ref[j], (si.type << _SHIFT) | offset))
        if kind == LOC_ZERO:
            k.counters["swpin_zero"] += 1
            return self.zero_page
        if kind == LOC_CACHE:
            handle = c.ref[j]
            page = k.arena.read(handle, self.page_size)
            k.arena.free(handle, self.page_size)
            k.counters["nr_swapcache_pages"] -= 1
            return page
        if kind == LOC_DISK and not si.is_ghost:
            return k.page_io.swap_read_disk(si, offset)
        # RFC: a ghost slot that neither zswap nor the zeromap holds has no data (SIGBUS)
        return None

    def _inconsistent(self, pte: int, vpn: int | None = None) -> StateError:
        """A swap PTE that does not lead to its slot and data: a corrupt state, found on use
        (the loader checks records, not every cross-reference, to keep loading cheap)."""
        where = f"page {vpn:#x}: " if vpn is not None else ""
        return StateError(
            f"{where}swap entry {pte >> _SHIFT}:{pte & _MASK} does not lead to its data (the "
            f"state is inconsistent); run `ghostswap kernel fsck --repair`"
        )

    def _slot(self, pte: int, vpn: int | None):
        """(si, cluster, index) of the slot a swap PTE names, or StateError."""
        offset = pte & _MASK
        try:
            si = self.k.swap_info[pte >> _SHIFT]
            c = si.slots.clusters[offset // _CL]
        except (IndexError, KeyError, AttributeError):
            raise self._inconsistent(pte, vpn) from None
        j = offset % _CL
        v = c.map[j]
        if not v or v >= SWAP_MAP_BAD:  # free, bad, or held for reuse: no page's slot
            raise self._inconsistent(pte, vpn)
        return si, c, j

    def _zswap_entry(self, eid: int, pte: int, vpn: int | None = None) -> int:
        """``eid`` if that zswap entry is stored for swap entry ``pte``, else StateError."""
        z = self.zswap
        e_off = z.e_off
        if eid >= len(e_off) or e_off[eid] != pte & _MASK or not e_off[eid] or \
                z.e_flags[eid] >> E_TYPE_SHIFT != pte >> _SHIFT:
            raise self._inconsistent(pte, vpn)
        return eid

    def _fault_in(self, vpn: int, ptes: array, csums: array, i: int, pte: int) -> bytes | None:
        k = self.k
        offset = pte & _MASK
        try:
            si = k.swap_info[pte >> _SHIFT]
            slots = si.slots
            c = slots.clusters[offset >> _CL_SHIFT]
        except (IndexError, KeyError, AttributeError):
            raise self._inconsistent(pte, vpn) from None
        j = offset & _CL_MASK
        v = c.map[j]
        if not v or v >= SWAP_MAP_BAD:  # free, bad, or held for reuse: no page's slot
            raise self._inconsistent(pte, vpn)
        loc_kind = c.loc[j] & LOC_KIND
        eid = c.ref[j]
        if loc_kind == LOC_ZSWAP:  # the common case, inline: zswap_load
            z = self.zswap
            # the entry must be this slot's: offset (never 0 for a stored entry) and type
            if eid >= len(z.e_off) or z.e_off[eid] != offset or \
                    z.e_flags[eid] >> E_TYPE_SHIFT != pte >> _SHIFT:
                raise self._inconsistent(pte, vpn)
            page = z.zswap_load(eid)
        else:
            page = self._read_slot(si, offset)
        slots.free(offset)
        ptes[i] = PTE_PRESENT
        self.present_pages += 1
        self.swapped_pages -= 1
        st = self.stats
        st.swapped_in += 1
        if page is None or crc32(page) != csums[i]:
            st.corrupt_pages += 1
            if len(st.corrupt_vpns) < 1000:
                st.corrupt_vpns.append(vpn)
                self._log_unreadable(si, offset, loc_kind, eid, vpn, page is None)
            k.counters["corrupt_pages"] += 1
            page = None
        csums[i] = 0
        return page

    # --- for access replays (the reclaim model keeps resident pages itself) ------------------
    def swap_location(self, vpn: int) -> int:
        """The ``LOC_*`` kind of the slot page ``vpn`` is swapped to; -1 if it is not."""
        pte, _ = self.lookup(vpn)
        if not pte or pte == PTE_PRESENT:
            return -1
        si, c, j = self._slot(pte, vpn)
        return c.loc[j] & LOC_KIND

    def zswap_entry_of(self, vpn: int) -> int:
        """The zswap entry id holding page ``vpn`` (0 if zswap does not hold it)."""
        pte, _ = self.lookup(vpn)
        if not pte or pte == PTE_PRESENT:
            return 0
        _si, c, j = self._slot(pte, vpn)
        return c.ref[j] if c.loc[j] == LOC_ZSWAP else 0

    def swap_read_keep(self, vpn: int) -> bytes | None:
        """Read page ``vpn`` from its slot and leave slot and data in place (a read fault that
        keeps the page in the swap cache; with 6.1's zswap the entry stays too). None, counted
        as corrupt, when the bytes are not the ones that went out."""
        t = self.table.get(vpn >> 9)
        i = vpn & 511
        pte = t[0][i] if t is not None else 0
        if not pte or pte == PTE_PRESENT:
            self.stats.in_not_swapped += 1
            return None
        si, c, j = self._slot(pte, vpn)
        if c.loc[j] == LOC_ZSWAP:
            z = self.zswap
            page = z.decompress(self._zswap_entry(c.ref[j], pte, vpn))
            if page is not None:
                self.k.counters["zswpin"] += 1
        else:
            page = self._read_slot(si, pte & _MASK)
        self.stats.swapped_in += 1
        if page is None or zlib.crc32(page) != t[1][i]:
            self.stats.corrupt_pages += 1
            if len(self.stats.corrupt_vpns) < 1000:
                self.stats.corrupt_vpns.append(vpn)
            self.k.counters["corrupt_pages"] += 1
            return None
        return page

    def cancel_swap_out(self, vpn: int) -> None:
        """Undo a swap-out the page survived (no slot, or the ghost write failed): drop any
        slot and swap-cache copy and leave the PTE empty; the caller keeps the page resident."""
        key = vpn >> 9
        t = self.table.get(key)
        if t is None:
            return
        ptes, csums = t
        i = vpn & 511
        pte = ptes[i]
        if pte == PTE_PRESENT:
            self.present_pages -= 1
        elif pte:
            self.free_swap_and_cache(pte, vpn)
            self.swapped_pages -= 1
            self.stats.swapped_out -= 1
        ptes[i] = 0
        csums[i] = 0
        self.dirty.add(key)

    # --- unmap ------------------------------------------------------------------------------
    def free(self, vpn: int) -> None:
        """``zap_pte_range`` for one page: unmap it and free its swap slot and data."""
        key = vpn >> 9
        t = self.table.get(key)
        i = vpn & 511
        self.stats.freed += 1
        if t is None:
            return
        ptes, csums = t
        pte = ptes[i]
        if not pte:
            return
        self.dirty.add(key)
        if pte == PTE_PRESENT:
            self.present_pages -= 1
        else:
            self.free_swap_and_cache(pte, vpn)
            self.swapped_pages -= 1
        ptes[i] = 0
        csums[i] = 0

    def free_swap_and_cache(self, pte: int, vpn: int | None = None) -> None:
        k = self.k
        si, c, j = self._slot(pte, vpn)
        offset = pte & _MASK
        loc = c.loc[j]
        kind = loc & LOC_KIND
        if kind == LOC_ZSWAP:
            self.zswap.zswap_invalidate(self._zswap_entry(c.ref[j], pte, vpn))
        elif kind == LOC_CACHE:
            k.arena.free(c.ref[j], self.page_size)
            k.counters["nr_swapcache_pages"] -= 1
        si.slots.free(offset)

    def exit_mmap(self) -> None:
        """The process exits: every page it maps is unmapped (``exit_mmap`` ->
        ``zap_pte_range``), freeing the swap slots and zswap entries of those swapped out."""
        for key in sorted(self.table):
            ptes, _csums = self.table[key]
            if ptes.count(0) == PTRS_PER_PTE:
                continue
            base = key << 9
            for i in range(PTRS_PER_PTE):
                if ptes[i]:
                    self.free(base + i)

    # --- swapoff ----------------------------------------------------------------------------
    def pages_needed_for_unuse(self, si: SwapInfoStruct) -> int:
        """RAM pages ``try_to_unuse`` would need: every used slot not already resident."""
        cached = 0
        slots = si.slots
        for c in slots.clusters.values():
            cached += c.loc.count(LOC_CACHE)
        return si.inuse_pages - cached - len(slots.pending_free)

    def _log_unreadable(self, si: SwapInfoStruct, offset: int, kind: int, eid: int, vpn: int,
                        unreadable: bool) -> None:
        """The kernel's line for a page that does not come back: zswap's decompression error,
        the block layer's read error; a page that reads back with other bytes than went out is
        something only the simulator (which keeps a CRC32 of each page) can see."""
        k = self.k
        if unreadable and kind == LOC_ZSWAP:
            from ghostswap_cli.kernel.compressors import compressor_by_id

            z = self.zswap
            ok = 0 < eid < len(z.e_len)
            name = compressor_by_id(z.e_comp[eid]).name if ok else z.compressor.name
            length = z.e_len[eid] if ok else 0
            k.printk.pr_err(f"Decompression error from zswap ({si.type}:{offset} {name} "
                            f"{length}->-22)")
        elif unreadable and kind == LOC_DISK:
            k.printk.pr_err(f"Read-error on swap-device ({os.major(si.dev)}:{os.minor(si.dev)}:"
                            f"{offset * (self.page_size // 512)})")
        else:
            k.printk.pr_err(f"ghostswap: page {vpn:#x}: swap entry {si.type}:{offset} came back "
                            f"with other bytes than were swapped out (CRC32 mismatch)")

    def unreadable_pages(self, si: SwapInfoStruct) -> list[tuple[int, int, int, int]]:
        """(vpn, offset, location kind, zswap entry) of every page on ``si`` that cannot be
        read back with the bytes that went out; reads without changing anything."""
        from ghostswap_cli.kernel.check import read_page

        type_ = si.type
        bad = []
        fds: dict[str, int] = {}
        try:
            for key in sorted(self.table):
                ptes, csums = self.table[key]
                base = key << 9
                for i in range(PTRS_PER_PTE):
                    pte = ptes[i]
                    if not pte or pte == PTE_PRESENT or pte >> _SHIFT != type_:
                        continue
                    _si, c, j = self._slot(pte, base + i)
                    offset = pte & _MASK
                    loc, ref = c.loc[j], c.ref[j]
                    kind = loc & LOC_KIND
                    page = read_page(self.k, si, offset, loc, ref, fds)
                    if page is None or zlib.crc32(page) != csums[i]:
                        bad.append((base + i, offset, kind, ref, page is None))
        finally:
            for fd in fds.values():
                os.close(fd)
        return bad

    def try_to_unuse(self, si: SwapInfoStruct, drop_unreadable: bool = False) -> int:
        """Walk the page table and bring back every page on ``si`` (``unuse_mm``).

        Every page is read first, without changing anything: if one cannot be read back with
        its bytes, nothing is brought back and KernelError(EIO) is raised, after logging each
        (the area stays active; the kernel since 5.19 would instead map such a page as a
        swap-in error and let swapoff succeed, losing it). With ``drop_unreadable`` those
        pages are dropped (their PTEs cleared, counted in ``corrupt_pages``) and the rest come
        back. Returns the number of pages brought back.
        """
        bad = self.unreadable_pages(si)
        k = self.k
        if bad:
            for n_logged, (vpn, offset, kind, ref, unreadable) in enumerate(bad):
                if n_logged == 10:
                    break  # printk_ratelimited
                if kind == LOC_ZSWAP and unreadable:
                    k.counters["decompress_fail"] += 1
                self._log_unreadable(si, offset, kind, ref, vpn, unreadable)
            entries = " ".join(f"{si.type}:{o}" for _v, o, *_ in bad[:8])
            more = " ..." if len(bad) > 8 else ""
            if not drop_unreadable:
                k.note_unreadable(v for v, *_ in bad)
                k.printk.pr_err(
                    f"ghostswap: swapoff {si.path}: {len(bad)} page{'s' if len(bad) != 1 else ''}"
                    f" cannot be read back (swap entries {entries}{more}): -EIO, area stays "
                    f"active")
                raise KernelError(errno.EIO)
            for vpn, *_ in bad:
                t = self.table[vpn >> 9]
                self.free_swap_and_cache(t[0][vpn & 511], vpn)
                t[0][vpn & 511] = 0
                t[1][vpn & 511] = 0
                self.dirty.add(vpn >> 9)
                self.swapped_pages -= 1
                self.stats.corrupt_pages += 1
                if len(self.stats.corrupt_vpns) < 1000:
                    self.stats.corrupt_vpns.append(vpn)
            k.counters["corrupt_pages"] += len(bad)
            k.printk.pr_warn(
                f"ghostswap: swapoff {si.path}: dropped {len(bad)} page"
                f"{'s' if len(bad) != 1 else ''} that cannot be read back (swap entries "
                f"{entries}{more}); their processes would get SIGBUS")
        type_ = si.type
        n = 0
        for key in sorted(self.table):
            ptes, csums = self.table[key]
            base = key << 9
            for i in range(PTRS_PER_PTE):
                pte = ptes[i]
                if pte and pte != PTE_PRESENT and pte >> _SHIFT == type_:
                    self.dirty.add(key)
                    self._fault_in(base + i, ptes, csums, i, pte)
                    n += 1
        self.stats.swapped_in -= n  # brought back by swapoff, not by the trace
        return n
