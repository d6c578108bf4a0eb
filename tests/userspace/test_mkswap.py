"""ghostswap mkswap: what it writes, what it prints, what it refuses, and that a refusal
leaves the target exactly as it was. util-linux cross-checks live in tests/oracle/."""

from __future__ import annotations

import fcntl
import os
import stat
import struct
from pathlib import Path

import pytest

from ghostswap_cli.codec.swap_header import (
    ByteOrder,
    HeaderKind,
    classify,
    parse_swap_header,
    parse_uuid,
)
from ghostswap_cli.errors import ToolError
from ghostswap_cli.userspace.common import BufferReport, SystemPaths, system_page_size
from ghostswap_cli.userspace.mkswap import MkswapCtl, check_blocks, check_extents, mkswap

from .images import (
    UUID_A,
    UUID_B,
    btrfs_image,
    dos_image,
    gpt_image,
    iso9660_image,
    luks_image,
    mkfs_ext,
    snapshot,
    swap_page,
    vfat_image,
    write_image,
    xfs_image,
)

PS = system_page_size()
pytestmark = pytest.mark.skipif(PS != 4096, reason="expected texts assume 4 KiB pages")


def make(path: Path, size: int, *, fill: bytes | None = b"\0", mode: int = 0o600) -> Path:
    """A file of ``size`` bytes, written in full (``fill=None``: sparse)."""
    write_image(path, (size, {}), fill=fill)
    path.chmod(mode)
    return path


def ok(run_cli, *args):
    r = run_cli("mkswap", *args)
    assert r.exit_code == 0, r.stderr
    return r


class TestWrites:
    def test_basic(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960, fill=b"\xab")
        r = ok(run_cli, "-U", UUID_A, "-L", "hello", f)
        assert r.stdout == (
            "Setting up swapspace version 1, size = 36 KiB (36864 bytes)\n"
            f"LABEL=hello, UUID={UUID_A}\n"
        )
        assert r.stderr == ""
        data = f.read_bytes()
        assert data[:4096] == swap_page(4096, last_page=9, label=b"hello", uuid=parse_uuid(UUID_A))
        assert data[4096:] == b"\xab" * (40960 - 4096)  # only page 0 is written

    def test_keeps_length_not_a_page_multiple(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 50000, fill=b"\x5a")
        r = ok(run_cli, "-U", UUID_A, f)
        assert r.stdout.startswith("Setting up swapspace version 1, size = 44 KiB (45056 bytes)\n")
        assert r.stdout.endswith(f"no label, UUID={UUID_A}\n")
        assert f.stat().st_size == 50000
        assert parse_swap_header(f.read_bytes(), 4096).last_page == 11
        assert f.read_bytes()[4096:] == b"\x5a" * (50000 - 4096)

    def test_sparse_gib_file_stays_sparse(self, run_cli, tmp_path):
        f = make(tmp_path / "big", 3 * 1024**3 + 5, fill=None)
        r = ok(run_cli, "-U", UUID_A, f)
        assert "size = 3 GiB (3221221376 bytes)" in r.stdout
        assert f.stat().st_size == 3 * 1024**3 + 5
        assert f.stat().st_blocks * 512 <= 64 * 1024
        assert "contains holes or other unsupported extents" in r.stderr

    def test_label_truncated(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960)
        r = ok(run_cli, "-U", UUID_A, "-L", "abcdefghijklmnopqrstu", f)
        assert r.stderr == "mkswap: Label was truncated.\n"
        assert f"LABEL=abcdefghijklmno, UUID={UUID_A}" in r.stdout
        assert f.read_bytes()[1052:1068] == b"abcdefghijklmno\0"

    def test_empty_label(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960)
        assert f"LABEL=, UUID={UUID_A}\n" in ok(run_cli, "-U", UUID_A, "-L", "", f).stdout

    @pytest.mark.parametrize("spec", ["clear", "random", "time"])
    def test_uuid_keywords(self, run_cli, tmp_path, spec):
        f = make(tmp_path / "swap", 40960)
        r = ok(run_cli, "-U", spec, f)
        raw = f.read_bytes()[1036:1052]
        line = r.stdout.splitlines()[1]
        assert line == f"no label, UUID={str(__import__('uuid').UUID(bytes=raw))}"
        if spec == "clear":
            assert raw == bytes(16)
        else:
            assert any(raw) and __import__("uuid").UUID(bytes=raw).version == (4 if spec == "random" else 1)

    def test_default_uuid_is_random(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960)
        ok(run_cli, f)
        first = f.read_bytes()[1036:1052]
        ok(run_cli, f)
        assert first != f.read_bytes()[1036:1052] and any(first)

    @pytest.mark.parametrize("order", ["little", "big", "native"])
    def test_endianness(self, run_cli, tmp_path, order):
        f = make(tmp_path / "swap", 1 << 20)
        ok(run_cli, "-e", order, "-U", UUID_A, f)
        found, cls = classify(f.read_bytes()[:4096], 1 << 20)
        expected = ByteOrder(order if order != "native" else __import__("sys").byteorder)
        assert found.header.byteorder is expected and found.header.last_page == 255
        assert cls.kind is HeaderKind.FILE

    @pytest.mark.parametrize("page_size", [8192, 16384, 65536])
    def test_user_page_size(self, run_cli, tmp_path, page_size):
        f = make(tmp_path / "swap", 1 << 20)
        r = ok(run_cli, "-p", str(page_size), "-U", UUID_A, f)
        assert r.stderr == f"mkswap: Using user-specified page size {page_size}, instead of the system value 4096\n"
        h = parse_swap_header(f.read_bytes(), page_size)
        assert h.last_page == (1 << 20) // page_size - 1

    def test_page_size_zero_means_the_system_value(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960)
        assert ok(run_cli, "-p", "0", f).stderr == ""

    def test_size_argument_in_kib_blocks(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 1 << 20)
        r = ok(run_cli, "-p", "16384", "-U", UUID_A, f, "200")
        # 200 1-KiB blocks / (16384 / 1024) = 12 pages
        assert "size = 176 KiB (180224 bytes)" in r.stdout
        assert parse_swap_header(f.read_bytes(), 16384).last_page == 11

    def test_force_size_larger_than_device(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960)
        r = ok(run_cli, "-f", "-U", UUID_A, f, "65536")
        assert "size = 64 MiB (67104768 bytes)" in r.stdout
        assert f.stat().st_size == 40960

    def test_truncating_to_uint32_pages(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960)
        r = ok(run_cli, "-f", "-U", UUID_A, f, str(1 << 34))
        assert r.stderr == "mkswap: warning: truncating swap area to 17179869180 KiB\n"
        assert parse_swap_header(f.read_bytes(), 4096).last_page == 0xFFFFFFFE

    def test_quiet(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 81920, mode=0o644, fill=None)
        ok(run_cli, f)
        r = ok(run_cli, "-q", "-p", "8192", "-L", "x" * 30, f, "80")
        assert (r.stdout, r.stderr) == ("", "")

    def test_old_signature_wiped_with_warning(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 1 << 20)
        ok(run_cli, "-p", "65536", f)
        r = ok(run_cli, "-U", UUID_A, f)
        assert r.stderr == f"mkswap: {f}: warning: wiping old swap signature.\n"
        data = f.read_bytes()
        assert data[65526:65536] == bytes(10)
        assert data[4086:4096] == b"SWAPSPACE2"

    def test_insecure_permissions(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960, mode=0o644)
        r = ok(run_cli, f)
        assert r.stderr == f"mkswap: {f}: insecure permissions 0644, fix with: chmod 0600 {f}\n"
        assert stat.S_IMODE(f.stat().st_mode) == 0o644  # a warning, not a fix

    @pytest.mark.skipif(os.getuid() != 0, reason="the owner warning is given to root only")
    def test_insecure_owner(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960)
        os.chown(f, 65534, 65534)
        r = ok(run_cli, f)
        assert r.stderr == f"mkswap: {f}: insecure file owner 65534, fix with: chown 0:0 {f}\n"

    def test_holes(self, run_cli, tmp_path):
        f = tmp_path / "holey"
        write_image(f, (1 << 20, {8192: b"x" * 4096}))
        f.chmod(0o600)
        r = ok(run_cli, f)
        assert r.stderr == (
            "\n"
            f"mkswap: {f} contains holes or other unsupported extents.\n"
            "        This swap file can be rejected by kernel on swap activation!\n"
            "        Use --verbose for more details.\n"
            "\n"
        )
        r = ok(run_cli, "--verbose", f)
        assert r.stderr == (
            "\n"
            f"mkswap: {f} contains holes or other unsupported extents.\n"
            "        This swap file can be rejected by kernel on swap activation!\n"
            "\n"
            " - hole detected at offset 4096\n"
            " - hole detected at offset 12288\n"
            "\n"
            f"mkswap: {f}: warning: wiping old swap signature.\n"
        )

    def test_check_on_a_file_warns(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960)
        r = ok(run_cli, "-c", f)
        assert r.stderr == f"mkswap: warning: checking bad blocks from swap file is not supported: {f}\n"

    def test_dos_partition_table_keeps_bootbits(self, run_cli, tmp_path):
        f = write_image(tmp_path / "disk", dos_image(), fill=b"\0")
        f.chmod(0o600)
        mbr = f.read_bytes()[:1024]
        r = ok(run_cli, "-U", UUID_A, f)
        assert r.stderr == (
            f"mkswap: {f}: warning: don't erase bootbits sectors\n"
            "        (dos partition table detected). Use -f to force.\n"
        )
        assert f.read_bytes()[:1024] == mbr
        ok(run_cli, "-f", "-U", UUID_A, f)
        assert f.read_bytes()[:1024] == bytes(1024)

    def test_gpt_detected(self, run_cli, tmp_path):
        f = write_image(tmp_path / "disk", gpt_image(), fill=b"\0")
        f.chmod(0o600)
        r = ok(run_cli, f)
        assert "(gpt partition table detected). Use -f to force." in r.stderr

    def test_offset(self, run_cli, tmp_path):
        f = make(tmp_path / "image", 1 << 20, fill=b"\xee")
        r = ok(run_cli, "-o", "65536", "-U", UUID_A, f)
        assert "size = 956 KiB (978944 bytes)" in r.stdout  # (1 MiB - 64 KiB) / 4 KiB - 1 pages
        data = f.read_bytes()
        assert data[:65536] == b"\xee" * 65536  # nothing before the area is touched
        h = parse_swap_header(data[65536:], 4096)
        assert h.last_page == 239 and h.bootbits == bytes(1024)
        assert data[65536 + 4096 :] == b"\xee" * ((1 << 20) - 65536 - 4096)


class TestFile:
    def test_creates_allocated_0600(self, run_cli, tmp_path):
        f = tmp_path / "new.swap"
        r = ok(run_cli, "--file", "--size", "1M", "-U", UUID_A, f)
        assert r.stdout == f"Setting up swapspace version 1, size = 1020 KiB (1044480 bytes)\nno label, UUID={UUID_A}\n"
        assert r.stderr == ""
        st = f.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 1 << 20
        assert st.st_blocks * 512 >= 1 << 20

    def test_existing_file_is_resized_and_fixed(self, run_cli, tmp_path):
        # util-linux 2.40-2.42 fails here ("cannot set permissions on swap file ...: Success");
        # ghostswap behaves as the fixed version (commit 6d87ff515)
        f = make(tmp_path / "old.swap", 4 << 20, mode=0o644)
        r = ok(run_cli, "-F", "-s", "2MiB", "-U", UUID_A, f)
        assert "size = 2 MiB (2093056 bytes)" in r.stdout
        st = f.stat()
        assert st.st_size == 2 << 20 and stat.S_IMODE(st.st_mode) == 0o600
        r = ok(run_cli, "-F", "-s", "2MiB", f)
        assert r.stderr == f"mkswap: {f}: warning: wiping old swap signature.\n"

    def test_not_a_regular_file(self, run_cli, tmp_path):
        r = run_cli("mkswap", "-F", "-s", "1M", tmp_path)
        assert (r.exit_code, r.stderr) == (1, f"mkswap: cannot create swap file {tmp_path}: node isn't regular file\n")

    def test_failed_allocation_removes_the_new_file(self, run_cli, tmp_path):
        f = tmp_path / "huge.swap"
        r = run_cli("mkswap", "-F", "-s", "1E", "-q", f)
        assert r.exit_code == 1
        assert r.stderr.startswith(f"mkswap: couldn't allocate swap file {f}: ")
        assert not f.exists()

    def test_existing_file_without_size_is_made_0600(self, run_cli, tmp_path):
        f = make(tmp_path / "old.swap", 40960, mode=0o640)
        r = ok(run_cli, "--file", f)
        assert r.stderr == "" and stat.S_IMODE(f.stat().st_mode) == 0o600 and f.stat().st_size == 40960

    def test_size_without_file_is_ignored(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960)
        ok(run_cli, "-s", "1M", f)
        assert f.stat().st_size == 40960


class TestGhost:
    def test_new_ghost(self, run_cli, tmp_path):
        g = tmp_path / "ghost.swap"
        r = ok(run_cli, "--ghost", "-s", "64M", "-L", "ghost", "-U", UUID_A, g)
        assert r.stdout == f"Setting up swapspace version 1, size = 64 MiB (67104768 bytes)\nLABEL=ghost, UUID={UUID_A}\n"
        assert r.stderr == ""
        st = g.stat()
        assert st.st_size == 4096 and stat.S_IMODE(st.st_mode) == 0o600 and st.st_blocks * 512 >= 4096
        assert g.read_bytes() == swap_page(4096, last_page=16383, label=b"ghost", uuid=parse_uuid(UUID_A))
        _found, cls = classify(g.read_bytes(), 4096)
        assert cls.kind is HeaderKind.GHOST

    def test_size_positional(self, run_cli, tmp_path):
        g = tmp_path / "ghost.swap"
        ok(run_cli, "--ghost", "-U", UUID_A, g, "1048576")
        assert parse_swap_header(g.read_bytes(), 4096).last_page == 262143

    def test_existing_one_page_file_is_reused(self, run_cli, tmp_path):
        g = make(tmp_path / "ghost.swap", 4096, fill=b"\x77", mode=0o644)
        r = ok(run_cli, "--ghost", "-s", "1G", "-U", UUID_A, g)
        assert r.stderr == f"mkswap: {g}: insecure permissions 0644, fix with: chmod 0600 {g}\n"
        assert g.read_bytes() == swap_page(4096, last_page=262143, uuid=parse_uuid(UUID_A))

    def test_short_file_grows_to_one_page(self, run_cli, tmp_path):
        g = make(tmp_path / "ghost.swap", 0)
        ok(run_cli, "--ghost", "-s", "1G", g)
        assert g.stat().st_size == 4096

    def test_longer_file_needs_force(self, run_cli, tmp_path):
        g = make(tmp_path / "ghost.swap", 1 << 20, fill=b"\x01")
        before = snapshot(g)
        r = run_cli("mkswap", "--ghost", "-s", "1G", g)
        assert (r.exit_code, r.stdout) == (1, "")
        assert r.stderr == f"mkswap: error: {g} is longer than one page; use -f to truncate it to a ghost swapfile\n"
        assert snapshot(g) == before
        ok(run_cli, "-f", "--ghost", "-s", "1G", g)
        assert g.stat().st_size == 4096

    def test_needs_a_size(self, run_cli, tmp_path):
        g = tmp_path / "ghost.swap"
        r = run_cli("mkswap", "--ghost", g)
        assert (r.exit_code, r.stderr) == (1, "mkswap: error: --ghost needs the size of the area (--size or SIZE)\n")
        assert not g.exists()

    def test_too_small(self, run_cli, tmp_path):
        g = tmp_path / "ghost.swap"
        r = run_cli("mkswap", "--ghost", "-s", "36K", g)
        assert (r.exit_code, r.stderr) == (1, "mkswap: error: swap area needs to be at least 40 KiB\n")
        assert not g.exists()

    def test_offset_is_refused(self, run_cli, tmp_path):
        r = run_cli("mkswap", "--ghost", "-s", "1M", "-o", "4096", tmp_path / "g")
        assert (r.exit_code, r.stderr) == (1, "mkswap: mutually exclusive arguments: --offset --ghost\n")

    def test_ghost_page_size(self, run_cli, tmp_path):
        g = tmp_path / "ghost64k.swap"
        ok(run_cli, "--ghost", "-p", "65536", "-s", "1G", g)
        assert g.stat().st_size == 65536
        assert parse_swap_header(g.read_bytes(), 65536).last_page == 16383


def _state(target: Path):
    if target.is_dir():
        return sorted(p.name for p in target.iterdir()), target.stat().st_mtime_ns
    return snapshot(target) if target.exists() else None


def _existing_error(run_cli, target: Path, args: list[str], stderr: str, status: int = 1) -> None:
    before = _state(target)
    r = run_cli("mkswap", *args)
    assert (r.exit_code, r.stdout, r.stderr) == (status, "", stderr)
    assert _state(target) == before


class TestErrors:
    """Each error: util-linux's words, util-linux's status, the target unchanged."""

    @pytest.mark.parametrize(
        "args,stderr",
        [
            (["-U", "bad"], "mkswap: error: parsing UUID failed\n"),
            (["-p", "1000"], "mkswap: Bad user-specified page size 1000\n"),
            (["-p", "4294967295"], "mkswap: Bad user-specified page size 4294967295\n"),
            (["-p", "abc"], "mkswap: parsing page size failed: 'abc'\n"),
            (["-p", "99999999999"], "mkswap: parsing page size failed: '99999999999': Numerical result out of range\n"),
            (["-v", "0"], "mkswap: swapspace version 0 is not supported\n"),
            (["-v", "abc"], "mkswap: parsing version number failed: 'abc'\n"),
            (["-e", "middle"], "mkswap: invalid endianness middle is not supported\n"),
            (["-o", "x"], "mkswap: Invalid offset: 'x'\n"),
            (["-o", "81921"], "mkswap: offset larger than file size\n"),
            (["-s", "abc", "-F"], "mkswap: Invalid size: 'abc': Invalid argument\n"),
            (["--lock=sometimes"], "mkswap: unsupported lock mode: sometimes\n"),
            (["-c", "-q"], "mkswap: mutually exclusive arguments: --check --quiet\n"),
            (["-p", "8192"], "mkswap: Using user-specified page size 8192, instead of the system value 4096\n"
                             "mkswap: error: swap area needs to be at least 80 KiB\n"),
        ],
    )
    def test_option_errors(self, run_cli, tmp_path, args, stderr):
        f = make(tmp_path / "swap", 40960 if "-p" in args and "8192" in args else 81920, fill=b"\x42")
        _existing_error(run_cli, f, [*args, str(f)], stderr)

    def test_too_small(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40959, fill=b"\x42")
        _existing_error(run_cli, f, [str(f)], "mkswap: error: swap area needs to be at least 40 KiB\n")

    def test_size_larger_than_device(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960, fill=b"\x42")
        _existing_error(run_cli, f, [str(f), "100"], "mkswap: error: size 100 KiB is larger than device size 40 KiB\n")

    def test_invalid_block_count(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960, fill=b"\x42")
        _existing_error(run_cli, f, [str(f), "12x"], "mkswap: invalid block count argument: '12x'\n")

    def test_missing_file(self, run_cli, tmp_path):
        f = tmp_path / "missing"
        _existing_error(run_cli, f, [str(f)], f"mkswap: cannot open {f}: No such file or directory\n")

    def test_directory(self, run_cli, tmp_path):
        _existing_error(run_cli, tmp_path, [str(tmp_path)], f"mkswap: cannot open {tmp_path}: Is a directory\n")

    def test_character_device(self, run_cli):
        r = run_cli("mkswap", "/dev/null")
        assert (r.exit_code, r.stderr) == (1, "mkswap: cannot determine size of /dev/null: Block device required\n")

    def test_too_many_arguments(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960, fill=b"\x42")
        _existing_error(run_cli, f, [str(f), "40", "extra"],
                        "mkswap: only one device argument is currently supported\n"
                        "Try 'ghostswap mkswap --help' for more information.\n")

    def test_no_device(self, run_cli):
        r = run_cli("mkswap", "-L", "x")
        assert (r.exit_code, r.stderr) == (1, "mkswap: error: Nowhere to set up swap on?\n"
                                              "Try 'ghostswap mkswap --help' for more information.\n")

    @pytest.mark.parametrize(
        "args,stderr",
        [
            (["--bogus"], "mkswap: unrecognized option '--bogus'\n"),
            (["-z"], "mkswap: invalid option -- 'z'\n"),
            (["-L"], "mkswap: option requires an argument -- 'L'\n"),
            (["--label"], "mkswap: option '--label' requires an argument\n"),
            (["--force=yes"], "mkswap: option '--force' doesn't allow an argument\n"),
        ],
    )
    def test_getopt_errors(self, run_cli, args, stderr):
        r = run_cli("mkswap", *args)
        assert r.exit_code == 1
        assert r.stderr == stderr + "Try 'ghostswap mkswap --help' for more information.\n"

    def test_shorter_than_a_page_is_not_extended(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 2000, fill=b"\x42")
        _existing_error(run_cli, f, ["-f", str(f), "40"],
                        f"mkswap: error: {f} is shorter than one page (4096 bytes); will not make swapspace\n")

    def test_mounted_file_from_injected_mounts(self, tmp_path):
        f = make(tmp_path / "img", 1 << 20, fill=b"\x42")
        mounts = tmp_path / "mounts"
        mounts.write_text(f"{f} /mnt/img ext4 rw 0 0\n")
        before = snapshot(f)
        report = BufferReport("mkswap")
        with pytest.raises(ToolError) as e:
            mkswap(MkswapCtl(args=(str(f),), force=True), report, paths=SystemPaths(mounts=str(mounts)))
        assert (str(e.value), e.value.exit_status) == (f"error: {f} is mounted; will not make swapspace", 1)
        assert snapshot(f) == before and report.stdout == ""

    def test_mounted_block_device(self, run_cli):
        # /proc/self/mounts names a mounted block device: refused before any open for writing
        dev = _mounted_block_device()
        if dev is None:
            pytest.skip("no mounted block device to try")
        st = os.stat(dev)
        r = run_cli("mkswap", "-f", dev)
        assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"mkswap: error: {dev} is mounted; will not make swapspace\n")
        assert os.stat(dev).st_mtime_ns == st.st_mtime_ns

    def test_partitioned_disk(self, tmp_path):
        node, sysfs = _fake_partitioned_disk(tmp_path)
        report = BufferReport("mkswap")
        paths = SystemPaths(mounts=str(tmp_path / "no-mounts"), sysfs=str(sysfs))
        with pytest.raises(ToolError) as e:
            mkswap(MkswapCtl(args=(str(node),)), report, paths=paths)
        assert str(e.value) == f"error: {node} has partitions; will not make swapspace (use -f to force)"
        assert report.stdout == report.stderr == ""

    @pytest.mark.parametrize(
        "name,image,fstype",
        [("xfs", xfs_image(), "xfs"), ("vfat", vfat_image(), "vfat"), ("iso", iso9660_image(), "iso9660"),
         ("luks", luks_image(2), "crypto_LUKS"), ("btrfs", btrfs_image(), "btrfs")],
    )
    def test_file_system_needs_force(self, run_cli, tmp_path, name, image, fstype):
        f = write_image(tmp_path / name, image, fill=b"\0")
        f.chmod(0o600)
        _existing_error(run_cli, f, ["-U", UUID_A, str(f)],
                        f"mkswap: error: {f} contains an existing {fstype} signature; will not make swapspace (use -f to force)\n")
        r = ok(run_cli, "-f", "-U", UUID_A, f)
        assert parse_swap_header(f.read_bytes(), 4096).sws_uuid == parse_uuid(UUID_A)
        assert r.stdout.startswith("Setting up swapspace version 1")

    def test_ext4_wiped_with_force(self, run_cli, tmp_path):
        f = mkfs_ext(tmp_path / "ext4.img", "ext4")
        if f is None:
            pytest.skip("mke2fs is not installed")
        f.chmod(0o600)
        _existing_error(run_cli, f, [str(f)],
                        f"mkswap: error: {f} contains an existing ext4 signature; will not make swapspace (use -f to force)\n")
        r = ok(run_cli, "-f", "-U", UUID_B, f)
        assert f"mkswap: {f}: warning: wiping old ext4 signature.\n" in r.stderr
        assert parse_swap_header(f.read_bytes(), 4096).last_page == 2047


def _mounted_block_device() -> str | None:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        source = line.split()[0]
        if source.startswith("/dev/"):
            try:
                if stat.S_ISBLK(os.stat(source).st_mode):
                    return source
            except OSError:
                continue
    return None


def _unused_block_major() -> int:
    text = Path("/proc/devices").read_text().split("Block devices:")[-1]
    used = {int(line.split()[0]) for line in text.splitlines() if line.strip()}
    return next(m for m in range(240, 255) if m not in used)


def _fake_partitioned_disk(tmp_path: Path) -> tuple[Path, Path]:
    """A block node for a major no driver owns (opening it fails with ENXIO, so nothing can
    ever be written through it) and a sysfs tree that gives it two partitions."""
    if os.getuid() != 0:
        pytest.skip("mknod needs root")
    major = _unused_block_major()
    node = tmp_path / "fakedisk"
    os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(major, 0))
    with pytest.raises(OSError):
        os.close(os.open(node, os.O_RDONLY))
    disk = tmp_path / "sys" / "dev" / "block" / f"{major}:0"
    for minor in (1, 2):
        (disk / f"fakedisk{minor}").mkdir(parents=True)
        (disk / f"fakedisk{minor}" / "partition").write_text(f"{minor}\n")
        (disk / f"fakedisk{minor}" / "dev").write_text(f"{major}:{minor}\n")
    return node, tmp_path / "sys"


class TestLock:
    def test_nonblock_fails_when_locked(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 40960, fill=b"\x42")
        before = snapshot(f)
        fd = os.open(f, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            r = run_cli("mkswap", "--lock=nonblock", f)
            assert (r.exit_code, r.stderr) == (1, f"mkswap: {f}: device already locked\n")
            assert snapshot(f) == before
        finally:
            os.close(fd)

    @pytest.mark.parametrize("lock", ["--lock", "--lock=yes", "--lock=no", "--lock=nonblock"])
    def test_modes(self, run_cli, tmp_path, lock):
        f = make(tmp_path / "swap", 40960)
        ok(run_cli, lock, f)

    def test_environment(self, run_cli, tmp_path, monkeypatch):
        f = make(tmp_path / "swap", 40960)
        monkeypatch.setenv("LOCK_BLOCK_DEVICE", "bogus")
        r = run_cli("mkswap", f)
        assert (r.exit_code, r.stderr) == (1, "mkswap: unsupported lock mode: bogus\n")


class TestHelpers:
    def test_check_blocks_marks_short_reads(self, tmp_path):
        f = make(tmp_path / "dev", 4096 * 5 + 100)
        fd = os.open(f, os.O_RDONLY)
        try:
            report = BufferReport("mkswap")
            assert check_blocks(fd, 8, 4096, report, quiet=False) == [5, 6, 7]
            assert report.stdout == "3 bad pages\n"
            report = BufferReport("mkswap")
            assert check_blocks(fd, 6, 4096, report, quiet=False) == [5]
            assert report.stdout == "1 bad page\n"
            with pytest.raises(ToolError, match="too many bad pages: 125"):
                check_blocks(fd, 200, 2048, BufferReport("mkswap"), quiet=True)
        finally:
            os.close(fd)

    def test_check_extents_on_an_allocated_file(self, tmp_path):
        f = make(tmp_path / "full", 65536, fill=b"\x01")
        fd = os.open(f, os.O_RDONLY)
        try:
            report = BufferReport("mkswap")
            assert check_extents(fd, 65536, str(f), True, report) == 0
            assert report.stderr == ""
        finally:
            os.close(fd)

    def test_header_fields_by_struct(self, run_cli, tmp_path):
        f = make(tmp_path / "swap", 1 << 20)
        ok(run_cli, "-e", "big", "-U", UUID_A, "-L", "be", f)
        assert struct.unpack_from(">III", f.read_bytes(), 1024) == (1, 255, 0)


def test_subprocess(run_ghostswap, tmp_path):
    f = make(tmp_path / "swap", 40960)
    r = run_ghostswap("mkswap", "-U", UUID_A, "-L", "sub", f)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Setting up swapspace version 1, size = 36 KiB (36864 bytes)\nLABEL=sub, UUID={UUID_A}\n".encode()
    assert r.stderr == b""
