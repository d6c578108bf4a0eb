"""What the util-linux mirrors share: the system page size, the report channel, mount and
partition checks, and a small libblkid-like low-level prober.

The prober mirrors what ``blkid_do_probe()`` finds for the signatures mkswap cares about
(libblkid/src/superblocks/{luks,vfat,swap,xfs,ext,iso9660,btrfs}.c and
libblkid/src/partitions/{dos,gpt}.c, v2.38.1): the same idinfo order, the same magic offsets,
minimum sizes and sanity checks, so ``mkswap`` warns about and wipes the same signatures as
util-linux. Checksums (ext4 metadata_csum, xfs v5 CRC) are not verified, as libblkid 2.38 does
not verify them either; other file systems and RAID/LVM signatures are not recognised.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import stat
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from ghostswap_cli.codec.swap_header import SUSPEND_SIGNATURES, TOI_MAGIC, find_swap_header
from ghostswap_cli.uapi import PAGE_SIZES

# the swap prober is its own module (the listings need only it); its names are still ours
from ghostswap_cli.userspace.swap_probe import (
    SWAP_MINSZ,
    ProbeArea,
    Signature,
    _magic_at,
    _page_sizes,
    area_size,
    blkid_label,
    probe_swap,
)

__all__ = (
    "MOUNTS_FILE",
    "SYSFS_ROOT",
    "system_page_size",
    "Report",
    "BufferReport",
    "SystemPaths",
    "DEFAULT_PATHS",
    "MountEntry",
    "read_mounts",
    "is_mounted",
    "ActiveSwap",
    "active_swaps",
    "is_swap_device",
    "disk_partitions",
    "mounted_partitions",
    "ProbeArea",
    "Signature",
    "probe_superblocks",
    "probe_swap",
    "probe_swsuspend",
    "probe_partition_table",
    "blkid_label",
    "area_size",
    "SWAP_MINSZ",
)

MOUNTS_FILE = "/proc/self/mounts"
SYSFS_ROOT = "/sys"

def system_page_size(state_dir: os.PathLike[str] | str | None = None) -> int:
    """The page size mkswap uses when ``-p`` is not given.

    That is the simulated kernel's PAGE_SIZE when ``state_dir`` holds one (the "system" the
    swap area is made for), else ``getpagesize()`` as util-linux uses.
    """
    if state_dir is not None and os.path.exists(os.path.join(state_dir, "state.db")):
        from ghostswap_cli.kernel.machine import read_machine_params

        params = read_machine_params(Path(state_dir)) or {}
        if params.get("page_size", "").isdigit():
            return int(params["page_size"])
    return resource.getpagesize()


# --------------------------------------------------------------------------------------------
# reporting


class Report(Protocol):
    """Where a tool's output goes; the CLI writes to stdout/stderr, tests keep the text."""

    def out(self, line: str) -> None:
        """One line of results on stdout (the newline is added)."""

    def warn(self, message: str) -> None:
        """A diagnostic prefixed with the tool's name, as ``warnx()``."""

    def raw(self, text: str) -> None:
        """Text for stderr exactly as given (util-linux's multi-line blocks)."""


@dataclasses.dataclass
class BufferReport:
    """A :class:`Report` that keeps stdout and stderr as strings (for embedding and tests)."""

    prog: str
    stdout: str = ""
    stderr: str = ""

    def out(self, line: str) -> None:
        self.stdout += line + "\n"

    def warn(self, message: str) -> None:
        self.stderr += f"{self.prog}: {message}\n"

    def raw(self, text: str) -> None:
        self.stderr += text


# --------------------------------------------------------------------------------------------
# mounts and partitions


@dataclasses.dataclass(frozen=True)
class SystemPaths:
    """Where the system is looked at; tests point these at files they made."""

    mounts: str = MOUNTS_FILE
    sysfs: str = SYSFS_ROOT
    root: str = "/"


DEFAULT_PATHS = SystemPaths()


@dataclasses.dataclass(frozen=True)
class MountEntry:
    source: str
    target: str
    fstype: str


def _unescape(field: str) -> str:
    """getmntent() decodes ``\\040`` (space), ``\\011``, ``\\012`` and ``\\134`` in place."""
    out = []
    i = 0
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            try:
                out.append(chr(int(field[i + 1 : i + 4], 8)))
                i += 4
                continue
            except ValueError:
                pass
        out.append(c)
        i += 1
    return "".join(out)


def read_mounts(mounts_file: str = MOUNTS_FILE) -> list[MountEntry]:
    """Entries of a mounts file (``/proc/self/mounts`` format); unreadable -> no entries."""
    try:
        text = Path(mounts_file).read_text(errors="surrogateescape")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith("#"):
            continue
        entries.append(MountEntry(_unescape(fields[0]), _unescape(fields[1]), fields[2]))
    return entries


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _loop_backing_file(rdev: int, sysfs: str) -> str | None:
    p = Path(sysfs, "dev", "block", f"{os.major(rdev)}:{os.minor(rdev)}", "loop", "backing_file")
    try:
        return p.read_text().strip()
    except OSError:
        return None


LOOPDEV_MAJOR = 7


@dataclasses.dataclass(frozen=True)
class ActiveSwap:
    """An area the simulated kernel has active: its /proc/swaps name and its inode."""

    name: str  # d_path as /proc/swaps lists it, unescaped, without " (deleted)"
    dev: int
    ino: int
    rdev: int = 0


def active_swaps(state_dir: os.PathLike[str] | str | None) -> tuple[ActiveSwap, ...]:
    """The simulated kernel's swap table, read from a snapshot of ``state_dir`` (nothing if
    there is no readable state: then no area can be active on it)."""
    if state_dir is None or not os.path.exists(os.path.join(state_dir, "state.db")):
        return ()
    from ghostswap_cli.errors import GhostswapError
    from ghostswap_cli.kernel.machine import open_kernel

    try:
        with open_kernel(Path(state_dir), write=False, create=False) as k:
            return tuple(ActiveSwap(si.path, si.dev, si.ino) for si in k.active())
    except GhostswapError:
        return ()


def is_swap_device(path: str, swaps: Iterable[ActiveSwap]) -> bool:
    """``is_swap_device()`` of util-linux lib/ismounted.c: ``path`` is listed in /proc/swaps
    by that very name, or is a block device whose number a listed device has."""
    rdev = 0
    st = _stat(path)
    if st is not None and stat.S_ISBLK(st.st_mode):
        rdev = st.st_rdev
    return any(s.name == path or (rdev and s.rdev == rdev) for s in swaps)


def is_mounted(path: str, paths: SystemPaths = DEFAULT_PATHS) -> bool:
    """Mirrors ``check_mntent_file()`` in util-linux lib/ismounted.c.

    A mounts entry matches by name, by device number (block devices), by inode (regular
    files), or as the backing file of a mounted loop device; a block device holding ``/`` is
    mounted even when the mounts file calls it ``/dev/root``.
    """
    st = _stat(path)
    file_rdev = file_dev = file_ino = 0
    if st is not None:
        if stat.S_ISBLK(st.st_mode):
            file_rdev = st.st_rdev
        else:
            file_dev, file_ino = st.st_dev, st.st_ino
    for m in read_mounts(paths.mounts):
        if not m.source.startswith("/"):
            continue
        if m.source == path:
            return True
        mst = _stat(m.source)
        if mst is None:
            continue
        if stat.S_ISBLK(mst.st_mode):
            if file_rdev and file_rdev == mst.st_rdev:
                return True
            if file_dev and os.major(mst.st_rdev) == LOOPDEV_MAJOR:
                backing = _loop_backing_file(mst.st_rdev, paths.sysfs)
                bst = _stat(backing) if backing else None
                if bst is not None and (bst.st_dev, bst.st_ino) == (file_dev, file_ino):
                    return True
        elif file_dev and (mst.st_dev, mst.st_ino) == (file_dev, file_ino):
            return True
    if file_rdev:
        rst = _stat(paths.root)
        if rst is not None and rst.st_dev == file_rdev:
            return True
    return False


def disk_partitions(rdev: int, sysfs: str = SYSFS_ROOT) -> list[tuple[str, int]]:
    """Partitions of the whole disk ``rdev`` as (name, device number), from sysfs.

    ``/sys/dev/block/MAJ:MIN`` of a whole disk has one subdirectory per partition, each with a
    ``partition`` file and a ``dev`` file. A partition (or a device sysfs does not know) has none.
    """
    base = Path(sysfs, "dev", "block", f"{os.major(rdev)}:{os.minor(rdev)}")
    if (base / "partition").exists():
        return []
    found = []
    try:
        children = sorted(base.iterdir())
    except OSError:
        return []
    for child in children:
        if not (child / "partition").is_file():
            continue
        try:
            major, minor = (child / "dev").read_text().strip().split(":")
            devno = os.makedev(int(major), int(minor))
        except (OSError, ValueError):
            devno = 0
        found.append((child.name, devno))
    return found


def mounted_partitions(parts: Iterable[tuple[str, int]], paths: SystemPaths = DEFAULT_PATHS) -> list[str]:
    """Names of the given partitions that back a mounted file system."""
    mounted_devnos = set()
    for m in read_mounts(paths.mounts):
        st = _stat(m.source) if m.source.startswith("/") else None
        if st is not None and stat.S_ISBLK(st.st_mode):
            mounted_devnos.add(st.st_rdev)
    rst = _stat(paths.root)
    if rst is not None:
        mounted_devnos.add(rst.st_dev)
    return [name for name, devno in parts if devno and devno in mounted_devnos]


# --------------------------------------------------------------------------------------------
# the low-level prober

def _u16le(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 2], "little")


def _u32le(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 4], "little")


# crypto_LUKS (superblocks/luks.c)
LUKS_MAGIC = b"LUKS\xba\xbe"
LUKS_MAGIC_2 = b"SKUL\xba\xbe"
LUKS2_HDR2_OFFSETS = (0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000)
LUKS2_PHDR_SIZE = 4096


def _probe_luks(area: ProbeArea) -> Signature | None:
    hdr = area.read(0, LUKS2_PHDR_SIZE)
    if hdr is None:
        return None
    if hdr[:6] == LUKS_MAGIC:
        return Signature("crypto_LUKS", "crypto", 0, LUKS_MAGIC, str(int.from_bytes(hdr[6:8], "big")))
    for off in LUKS2_HDR2_OFFSETS:
        hdr = area.read(off, LUKS2_PHDR_SIZE)
        if hdr is None:
            return None
        if hdr[:6] == LUKS_MAGIC_2:
            return Signature("crypto_LUKS", "crypto", off, LUKS_MAGIC_2, str(int.from_bytes(hdr[6:8], "big")))
    return None


# vfat (superblocks/vfat.c): magics in libblkid's order; the short ones need more checks
VFAT_MAGICS = (
    (b"MSWIN", 0x52), (b"FAT32   ", 0x52), (b"MSDOS", 0x36), (b"FAT16   ", 0x36),
    (b"FAT12   ", 0x36), (b"FAT     ", 0x36), (b"\xeb", 0), (b"\xe9", 0), (b"\x55\xaa", 0x1FE),
)
FAT12_MAX, FAT16_MAX, FAT32_MAX = 0xFF4, 0xFFF4, 0x0FFFFFF6


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _fat_valid(ms: bytes, short_magic: bool) -> bool:
    """``fat_valid_superblock()`` on the 512-byte boot sector."""
    if short_magic:
        if ms[510:512] != b"\x55\xaa":
            return False
        if ms[0x36:0x3E] in (b"JFS     ", b"HPFS    "):
            return False
    fats, media, cluster_size = ms[16], ms[21], ms[13]
    reserved = _u16le(ms, 14)
    if not fats or not reserved:
        return False
    if not (media >= 0xF8 or media == 0xF0):
        return False
    if not _is_pow2(cluster_size):
        return False
    sector_size = _u16le(ms, 11)
    if not _is_pow2(sector_size) or sector_size < 512 or sector_size > 4096:
        return False
    dir_entries = _u16le(ms, 17)
    sect_count = _u16le(ms, 19) or _u32le(ms, 32)
    fat16_length = _u16le(ms, 22)
    fat32_length = _u32le(ms, 36)
    fat_length = fat16_length or fat32_length
    fat_size = (fat_length * fats) & 0xFFFFFFFF
    dir_size = (dir_entries * 32 + sector_size - 1) // sector_size
    cluster_count = ((sect_count - (reserved + fat_size + dir_size)) & 0xFFFFFFFF) // cluster_size
    if not fat16_length and fat32_length:
        max_count = FAT32_MAX
    else:
        max_count = FAT16_MAX if cluster_count > FAT12_MAX else FAT12_MAX
    return cluster_count <= max_count


def _probe_vfat(area: ProbeArea) -> Signature | None:
    for magic, off in VFAT_MAGICS:
        if _magic_at(area, off, magic):
            break
    else:
        return None
    ms = area.read(0, 512)
    if ms is None or not _fat_valid(ms, len(magic) <= 2):
        return None
    return Signature("vfat", "filesystem", off, magic)


def is_vfat(area: ProbeArea) -> bool:
    """``blkid_probe_is_vfat()``: the dos partition-table prober steps aside for FAT."""
    return _probe_vfat(area) is not None


def probe_swsuspend(area: ProbeArea, *, minsz: bool = True) -> Signature | None:
    """libblkid's ``swsuspend`` prober: TuxOnIce at offset 0, else a suspend signature where
    SWAPSPACE2 would be. ``minsz=False`` drops the 40 KiB minimum, as for :func:`probe_swap`."""
    if minsz and area.size < SWAP_MINSZ:
        return None
    if _magic_at(area, 0, TOI_MAGIC):
        found = find_swap_header(area.head(max(PAGE_SIZES)), _page_sizes(area), suspend=True)
        if found is not None and found.signature == TOI_MAGIC:
            return Signature("swsuspend", "other", 0, TOI_MAGIC, "tuxonice", found)
    for ps in _page_sizes(area):
        for sig, version in SUSPEND_SIGNATURES.items():
            if _magic_at(area, ps - 10, sig):
                found = find_swap_header(area.head(ps), (ps,), suspend=True)
                return Signature("swsuspend", "other", ps - 10, sig, version, found)
    return None


# xfs (superblocks/xfs.c)
def _xfs_valid(sb: bytes) -> bool:
    """``xfs_verify_sb()``: sizes and logs must agree, as libblkid checks beyond the magic."""
    (blocksize, dblocks, _rb, _rx) = struct.unpack_from(">IQQQ", sb, 4)
    (rextsize, agblocks, agcount) = struct.unpack_from(">III", sb, 80)
    (sectsize, inodesize) = struct.unpack_from(">HH", sb, 102)
    blocklog, sectlog, inodelog, inopblog = sb[120], sb[121], sb[122], sb[123]
    imax_pct = sb[127]
    rt = rextsize * blocksize
    return not (
        agcount == 0
        or not 512 <= sectsize <= 32768 or not 9 <= sectlog <= 15 or sectsize != 1 << sectlog
        or not 512 <= blocksize <= 65536 or not 9 <= blocklog <= 16 or blocksize != 1 << blocklog
        or not 256 <= inodesize <= 2048 or not 8 <= inodelog <= 11 or inodesize != 1 << inodelog
        or blocklog - inodelog != inopblog
        or rt > 1024 * 1024 * 1024 or rt < 4096
        or imax_pct > 100
        or dblocks == 0
        or dblocks > agcount * agblocks
        or dblocks < (agcount - 1) * agblocks + 64
    )


def _probe_xfs(area: ProbeArea) -> Signature | None:
    if not _magic_at(area, 0, b"XFSB"):
        return None
    sb = area.read(0, 160)
    if sb is None or not _xfs_valid(sb):
        return None
    return Signature("xfs", "filesystem", 0, b"XFSB")


# ext2/3/4, jbd (superblocks/ext.c)
EXT_MAGIC = b"\x53\xef"
EXT_MAGIC_OFFSET = 0x400 + 0x38
EXT3_FEATURE_COMPAT_HAS_JOURNAL = 0x0004
EXT3_FEATURE_INCOMPAT_JOURNAL_DEV = 0x0008
EXT2_FLAGS_TEST_FILESYS = 0x0004
EXT2_RO_SUPP = 0x0001 | 0x0002 | 0x0004
EXT2_INCOMPAT_SUPP = 0x0002 | 0x0010
EXT3_RO_SUPP = EXT2_RO_SUPP
EXT3_INCOMPAT_SUPP = 0x0002 | 0x0004 | 0x0010


def _ext_kind(area: ProbeArea, kind: str) -> Signature | None:
    if not _magic_at(area, EXT_MAGIC_OFFSET, EXT_MAGIC):
        return None
    es = area.read(0x400, 0x200)
    if es is None:
        return None
    fc, fi, frc = _u32le(es, 0x5C), _u32le(es, 0x60), _u32le(es, 0x64)
    flags = _u32le(es, 0x160)
    jbd = bool(fi & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV)
    beyond_ext3 = bool(frc & ~EXT3_RO_SUPP or fi & ~EXT3_INCOMPAT_SUPP)
    if kind == "ext4dev":
        ok = not jbd and bool(flags & EXT2_FLAGS_TEST_FILESYS)
    elif kind == "ext4":
        ok = not jbd and beyond_ext3 and not flags & EXT2_FLAGS_TEST_FILESYS
    elif kind == "ext3":
        ok = bool(fc & EXT3_FEATURE_COMPAT_HAS_JOURNAL) and not beyond_ext3
    elif kind == "ext2":
        ok = not fc & EXT3_FEATURE_COMPAT_HAS_JOURNAL and not (frc & ~EXT2_RO_SUPP or fi & ~EXT2_INCOMPAT_SUPP)
    else:  # jbd
        ok = jbd
    return Signature(kind, "filesystem", EXT_MAGIC_OFFSET, EXT_MAGIC) if ok else None


# iso9660 (superblocks/iso9660.c)
ISO_SUPERBLOCK_OFFSET = 0x8000
ISO_SECTOR_SIZE = 2048
ISO_VD_MAX = 16


def _probe_iso9660(area: ProbeArea) -> Signature | None:
    if _magic_at(area, ISO_SUPERBLOCK_OFFSET + 1, b"CD001"):
        for i in range(ISO_VD_MAX):
            desc = area.read(ISO_SUPERBLOCK_OFFSET + i * ISO_SECTOR_SIZE, ISO_SECTOR_SIZE)
            if desc is None or desc[0] == 255:
                break
            if desc[0] == 1:
                return Signature("iso9660", "filesystem", ISO_SUPERBLOCK_OFFSET + 1, b"CD001")
        return None
    if _magic_at(area, ISO_SUPERBLOCK_OFFSET + 9, b"CDROM"):
        return Signature("iso9660", "filesystem", ISO_SUPERBLOCK_OFFSET + 9, b"CDROM", "High Sierra")
    return None


# btrfs (superblocks/btrfs.c)
BTRFS_MAGIC = b"_BHRfS_M"
BTRFS_MAGIC_OFFSET = 0x10000 + 0x40


def _probe_btrfs(area: ProbeArea) -> Signature | None:
    if area.size < 1024 * 1024 or not _magic_at(area, BTRFS_MAGIC_OFFSET, BTRFS_MAGIC):
        return None
    return Signature("btrfs", "filesystem", BTRFS_MAGIC_OFFSET, BTRFS_MAGIC)


# libblkid's idinfos[] order for the types above
SUPERBLOCK_PROBERS: tuple[tuple[str, Callable[[ProbeArea], Signature | None]], ...] = (
    ("crypto_LUKS", _probe_luks),
    ("vfat", _probe_vfat),
    ("swsuspend", probe_swsuspend),
    ("swap", probe_swap),
    ("xfs", _probe_xfs),
    ("ext4dev", lambda a: _ext_kind(a, "ext4dev")),
    ("ext4", lambda a: _ext_kind(a, "ext4")),
    ("ext3", lambda a: _ext_kind(a, "ext3")),
    ("ext2", lambda a: _ext_kind(a, "ext2")),
    ("jbd", lambda a: _ext_kind(a, "jbd")),
    ("iso9660", _probe_iso9660),
    ("btrfs", _probe_btrfs),
)


def probe_superblocks(area: ProbeArea) -> list[Signature]:
    """Every signature, in the order mkswap's ``blkid_do_probe()``/``blkid_do_wipe()`` loop
    meets them: after each hit the magic is wiped (in memory here) and the same prober runs
    again, so two swap magics at different page sizes are both reported."""
    found: list[Signature] = []
    for _name, prober in SUPERBLOCK_PROBERS:
        for _ in range(16):  # a wiped magic cannot match again; the bound is only a guard
            sig = prober(area)
            if sig is None:
                break
            found.append(sig)
            area = area.zeroed(sig.offset, len(sig.magic))
    return found


# partition tables (partitions/dos.c, partitions/gpt.c)
MBR_GPT_PARTITION = 0xEE
AIX_MAGIC = b"\xc9\xc2\xd4\xc1"


def _mbr_entries(sector: bytes) -> list[bytes]:
    return [sector[446 + 16 * i : 446 + 16 * (i + 1)] for i in range(4)]


def _gpt_header_ok(area: ProbeArea, lba: int, lastlba: int) -> bool:
    """``get_gpt_header()``: signature, header CRC, MyLBA, usable range, entries CRC."""
    h = area.read(lba * 512, 512)
    if h is None or h[:8] != b"EFI PART":
        return False
    hsz = _u32le(h, 12)
    if hsz > 512 or hsz < 92:
        return False
    crc = zlib.crc32(h[:16] + bytes(4) + h[20:hsz])
    if crc != _u32le(h, 16):
        return False
    my_lba, _alt, fu, lu = struct.unpack_from("<QQQQ", h, 24)
    if my_lba != lba or lu < fu or fu > lastlba or lu > lastlba or fu < lba < lu:
        return False
    entries_lba = struct.unpack_from("<Q", h, 72)[0]
    nents, entsz = _u32le(h, 80), _u32le(h, 84)
    esz = nents * entsz
    if esz == 0 or esz >= 0xFFFFFFFF or entsz != 128:
        return False
    ents = area.read(entries_lba * 512, esz)
    return ents is not None and zlib.crc32(ents) == _u32le(h, 88)


def probe_partition_table(area: ProbeArea) -> str | None:
    """PTTYPE as libblkid reports it for the types mkswap meets: ``dos``, ``gpt`` or ``PMBR``."""
    sector = area.read(0, 512)
    if sector is None or sector[510:512] != b"\x55\xaa":
        return None
    entries = _mbr_entries(sector)
    pmbr = any(e[4] == MBR_GPT_PARTITION for e in entries)
    if (
        not pmbr
        and sector[:4] != AIX_MAGIC
        and all(e[0] in (0, 0x80) for e in entries)
        and not is_vfat(area)
        and sector[3:11] != b"NTFS    "
    ):
        return "dos"
    if not pmbr:
        return None
    lastlba = area.size // 512 - 1
    if lastlba < 1:
        return None
    if _gpt_header_ok(area, 1, lastlba) or _gpt_header_ok(area, lastlba, lastlba):
        return "gpt"
    return "PMBR"
