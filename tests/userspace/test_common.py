"""Mount and partition checks with injected files, and the libblkid-like prober on images."""

from __future__ import annotations

import os
import stat

import pytest

from ghostswap_cli.userspace.common import (
    BufferReport,
    ProbeArea,
    SystemPaths,
    blkid_label,
    disk_partitions,
    is_mounted,
    mounted_partitions,
    probe_partition_table,
    probe_superblocks,
    probe_swap,
    probe_swsuspend,
    read_mounts,
    system_page_size,
)

from .images import (
    btrfs_image,
    dos_image,
    gpt_image,
    iso9660_image,
    luks_image,
    mkfs_ext,
    swap_page,
    vfat_image,
    write_image,
    xfs_image,
)


def root_block_device() -> str | None:
    """The block device node that holds ``/``, if /dev has one (for read-only checks)."""
    root_dev = os.stat("/").st_dev
    for entry in read_mounts():
        if entry.target == "/" and entry.source.startswith("/dev/"):
            try:
                st = os.stat(entry.source)
            except OSError:
                continue
            if stat.S_ISBLK(st.st_mode) and st.st_rdev == root_dev:
                return entry.source
    return None


def area_of(image) -> ProbeArea:
    size, chunks = image
    data = bytearray(min(size, 2 * 1024 * 1024))
    for off, chunk in chunks.items():
        data[off : off + len(chunk)] = chunk
    return ProbeArea.from_bytes(bytes(data), size)


def test_system_page_size():
    assert system_page_size() == os.sysconf("SC_PAGE_SIZE")


def test_buffer_report():
    r = BufferReport("mkswap")
    r.out("a")
    r.warn("b")
    r.raw("c\n")
    assert (r.stdout, r.stderr) == ("a\n", "mkswap: b\nc\n")


class TestMounts:
    def test_read_mounts_unescapes(self, tmp_path):
        m = tmp_path / "mounts"
        m.write_text("/dev/sda1 /mnt/with\\040space ext4 rw 0 0\n# comment\nbroken\nproc /proc proc rw 0 0\n")
        entries = read_mounts(str(m))
        assert [(e.source, e.target, e.fstype) for e in entries] == [
            ("/dev/sda1", "/mnt/with space", "ext4"), ("proc", "/proc", "proc")]
        assert read_mounts(str(tmp_path / "missing")) == []

    def test_by_name(self, tmp_path):
        img = tmp_path / "disk.img"
        img.write_bytes(b"x")
        m = tmp_path / "mounts"
        m.write_text(f"{img} /mnt ext4 rw 0 0\n")
        paths = SystemPaths(mounts=str(m))
        assert is_mounted(str(img), paths)
        assert not is_mounted(str(tmp_path / "other"), paths)
        assert not is_mounted(str(img), SystemPaths(mounts=str(tmp_path / "empty")))

    def test_by_inode(self, tmp_path):
        img = tmp_path / "disk.img"
        img.write_bytes(b"x")
        link = tmp_path / "link.img"
        link.symlink_to(img)
        m = tmp_path / "mounts"
        m.write_text(f"{link} /mnt ext4 rw 0 0\n")
        assert is_mounted(str(img), SystemPaths(mounts=str(m)))

    def test_root_device_counts_as_mounted(self, tmp_path):
        dev = root_block_device()
        if dev is None:
            pytest.skip("no block device node for / in /dev")
        empty = tmp_path / "mounts"
        empty.write_text("")
        assert is_mounted(dev, SystemPaths(mounts=str(empty)))
        assert is_mounted(dev)

    def test_partitions_from_sysfs(self, tmp_path):
        disk = tmp_path / "dev" / "block" / "240:0"
        for name, minor in (("fake1", 1), ("fake2", 2)):
            (disk / name).mkdir(parents=True)
            (disk / name / "partition").write_text(f"{minor}\n")
            (disk / name / "dev").write_text(f"240:{minor}\n")
        (disk / "queue").mkdir()
        part = tmp_path / "dev" / "block" / "240:1"
        part.mkdir()
        (part / "partition").write_text("1\n")
        parts = disk_partitions(os.makedev(240, 0), str(tmp_path))
        assert parts == [("fake1", os.makedev(240, 1)), ("fake2", os.makedev(240, 2))]
        assert disk_partitions(os.makedev(240, 1), str(tmp_path)) == []
        assert disk_partitions(os.makedev(240, 9), str(tmp_path)) == []

    def test_mounted_partition(self, tmp_path):
        dev = root_block_device()
        if dev is None:
            pytest.skip("no block device node for / in /dev")
        rdev = os.stat(dev).st_rdev
        parts = [("root", rdev), ("other", os.makedev(240, 77))]
        m = tmp_path / "mounts"
        m.write_text(f"{dev} / ext4 rw 0 0\n")
        assert mounted_partitions(parts, SystemPaths(mounts=str(m))) == ["root"]


class TestProber:
    def test_swap_needs_40k(self):
        page = swap_page(4096, last_page=9)
        assert probe_swap(ProbeArea.from_bytes(page, 40960 - 1)) is None
        sig = probe_swap(ProbeArea.from_bytes(page, 40960))
        assert (sig.type, sig.version, sig.offset, sig.magic) == ("swap", "1", 4086, b"SWAPSPACE2")
        assert probe_swap(ProbeArea.from_bytes(page, 4096), minsz=False) is not None

    @pytest.mark.parametrize("page", [swap_page(4096, version=2), swap_page(4096, last_page=0)])
    def test_swap_rejected_like_blkid(self, page):
        assert probe_swap(ProbeArea.from_bytes(page, 1 << 20)) is None

    def test_big_endian_swap(self):
        sig = probe_swap(ProbeArea.from_bytes(swap_page(4096, order=">"), 1 << 20))
        assert sig.version == "1" and sig.found.header.last_page == 9

    def test_swsuspend(self):
        area = ProbeArea.from_bytes(swap_page(8192, magic=b"S2SUSPEND"), 1 << 20)
        sig = probe_swsuspend(area)
        assert (sig.type, sig.version, sig.offset, sig.magic) == ("swsuspend", "s2suspend", 8182, b"S2SUSPEND")
        assert probe_swap(area) is None

    def test_two_swap_magics_are_both_wiped(self):
        data = bytearray(swap_page(65536, last_page=99))
        data[4086:4096] = b"SWAPSPACE2"
        struct_page = swap_page(4096, last_page=99)
        data[1024:1036] = struct_page[1024:1036]
        sigs = probe_superblocks(ProbeArea.from_bytes(bytes(data), 1 << 20))
        assert [(s.type, s.offset) for s in sigs] == [("swap", 4086), ("swap", 65526)]

    @pytest.mark.parametrize(
        "image,types",
        [
            (xfs_image(), ["xfs"]),
            (btrfs_image(), ["btrfs"]),
            (iso9660_image(), ["iso9660"]),
            (luks_image(1), ["crypto_LUKS"]),
            (luks_image(2, secondary=True), ["crypto_LUKS", "crypto_LUKS"]),
            (dos_image(), []),
            (gpt_image(), []),
        ],
        ids=["xfs", "btrfs", "iso9660", "luks1", "luks2", "dos", "gpt"],
    )
    def test_superblocks(self, image, types):
        assert [s.type for s in probe_superblocks(area_of(image))] == types

    def test_vfat(self):
        sigs = probe_superblocks(area_of(vfat_image()))
        assert sigs and {s.type for s in sigs} == {"vfat"}

    def test_btrfs_needs_1m(self):
        _size, chunks = btrfs_image()
        assert probe_superblocks(area_of((1024 * 1024 - 1, chunks))) == []

    def test_xfs_sanity_checks(self):
        size, chunks = xfs_image()
        sb = bytearray(chunks[0])
        sb[120] = 11  # blocklog no longer matches blocksize
        assert probe_superblocks(area_of((size, {0: bytes(sb)}))) == []

    @pytest.mark.parametrize("kind", ["ext2", "ext3", "ext4"])
    def test_ext(self, tmp_path, kind):
        path = mkfs_ext(tmp_path / kind, kind)
        if path is None:
            pytest.skip("mke2fs is not installed")
        data = path.read_bytes()
        sigs = probe_superblocks(ProbeArea.from_bytes(data))
        assert [(s.type, s.offset, s.magic) for s in sigs] == [(kind, 1080, b"\x53\xef")]

    @pytest.mark.parametrize(
        "image,pttype",
        [(dos_image(), "dos"), (gpt_image(), "gpt"), (gpt_image(valid=False), "PMBR"),
         (vfat_image(), None), (xfs_image(), None), ((1 << 20, {}), None)],
        ids=["dos", "gpt", "pmbr", "vfat", "xfs", "zeros"],
    )
    def test_partition_tables(self, image, pttype):
        assert probe_partition_table(area_of(image)) == pttype

    def test_dos_needs_sane_boot_indicators(self):
        size, chunks = dos_image()
        mbr = bytearray(chunks[0])
        mbr[446] = 0x42
        assert probe_partition_table(area_of((size, {0: bytes(mbr)}))) is None

    def test_reads_past_the_end_are_none(self, tmp_path):
        path = write_image(tmp_path / "x", (5000, {0: b"abc"}))
        fd = os.open(path, os.O_RDONLY)
        try:
            area = ProbeArea.from_fd(fd, 1000, 4000)
            assert area.read(3999, 1) == b"\0" and area.read(3999, 2) is None
            assert ProbeArea.from_fd(fd, 0, 5000).read(0, 3) == b"abc"
            assert area.zeroed(0, 10).read(0, 4) == bytes(4)
        finally:
            os.close(fd)

    def test_blkid_label(self):
        assert blkid_label(b"swap  \0\0xx".ljust(16, b"\0")) == b"swap"
        assert blkid_label(b"   ".ljust(16, b"\0")) is None
        assert blkid_label(b"0123456789abcdef") == b"0123456789abcdef"

