"""ghostswap swapon/swapoff on the simulated kernel: a scripted session, priorities, and the
helpers the other swapon/swapoff test modules share (swap files built with the codec, the
kernel table and log read back from the state)."""

from __future__ import annotations

import os
import uuid as _uuid
from pathlib import Path

from ghostswap_cli.codec.swap_header import ByteOrder, SwapHeader, build_swap_header
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.swapfile import swap_show

PAGE = 4096
UUID_REAL = "6a1b6b1d-5c6f-4f0e-9a57-1f7b3c2d4e5f"
UUID_GHOST = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
PROC_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"


# --------------------------------------------------------------------------------------------
# helpers (imported by the other test_swapon*/test_swapoff* modules)


def header_page(last_page: int, *, label: str = "", uuid: str | None = None, version: int = 1,
                badpages: tuple[int, ...] = (), page_size: int = PAGE,
                byteorder: ByteOrder = ByteOrder.LITTLE) -> bytes:
    return build_swap_header(SwapHeader(
        page_size=page_size, byteorder=byteorder, version=version, last_page=last_page,
        nr_badpages=len(badpages),
        sws_uuid=_uuid.UUID(uuid).bytes if uuid else bytes(16),
        sws_volume=label.encode().ljust(16, b"\0"), badpages=badpages,
    ))


def write_area(path: Path, size: int, page: bytes | None, *, mode: int = 0o600,
               sparse: bool = False) -> Path:
    """A file of ``size`` bytes, fully written (allocated) unless ``sparse``, starting with
    ``page``."""
    with open(path, "wb") as f:
        if sparse:
            f.truncate(size)
        else:
            f.write(bytes(size))
        if page is not None:
            f.seek(0)
            f.write(page)
    os.chmod(path, mode)
    return path


def make_swapfile(path: Path, size: int = 8 << 20, *, label: str = "", uuid: str | None = None,
                  mode: int = 0o600, page_size: int = PAGE) -> Path:
    """What ``mkswap`` writes on a zero-filled file of ``size`` bytes."""
    page = header_page(size // page_size - 1, label=label, uuid=uuid, page_size=page_size)
    return write_area(path, size, page, mode=mode)


def make_ghost(path: Path, declared: int = 64 << 20, *, label: str = "", uuid: str | None = None,
               mode: int = 0o600) -> Path:
    """One allocated page whose header declares ``declared`` bytes."""
    return write_area(path, PAGE, header_page(declared // PAGE - 1, label=label, uuid=uuid),
                      mode=mode)


def proc_row(path: str, type_: str, size_k: int, used_k: int, prio: int) -> str:
    """A /proc/swaps row written out from the kernel's format, independently of swap_show."""
    name = path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012")
    pad = 40 - len(name) if len(name) < 40 else 1
    typ = type_ + "\t" if type_ in ("file", "ghost") else type_
    tab = "\t"
    return (f"{name}{' ' * pad}{typ}{tab}{size_k}{tab}{tab if size_k < 10000000 else ''}"
            f"{used_k}{tab}{tab if used_k < 10000000 else ''}{prio}\n")


def proc_swaps(state: Path) -> str:
    with open_kernel(state, write=False) as k:
        return swap_show(k)


def table(state: Path) -> list[tuple[str, str, int]]:
    """(path, type, priority) of each active area, in type order."""
    with open_kernel(state, write=False) as k:
        return [(si.path, "ghost" if si.is_ghost else "file", si.prio) for si in k.active()]


def log_texts(state: Path) -> list[str]:
    with open_kernel(state, write=False) as k:
        return [line.text for line in k.log_lines()]


def init_kernel(run_cli, *args: str) -> None:
    """A fresh machine with deterministic device flags (rotational, no discard)."""
    r = run_cli("kernel", "init", "--force", "--backing-rotational", "1", "--backing-discard", "0", *args)
    assert r.exit_code == 0, r.stderr




# --------------------------------------------------------------------------------------------
# (1) a scripted session


def test_session(run_cli, run_ghostswap, state_dir, short_dir):
    init_kernel(run_cli)
    real = make_swapfile(short_dir / "swapfile", 8 << 20, label="real", uuid=UUID_REAL)
    ghost = make_ghost(short_dir / "ghost.swap", 64 << 20, label="ghost", uuid=UUID_GHOST)
    assert real.stat().st_blocks * 512 >= real.stat().st_size and ghost.stat().st_size == PAGE

    r = run_cli("swapon", real)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    # one command as a real process, with -v
    p = run_ghostswap("swapon", "-v", "-p", "10", ghost)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == f"swapon {ghost}\n"
    assert p.stderr.decode() == (
        f"swapon: {ghost}: found signature [pagesize=4096, signature=swap]\n"
        f"swapon: {ghost}: pagesize=4096, swapsize=67108864, devsize=4096\n"
        f"swapon: {ghost}: last_page 0x04000000 is larger than actual size of swapspace\n"
    )

    expected = (PROC_HEADER + proc_row(str(real), "file", 8188, 0, -2)
                + proc_row(str(ghost), "ghost", 65532, 0, 10))
    assert expected.endswith("ghost\t\t65532\t\t0\t\t10\n")
    r = run_cli("swapshow", "--proc")
    assert (r.exit_code, r.stdout, r.stderr) == (0, expected, "")
    assert proc_swaps(state_dir) == expected

    logs = log_texts(state_dir)
    assert f"Adding 8188k swap on {real}.  Priority:-2 extents:1 across:8188k " in logs
    assert f"Adding 65532k swap on {ghost}.  Priority:10 extents:0 across:0k SS" in logs

    w = len(str(ghost))
    show = (
        f"{'NAME':<{w}} TYPE  SIZE USED PRIO\n"
        f"{str(real):<{w}} file    8M   0B   -2\n"
        f"{str(ghost):<{w}} ghost  64M   0B   10\n"
    )
    r = run_cli("swapon", "--show")
    assert (r.exit_code, r.stdout, r.stderr) == (0, show, "")
    assert run_cli("swapon").stdout == show
    assert run_cli("swapshow").stdout == show
    r = run_cli("swapon", "-s")
    assert (r.exit_code, r.stdout) == (0, expected)  # short names: the same bytes as the kernel's
    r = run_cli("swapon", "--show=NAME,LABEL,UUID", "--raw", "--noheadings")
    assert r.stdout == f"{real} real {UUID_REAL}\n{ghost} ghost {UUID_GHOST}\n"

    r = run_cli("swapoff", real)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert proc_swaps(state_dir) == PROC_HEADER + proc_row(str(ghost), "ghost", 65532, 0, 10)
    assert run_cli("swapon", "--show", "--noheadings").stdout == f"{ghost} ghost  64M   0B   10\n"

    r = run_cli("swapon", real)
    assert r.exit_code == 0
    assert table(state_dir) == [(str(real), "file", -2), (str(ghost), "ghost", 10)]
    r = run_cli("swapoff", "-a")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert proc_swaps(state_dir) == PROC_HEADER
    r = run_cli("swapon", "--show")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert run_cli("swapon", "-s").stdout == ""


# --------------------------------------------------------------------------------------------
# (3) priorities


def test_default_priorities_count_down(run_cli, state_dir, tmp_path):
    init_kernel(run_cli)
    files = [make_ghost(tmp_path / f"g{i}", 1 << 20) for i in range(3)]
    assert run_cli("swapon", *files).exit_code == 0
    assert [p for _, _, p in table(state_dir)] == [-2, -3, -4]


def test_priority_option_orders_the_active_list(run_cli, state_dir, tmp_path):
    init_kernel(run_cli)
    a, b, c = (make_ghost(tmp_path / n, 1 << 20) for n in "abc")
    assert run_cli("swapon", "-p", "5", a).exit_code == 0
    assert run_cli("swapon", b).exit_code == 0
    assert run_cli("swapon", "--priority=32767", c).exit_code == 0
    assert table(state_dir) == [(str(a), "ghost", 5), (str(b), "ghost", -2), (str(c), "ghost", 32767)]
    with open_kernel(state_dir, write=False) as k:
        assert [si.path for si in k.active_list()] == [str(c), str(a), str(b)]
    # a negative -p asks for the kernel's default
    d = make_ghost(tmp_path / "d", 1 << 20)
    assert run_cli("swapon", "-p", "-7", d).exit_code == 0
    assert table(state_dir)[-1] == (str(d), "ghost", -3)


def test_options_priority_is_evaluated_last_and_clamped(run_cli, state_dir, tmp_path):
    init_kernel(run_cli)
    a, b = make_ghost(tmp_path / "a", 1 << 20), make_ghost(tmp_path / "b", 1 << 20)
    assert run_cli("swapon", "-p", "3", "-o", "pri=7", a).exit_code == 0
    assert run_cli("swapon", "-o", "pri=99999,nofail", b).exit_code == 0
    assert [p for _, _, p in table(state_dir)] == [7, 32767]


def test_swapoff_renumbers_lower_default_priorities(run_cli, state_dir, tmp_path):
    init_kernel(run_cli)
    a, b, c, d = (make_ghost(tmp_path / n, 1 << 20) for n in "abcd")
    assert run_cli("swapon", a, b, c).exit_code == 0
    assert [p for _, _, p in table(state_dir)] == [-2, -3, -4]
    assert run_cli("swapoff", b).exit_code == 0
    assert table(state_dir) == [(str(a), "ghost", -2), (str(c), "ghost", -3)]
    assert run_cli("swapon", d).exit_code == 0
    # d takes b's free slot (type 1) and the next default priority
    assert table(state_dir) == [(str(a), "ghost", -2), (str(d), "ghost", -4), (str(c), "ghost", -3)]
    assert run_cli("swapoff", a).exit_code == 0
    assert table(state_dir) == [(str(d), "ghost", -3), (str(c), "ghost", -2)]


def test_prioritised_swapoff_leaves_defaults_alone(run_cli, state_dir, tmp_path):
    init_kernel(run_cli)
    a, b = make_ghost(tmp_path / "a", 1 << 20), make_ghost(tmp_path / "b", 1 << 20)
    assert run_cli("swapon", "-p", "1", a).exit_code == 0
    assert run_cli("swapon", b).exit_code == 0
    assert run_cli("swapoff", a).exit_code == 0
    assert table(state_dir) == [(str(b), "ghost", -2)]
