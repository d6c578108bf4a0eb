"""Small disk images for the tests: swap headers written by hand (independently of the codec),
the first bytes of the file systems and partition tables mkswap must recognise, and helpers
to write them as sparse files and to run the util-linux tools.

Every builder returns ``(size, chunks)``: the image's length and ``{offset: bytes}`` to write,
so a multi-MiB image costs a few KiB on disk.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

UUID_A = "11111111-2222-3333-4444-555555555555"
UUID_B = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
UUID_C = "deadbeef-0000-4000-8000-0123456789ab"

Image = tuple[int, dict[int, bytes]]


# --------------------------------------------------------------------------------------------
# files


def write_image(path: Path, image: Image, fill: bytes | None = None) -> Path:
    """Write ``image`` sparsely (or filled with ``fill`` repeated, for small images)."""
    size, chunks = image
    with open(path, "wb") as f:
        if fill is not None:
            f.write((fill * (size // len(fill) + 1))[:size])
        else:
            f.truncate(size)
        for off, data in chunks.items():
            f.seek(off)
            f.write(data)
    return path


def snapshot(path: Path) -> tuple[bytes, int, int]:
    """Content, mtime_ns and mode: what "unchanged" means in the error-path tests."""
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_mode


def head_and_size(path: Path, n: int = 131072) -> tuple[bytes, int]:
    with open(path, "rb") as f:
        return f.read(n), os.fstat(f.fileno()).st_size


def tool(name: str) -> str | None:
    """Path of a util-linux (or other) tool, looking in the sbin directories too."""
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        p = Path(d, name)
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def tool_env(**extra: str) -> dict[str, str]:
    """The environment the real tools run in: C locale, no util-linux lock override."""
    env = dict(os.environ, LC_ALL="C", LANG="C", **extra)
    env.pop("LOCK_BLOCK_DEVICE", None)
    return env


def run_tool(*argv: str, cwd: Path | None = None,
             env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = tool_env(**(env_extra or {}))
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=60,
        check=False, errors="surrogateescape",
    )


# --------------------------------------------------------------------------------------------
# swap headers, written with struct so the codec is checked against something else


def swap_page(
    page_size: int = 4096,
    *,
    last_page: int = 9,
    version: int = 1,
    label: bytes = b"",
    uuid: bytes = bytes(16),
    badpages: tuple[int, ...] = (),
    order: str = "<",
    magic: bytes = b"SWAPSPACE2",
    bootbits: bytes = bytes(1024),
    padding: bytes = bytes(468),
) -> bytes:
    page = bytearray(page_size)
    page[:1024] = bootbits
    struct.pack_into(f"{order}III", page, 1024, version, last_page, len(badpages))
    page[1036:1052] = uuid
    page[1052:1068] = label.ljust(16, b"\0")[:16]
    page[1068:1536] = padding
    for i, b in enumerate(badpages):
        struct.pack_into(f"{order}I", page, 1536 + 4 * i, b)
    page[page_size - 10 : page_size - 10 + len(magic)] = magic
    return bytes(page)


def byteswap_header(page: bytes, page_size: int) -> bytes:
    """What ``mkswap -e`` for the other byte order writes: version, last_page, nr_badpages and
    the bad-page list swapped; UUID and label as they are."""
    out = bytearray(page)
    nbad = struct.unpack_from("<I", page, 1032)[0]
    for off in (1024, 1028, 1032, *(1536 + 4 * i for i in range(nbad))):
        out[off : off + 4] = page[off : off + 4][::-1]
    return bytes(out)


# --------------------------------------------------------------------------------------------
# file systems


def xfs_image(size: int = 64 * 1024 * 1024) -> Image:
    """An XFS superblock that passes libblkid's xfs_verify_sb()."""
    sb = bytearray(512)
    struct.pack_into(">4sIQQQ", sb, 0, b"XFSB", 4096, 16384, 0, 0)
    sb[32:48] = bytes(range(16))
    struct.pack_into(">IIIII", sb, 80, 1, 4096, 4, 0, 1024)  # rextsize agblocks agcount ...
    struct.pack_into(">HHHH", sb, 100, 0xB4A5, 512, 512, 8)
    sb[108:120] = b"xfsvol".ljust(12, b"\0")
    sb[120:128] = bytes([12, 9, 9, 3, 12, 0, 0, 25])
    return size, {0: bytes(sb)}


def vfat_image(size: int = 8 * 1024 * 1024) -> Image:
    """A FAT16 boot sector ("mkfs.fat -F 16" would write the same fields)."""
    bs = bytearray(512)
    bs[0:3] = b"\xeb\x3c\x90"
    bs[3:11] = b"MSDOS5.0"
    struct.pack_into("<HBHBHHBHHHII", bs, 11, 512, 4, 4, 2, 512, size // 512 if size < 1 << 25 else 0,
                     0xF8, 32, 32, 64, 0, 0 if size < 1 << 25 else size // 512)
    bs[36], bs[38] = 0x80, 0x29
    bs[39:43] = b"\x12\x34\x56\x78"
    bs[43:54] = b"NO NAME    "
    bs[54:62] = b"FAT16   "
    bs[510:512] = b"\x55\xaa"
    return size, {0: bytes(bs)}


def btrfs_image(size: int = 4 * 1024 * 1024) -> Image:
    sb = bytearray(4096)
    sb[32:48] = bytes(range(16, 32))  # fsid
    sb[0x40:0x48] = b"_BHRfS_M"
    struct.pack_into("<I", sb, 0x90, 4096)  # sectorsize
    return size, {0x10000: bytes(sb)}


def iso9660_image(size: int = 1024 * 1024) -> Image:
    pvd = bytearray(2048)
    pvd[0], pvd[1:6], pvd[6] = 1, b"CD001", 1
    pvd[40:72] = b"GHOSTSWAP_TEST".ljust(32)
    term = bytearray(2048)
    term[0], term[1:6], term[6] = 255, b"CD001", 1
    return size, {0x8000: bytes(pvd), 0x8800: bytes(term)}


def luks_image(version: int = 1, size: int = 8 * 1024 * 1024, secondary: bool = False) -> Image:
    hdr = bytearray(4096)
    hdr[0:6] = b"LUKS\xba\xbe"
    struct.pack_into(">H", hdr, 6, version)
    chunks = {0: bytes(hdr)}
    if secondary:
        hdr2 = bytearray(hdr)
        hdr2[0:6] = b"SKUL\xba\xbe"
        chunks[0x4000] = bytes(hdr2)
    return size, chunks


def mkfs_ext(path: Path, kind: str, size: int = 8 * 1024 * 1024) -> Path | None:
    """A real ext2/3/4 made by mke2fs, or None when it is not installed."""
    mke2fs = tool("mke2fs")
    if mke2fs is None:
        return None
    with open(path, "wb") as f:
        f.truncate(size)
    # a fixed clock and hash seed: two images made a second apart must be byte-identical
    r = run_tool(mke2fs, "-q", "-F", "-t", kind, "-U", UUID_B, "-E", f"hash_seed={UUID_B}",
                 str(path), env_extra={"E2FSPROGS_FAKE_TIME": "1700000000"})
    return path if r.returncode == 0 else None


# --------------------------------------------------------------------------------------------
# partition tables


def dos_image(size: int = 1024 * 1024) -> Image:
    mbr = bytearray(512)
    mbr[440:444] = b"\x12\x34\x56\x78"
    entry = struct.pack("<B3sB3sII", 0x80, b"\0\0\0", 0x83, b"\0\0\0", 2048, 100)
    mbr[446:462] = entry
    mbr[510:512] = b"\x55\xaa"
    return size, {0: bytes(mbr)}


def gpt_image(size: int = 1024 * 1024, valid: bool = True) -> Image:
    """A protective MBR and a primary GPT header with one entry (CRCs right if ``valid``)."""
    lastlba = size // 512 - 1
    mbr = bytearray(512)
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0xEE, b"\0\0\0", 1, lastlba)
    mbr[510:512] = b"\x55\xaa"
    entries = bytearray(128 * 128)
    entries[0:16] = bytes(range(1, 17))  # partition type GUID
    entries[16:32] = bytes(range(17, 33))
    struct.pack_into("<QQ", entries, 32, 40, 100)
    hdr = bytearray(512)
    struct.pack_into("<8sIII I QQQQ 16s QIII", hdr, 0, b"EFI PART", 0x10000, 92, 0, 0,
                     1, lastlba, 34, lastlba - 33, bytes(range(40, 56)), 2, 128, 128,
                     zlib.crc32(entries))
    crc = zlib.crc32(bytes(hdr[:92]))
    struct.pack_into("<I", hdr, 16, crc if valid else crc ^ 1)
    return size, {0: bytes(mbr), 512: bytes(hdr), 1024: bytes(entries)}
