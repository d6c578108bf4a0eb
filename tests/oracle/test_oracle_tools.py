"""Our files through util-linux's eyes, and util-linux's files through ours: blkid -p,
swaplabel and file(1) read what ghostswap mkswap writes; ghostswap probe and swaplabel read
what util-linux mkswap writes with the same fields blkid reports; our prober finds the same
file systems and partition tables as blkid."""

from __future__ import annotations

from pathlib import Path

import pytest
from userspace.images import (
    UUID_A,
    UUID_B,
    UUID_C,
    btrfs_image,
    dos_image,
    gpt_image,
    iso9660_image,
    luks_image,
    mkfs_ext,
    run_tool,
    swap_page,
    tool,
    vfat_image,
    write_image,
    xfs_image,
)

from ghostswap_cli.userspace.common import ProbeArea, probe_partition_table, probe_superblocks

MKSWAP, BLKID, SWAPLABEL, FILE = tool("mkswap"), tool("blkid"), tool("swaplabel"), tool("file")
needs_blkid = pytest.mark.skipif(BLKID is None, reason="util-linux blkid is not installed")
needs_mkswap = pytest.mark.skipif(MKSWAP is None, reason="util-linux mkswap is not installed")
needs_swaplabel = pytest.mark.skipif(SWAPLABEL is None, reason="util-linux swaplabel is not installed")
needs_file = pytest.mark.skipif(FILE is None, reason="file(1) is not installed")


def ours(run_cli, *args):
    r = run_cli("mkswap", *args)
    assert r.exit_code == 0, r.stderr
    return r


def blank(path: Path, size: int) -> Path:
    write_image(path, (size, {}), fill=b"\0")
    path.chmod(0o600)
    return path


OUR_FILES = [
    ("plain", 40960, ["-U", UUID_A, "-L", "plain"]),
    ("no-label", 1 << 20, ["-U", UUID_B]),
    ("clear-uuid", 1 << 20, ["-U", "clear", "-L", "nouuid"]),
    ("p64k", 1 << 20, ["-p", "65536", "-U", UUID_C, "-L", "p64k"]),
    ("big-endian", 1 << 20, ["-e", "big", "-U", UUID_A, "-L", "be"]),
    ("p16k-big", 2 << 20, ["-p", "16384", "-e", "big", "-U", UUID_B]),
]


@needs_blkid
@pytest.mark.parametrize("case", OUR_FILES, ids=[c[0] for c in OUR_FILES])
def test_blkid_reads_our_files(case, tmp_path, run_cli):
    _id, size, args = case
    f = blank(tmp_path / "s", size)
    ours(run_cli, *args, f)
    r = run_tool(BLKID, "-p", "-o", "export", f)
    assert r.returncode == 0, r.stderr
    values = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert (values["TYPE"], values["VERSION"], values["USAGE"]) == ("swap", "1", "other")
    label = args[args.index("-L") + 1] if "-L" in args else None
    uuid = args[args.index("-U") + 1]
    assert values.get("LABEL") == label
    assert values.get("UUID") == (None if uuid == "clear" else uuid)
    # and our probe says the same, blkid's keys first
    full = run_tool(BLKID, "-p", f).stdout.rstrip("\n")
    mine = run_cli("probe", f).stdout
    assert mine.startswith(full + " PAGESIZE=")


@needs_blkid
def test_blkid_skips_ghosts_probe_does_not(tmp_path, run_cli):
    g = tmp_path / "ghost"
    ours(run_cli, "--ghost", "-s", "64M", "-L", "ghost", "-U", UUID_A, g)
    r = run_tool(BLKID, "-p", g)
    assert (r.returncode, r.stdout) == (2, "")
    r = run_cli("probe", g)
    assert r.exit_code == 0
    assert r.stdout == (
        f'{g}: LABEL="ghost" UUID="{UUID_A}" VERSION="1" TYPE="swap" USAGE="other" PAGESIZE="4096" '
        'ENDIANNESS="little" PAGES="16384" BYTES="67108864" BADPAGES="0" KIND="ghost"\n'
    )


UL_FILES = [
    ("label", 40960, ["-U", UUID_A, "-L", "ul"], None),
    ("no-label", 1 << 20, ["-U", UUID_B], None),
    ("clear", 1 << 20, ["-U", "clear"], None),
    ("long-label", 1 << 20, ["-U", UUID_C, "-L", "0123456789abcdefghij"], None),
    ("p8k", 1 << 20, ["-p", "8192", "-U", UUID_A, "-L", "p8k"], None),
    ("p64k", 2 << 20, ["-p", "65536", "-U", UUID_B, "-L", "p64k"], None),
    ("blocks", 4 << 20, ["-U", UUID_C, "-L", "blk"], ["400"]),
]


@needs_blkid
@needs_mkswap
@pytest.mark.parametrize("case", UL_FILES, ids=[c[0] for c in UL_FILES])
def test_probe_reads_util_linux_files_as_blkid(case, tmp_path, run_cli):
    _id, size, args, after = case
    f = blank(tmp_path / "s", size)
    assert run_tool(MKSWAP, *args, f, *(after or [])).returncode == 0
    for fmt in ("full", "export", "value"):
        expected = run_tool(BLKID, "-p", "-o", fmt, f).stdout
        got = run_cli("probe", "-o", fmt, f).stdout
        if fmt == "full":
            assert got.startswith(expected.rstrip("\n") + " PAGESIZE=")
        else:
            assert got.startswith(expected)


@needs_blkid
@pytest.mark.parametrize(
    "name,page,size",
    [
        ("big-endian", swap_page(4096, order=">", last_page=255, label=b"be"), 1 << 20),
        ("v0", swap_page(4096, magic=b"SWAP-SPACE"), 1 << 20),
        ("s1suspend", swap_page(4096, magic=b"S1SUSPEND", label=b"hib"), 1 << 20),
        ("s2suspend-8k", swap_page(8192, magic=b"S2SUSPEND"), 1 << 20),
        ("ulsuspend", swap_page(4096, magic=b"ULSUSPEND", uuid=b"\x11" * 16), 1 << 20),
        ("linhib", swap_page(16384, magic=b"LINHIB0001"), 1 << 20),
        ("tuxonice", swap_page(4096, bootbits=b"\xed\xc3\x02\xe9\x98\x56\xe5\x0c" + bytes(1016)), 1 << 20),
        ("dirty-padding", swap_page(4096, label=b"hidden", padding=bytes(132) + b"\1" + bytes(335)), 1 << 20),
        ("label-trailing-space", swap_page(4096, label=b"trail   "), 1 << 20),
        ("label-16", swap_page(4096, label=b"0123456789abcdef"), 1 << 20),
    ],
)
def test_probe_matches_blkid_on_crafted_headers(name, page, size, tmp_path, run_cli):
    f = tmp_path / name
    write_image(f, (size, {0: page}), fill=b"\0")
    expected = run_tool(BLKID, "-p", f)
    got = run_cli("probe", f)
    assert expected.returncode == got.exit_code == 0
    assert got.stdout.startswith(expected.stdout.rstrip("\n") + " PAGESIZE=")


@needs_blkid
@pytest.mark.parametrize(
    "page",
    [swap_page(4096, version=2), swap_page(4096, last_page=0), bytes(4096)],
    ids=["version-2", "last-page-0", "zeros"],
)
def test_not_identified_in_both(page, tmp_path, run_cli):
    f = tmp_path / "x"
    write_image(f, (1 << 20, {0: page}), fill=b"\0")
    assert run_tool(BLKID, "-p", f).returncode == 2
    r = run_cli("probe", f)
    assert r.exit_code == 2 and "TYPE=" not in r.stdout


@needs_swaplabel
def test_util_linux_swaplabel_reads_and_changes_our_files(tmp_path, run_cli):
    f = blank(tmp_path / "s", 1 << 20)
    ours(run_cli, "-U", UUID_A, "-L", "ours", f)
    r = run_tool(SWAPLABEL, f)
    assert (r.returncode, r.stdout) == (0, f"LABEL: ours\nUUID:  {UUID_A}\n")
    assert run_tool(SWAPLABEL, "-L", "theirs", "-U", UUID_B, f).returncode == 0
    assert run_cli("swaplabel", f).stdout == f"LABEL: theirs\nUUID:  {UUID_B}\n"
    assert f'LABEL="theirs" UUID="{UUID_B}"' in run_cli("probe", f).stdout


@needs_swaplabel
@needs_mkswap
@pytest.mark.parametrize("args", [["-L", "x", "-U", UUID_C], ["-U", "clear"], ["-L", "abcdefghijklmnopqrst"]])
def test_our_swaplabel_as_util_linux(args, tmp_path, run_cli):
    a, b = blank(tmp_path / "a", 1 << 20), blank(tmp_path / "b", 1 << 20)
    for f in (a, b):
        assert run_tool(MKSWAP, "-U", UUID_A, "-L", "start", f).returncode == 0
    ul = run_tool(SWAPLABEL, *args, a)
    mine = run_cli("swaplabel", *args, b)
    assert (mine.exit_code, mine.stdout, mine.stderr) == (ul.returncode, ul.stdout, ul.stderr)
    assert a.read_bytes() == b.read_bytes()
    ul = run_tool(SWAPLABEL, a)
    mine = run_cli("swaplabel", b)
    assert (mine.exit_code, mine.stdout) == (ul.returncode, ul.stdout)


@needs_swaplabel
def test_swaplabel_errors_as_util_linux(tmp_path, run_cli):
    small = blank(tmp_path / "small", 8192)
    for target in (small, tmp_path / "missing", tmp_path):
        ul = run_tool(SWAPLABEL, target)
        mine = run_cli("swaplabel", target)
        assert (mine.exit_code, mine.stderr) == (ul.returncode, ul.stderr)


@needs_file
@pytest.mark.parametrize("blocks,last_page", [(65536, 16383), (1048576, 262143)])
def test_file_reports_ghost_size(blocks, last_page, tmp_path, run_cli):
    g = tmp_path / "ghost"
    ours(run_cli, "--ghost", "-L", "g", "-U", UUID_A, g, str(blocks))
    out = run_tool(FILE, g).stdout
    assert "swap file" in out and f"size {last_page} pages" in out
    assert f"UUID={UUID_A}" in out and "LABEL=g" in out
    r = run_cli("probe", "-o", "export", g)
    assert "KIND=ghost" in r.stdout and f"PAGES={last_page + 1}" in r.stdout


FS_IMAGES = [
    ("xfs", xfs_image()), ("vfat", vfat_image()), ("btrfs", btrfs_image()), ("iso9660", iso9660_image()),
    ("luks1", luks_image(1)), ("luks2", luks_image(2, secondary=True)), ("dos", dos_image()),
    ("gpt", gpt_image()), ("pmbr", gpt_image(valid=False)),
]


@needs_blkid
@pytest.mark.parametrize("name,image", FS_IMAGES, ids=[n for n, _ in FS_IMAGES])
def test_prober_agrees_with_blkid(name, image, tmp_path):
    f = write_image(tmp_path / name, image)
    r = run_tool(BLKID, "-p", "-o", "export", f)
    values = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    area = ProbeArea.from_bytes(f.read_bytes())
    sigs = probe_superblocks(area)
    assert (sigs[0].type if sigs else None) == values.get("TYPE")
    assert probe_partition_table(area) == values.get("PTTYPE")


@needs_blkid
@pytest.mark.parametrize("kind", ["ext2", "ext3", "ext4"])
def test_prober_agrees_with_blkid_on_ext(kind, tmp_path):
    f = mkfs_ext(tmp_path / kind, kind)
    if f is None:
        pytest.skip("mke2fs is not installed")
    expected = run_tool(BLKID, "-p", "-s", "TYPE", "-o", "value", f).stdout.strip()
    assert [s.type for s in probe_superblocks(ProbeArea.from_bytes(f.read_bytes()))] == [expected]
