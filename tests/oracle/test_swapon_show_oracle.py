"""``swapon --show`` and ``swapon -s`` against util-linux's own binary.

Our simulated /proc/swaps is written to a file and handed to the real swapon through
``LIBMOUNT_SWAPS`` (libmount reads it instead of /proc/swaps), so util-linux renders the same
table from the same paths, probing the same files. Only the read-only listing modes of the
real binary are ever run (``real_swapon`` refuses anything else): no test activates or
deactivates real swap.

UUID and LABEL are compared only for files libblkid can read (not ghosts: libblkid skips files
under 40 KiB, prints ``not a valid swap partition`` and leaves the cells empty, where we fill
them in).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from userspace.test_swapon import (
    UUID_GHOST,
    UUID_REAL,
    init_kernel,
    make_ghost,
    make_swapfile,
)

from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.swapfile import swap_show


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin"):
        p = Path(d, name)
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


SWAPON = _tool("swapon")
MKSWAP = _tool("mkswap")


def _is_util_linux(path: str | None) -> bool:
    if path is None:
        return False
    r = subprocess.run([path, "--version"], capture_output=True, text=True, check=False, timeout=30)
    return "util-linux" in r.stdout


pytestmark = pytest.mark.skipif(not _is_util_linux(SWAPON), reason="util-linux swapon is not installed")

LISTINGS = [
    ("--show",),
    ("--show", "--bytes"),
    ("--show", "--raw"),
    ("--show", "--noheadings"),
    ("--show", "--raw", "--noheadings", "--bytes"),
    ("--show=NAME,PRIO,SIZE,USED,TYPE",),
    ("--show=prio,name",),
    ("-s",),
    ("--summary",),
]


def real_swapon(swaps: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """util-linux swapon in a listing mode only, on a fabricated /proc/swaps."""
    assert args and all(a.startswith("-") for a in args), args
    assert any(a.startswith("--show") or a in ("-s", "--summary") for a in args), args
    assert not any(a in ("-a", "--all") or a.startswith("--al") for a in args), args
    env = dict(os.environ, LIBMOUNT_SWAPS=str(swaps), LC_ALL="C")
    assert SWAPON is not None
    return subprocess.run([SWAPON, *args], capture_output=True, text=True, env=env, check=False,
                          timeout=60)


def write_swaps(state: Path, dest: Path) -> Path:
    with open_kernel(state, write=False) as k:
        dest.write_text(swap_show(k))
    return dest




def real_swapfile(path: Path, size: int, label: str, uuid: str) -> Path:
    """Formatted by util-linux mkswap when it is there (else as it would be)."""
    make_swapfile(path, size, label=label, uuid=uuid)
    if MKSWAP:
        r = subprocess.run([MKSWAP, "-L", label, "-U", uuid, str(path)], capture_output=True,
                           text=True, check=False, timeout=60)
        assert r.returncode == 0, r.stderr
    return path


@pytest.fixture
def mixed(run_cli, state_dir, short_dir, tmp_path):
    """A real file, a ghost, a file with a blank in its name and one with a long name."""
    init_kernel(run_cli)
    real = real_swapfile(short_dir / "swapfile", 8 << 20, "real", UUID_REAL)
    ghost = make_ghost(short_dir / "ghost.swap", 64 << 20, label="ghost", uuid=UUID_GHOST)
    blank = real_swapfile(short_dir / "with blank", 1 << 20, "blank", "11111111-2222-3333-4444-555555555555")
    long = real_swapfile(tmp_path / ("x" * 30 + ".swap"), 2 << 20, "long", "22222222-2222-3333-4444-555555555555")
    assert run_cli("swapon", real).exit_code == 0
    assert run_cli("swapon", "-p", "10", ghost).exit_code == 0
    assert run_cli("swapon", blank, long).exit_code == 0
    return write_swaps(state_dir, short_dir / "swaps"), ghost


@pytest.mark.parametrize("args", LISTINGS, ids=lambda a: " ".join(a))
def test_listing_matches_util_linux(run_cli, mixed, args):
    swaps, ghost = mixed
    theirs = real_swapon(swaps, *args)
    ours = run_cli("swapon", *args)
    assert (ours.exit_code, theirs.returncode) == (0, 0)
    assert ours.stdout == theirs.stdout
    # util-linux cannot read the ghost's header; we can, and say nothing
    if args[0] in ("-s", "--summary"):
        assert theirs.stderr == ""
    else:
        assert theirs.stderr == f"swapon: {ghost}: not a valid swap partition\n"
    assert ours.stderr == ""


def test_uuid_and_label_match_for_real_files(run_cli, state_dir, short_dir):
    init_kernel(run_cli)
    a = real_swapfile(short_dir / "a", 1 << 20, "alpha", UUID_REAL)
    b = real_swapfile(short_dir / "b", 3 << 20, "a long label 15", UUID_GHOST)
    assert run_cli("swapon", a, b).exit_code == 0
    swaps = write_swaps(state_dir, short_dir / "swaps")
    for args in (("--show", "--output-all"), ("--show=UUID,LABEL,NAME",), ("--show=label", "--raw"),
                 ("--show", "--output-all", "--bytes", "--noheadings")):
        theirs = real_swapon(swaps, *args)
        ours = run_cli("swapon", *args)
        assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr), args
        assert "alpha" in ours.stdout


def test_ghost_labels_are_ours_alone(run_cli, state_dir, short_dir):
    init_kernel(run_cli)
    g = make_ghost(short_dir / "g", label="ghost", uuid=UUID_GHOST)
    assert run_cli("swapon", g).exit_code == 0
    swaps = write_swaps(state_dir, short_dir / "swaps")
    theirs = real_swapon(swaps, "--show=NAME,LABEL,UUID", "--raw")
    ours = run_cli("swapon", "--show=NAME,LABEL,UUID", "--raw")
    assert theirs.stdout == f"NAME LABEL UUID\n{g}  \n"
    assert ours.stdout == f"NAME LABEL UUID\n{g} ghost {UUID_GHOST}\n"


def test_empty_table(run_cli, state_dir, short_dir):
    init_kernel(run_cli)
    swaps = write_swaps(state_dir, short_dir / "swaps")
    for args in LISTINGS:
        theirs = real_swapon(swaps, *args)
        ours = run_cli("swapon", *args)
        assert (ours.stdout, ours.exit_code) == (theirs.stdout, theirs.returncode) == ("", 0), args


def test_deleted_file_is_listed_as_util_linux_lists_it(run_cli, state_dir, short_dir):
    init_kernel(run_cli)
    gone = make_ghost(short_dir / "gone")
    kept = real_swapfile(short_dir / "kept", 1 << 20, "kept", UUID_REAL)
    assert run_cli("swapon", gone, kept).exit_code == 0
    gone.unlink()
    swaps = write_swaps(state_dir, short_dir / "swaps")
    assert "(deleted)" in swaps.read_text()
    for args in (("--show",), ("-s",), ("--show", "--output-all", "--raw")):
        theirs = real_swapon(swaps, *args)
        ours = run_cli("swapon", *args)
        assert ours.stdout == theirs.stdout, args
        assert ours.stderr == theirs.stderr.replace(str(swaps), "/proc/swaps"), args


@pytest.mark.parametrize("args", [("--show=FOO",), ("--show=NAME,FOO,SIZE",), ("--show=",),
                                  ("--show=NAME,,SIZE",)])
def test_column_errors_match(run_cli, state_dir, short_dir, args):
    init_kernel(run_cli)
    swaps = write_swaps(state_dir, short_dir / "swaps")
    theirs = real_swapon(swaps, *args)
    ours = run_cli("swapon", *args)
    assert (ours.exit_code, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
