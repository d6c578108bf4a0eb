"""ghostswap's ``distro-6.1`` kernel against recordings of a real Linux 6.1.

The cases and their files are in tests/fixtures/linux-6.1/cases.py; record.py there ran them
on Debian 12's 6.1.0 under qemu and wrote recorded/*.json. Each case runs here in a fresh
simulated 6.1 machine, in a directory whose path is as long as the VM's, and every step is
compared byte for byte: stdout, stderr, exit status, the kernel lines the step logged and
/proc/swaps after it.

Where the two cannot be the same thing, the comparison says so:

* ``cat`` and ``write`` steps are the shell's ``cat`` and ``echo >`` in the VM, ghostswap's
  ``cat`` and ``write`` here: stdout and success are compared, not the shell's error text;
* util-linux's tools print their name as ``argv[0]``, ghostswap's mirrors print the same;
* the ``extents:``/``across:`` figures come from the host file system's allocation of the
  test's file; a case is skipped when the host fragmented a file the VM's ext4 did not.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

import pytest

from ghostswap_cli.errors import KernelError
from ghostswap_cli.kernel.backing import swapfile_extents
from ghostswap_cli.kernel.compressors import available_compressors
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.swapfile import sys_swapoff, sys_swapon
from ghostswap_cli.uapi import SWAP_FLAG_PREFER, SWAP_FLAG_PRIO_MASK
from oracle.linux61 import load_cases, recorded

C = load_cases()


def rawswap(state: Path, argv: list[str]) -> tuple[str, int]:
    """The oracle's rawswap (tools/rawswap.c) on the simulated kernel: one line, errno as
    the exit status."""
    on = argv[0] == "on"
    path = argv[-1]
    flags = 0
    i = 1
    while on and i < len(argv) - 1:
        if argv[i] == "-p":
            prio = int(argv[i + 1], 0)
            flags |= SWAP_FLAG_PREFER | (prio & SWAP_FLAG_PRIO_MASK)
            i += 2
        elif argv[i] == "-f":
            flags = int(argv[i + 1], 16)
            i += 2
        else:
            break
    err = 0
    with open_kernel(state) as k:  # a failed call changes nothing but the log, which stays
        try:
            if on:
                # the C int: a flags word with the top bit set is negative in the kernel
                sys_swapon(k, path, flags - (1 << 32) if flags & 0x80000000 else flags)
            else:
                sys_swapoff(k, path)
        except KernelError as e:
            err = e.errno
    line = f'swapon("{path}", 0x{flags:x}) = ' if on else f'swapoff("{path}") = '
    line += f"-1 {errno.errorcode[err]} ({os.strerror(err)})" if err else "0"
    return line + "\n", err


def log_count(state: Path) -> list[str]:
    with open_kernel(state, write=False) as k:
        return [line.text for line in k.log_lines()]


@pytest.fixture
def case_dir():
    d = Path(tempfile.mkdtemp(prefix="g6", dir="/tmp"))
    assert len(str(d)) == C.CASE_DIR_LEN, d
    try:
        yield d
    finally:
        import shutil

        shutil.rmtree(d, ignore_errors=True)


def run_step(run_cli, state: Path, cmd: str) -> tuple[str, str, int]:
    argv = cmd.split()
    tool, args = argv[0], argv[1:]
    if tool == "rawswap":
        out, rc = rawswap(state, args)
        return out, "", rc
    if tool == "blkid":
        assert args[0] == "-p"
        r = run_cli("probe", *args[1:])
        return blkid_keys(r.stdout), r.stderr, r.exit_code
    elif tool == "write":
        r = run_cli("write", args[1], args[0])
    else:
        r = run_cli(tool, *args)
    return r.stdout, r.stderr, r.exit_code


#: the keys ghostswap probe adds after blkid's (see ghostswap-probe(1))
PROBE_EXTRA = ("PAGESIZE", "ENDIANNESS", "PAGES", "BYTES", "BADPAGES", "KIND", "REASON")


def blkid_keys(stdout: str) -> str:
    """``ghostswap probe`` output as ``blkid -p`` prints it: ghostswap's own keys dropped,
    and a line that had nothing else (a header blkid does not identify) with them."""
    out = []
    for line in stdout.splitlines():
        path, _, rest = line.partition(": ")
        keys = [m.group(0) for m in re.finditer(r'(\w+)="(?:[^"\\]|\\.)*"', rest)
                if m.group(1) not in PROBE_EXTRA]
        if keys:
            out.append(f"{path}: {' '.join(keys)}\n")
    return "".join(out)


CASE_NAMES = [c.name for c in C.CASES]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_matches_linux_6_1(name, run_cli, state_dir, case_dir, monkeypatch):
    case = next(c for c in C.CASES if c.name == name)
    rec = recorded(name)
    assert rec["kernel"].startswith("6.1."), rec["kernel"]
    vm_dir = rec["vm_dir"]
    for fname, f in case.files.items():
        f.build(case_dir / fname)
    for fname, f in case.files.items():
        if f.header is not None and not f.holes and f.size >= 40960 and f.size == 8 * C.MiB:
            ext = swapfile_extents(case_dir / fname, f.size // C.PAGE, C.PAGE)
            if ext.nr_extents != 1:
                pytest.skip(f"the host file system split {fname} into {ext.nr_extents} extents")
    assert run_cli("kernel", "init", "--force", "--config", "distro-6.1",
                   "--backing-rotational", "1", "--backing-discard", "1").exit_code == 0
    monkeypatch.chdir(case_dir)
    seen = len(log_count(state_dir))
    for n, step in enumerate(rec["steps"]):
        assert step["cmd"] == case.steps[n]

        def here(text: str) -> str:
            return text.replace(vm_dir, str(case_dir))

        out, err, rc = run_step(run_cli, state_dir, step["cmd"])
        lines = log_count(state_dir)
        logged, seen = lines[seen:], len(lines)
        where = f"{name} step {n} `{step['cmd']}`"
        tool = step["cmd"].split()[0]
        if tool in ("cat", "write"):
            assert (rc == 0) == (step["rc"] == 0), f"{where}: exit {rc}, the kernel's {step['rc']}"
            expected = here(step["stdout"])
            if expected == "lzo\n" and "lzo" not in available_compressors():
                # without python-lzo ghostswap falls back to lz4 and logs so at boot
                expected = "lz4\n"
            if step["rc"] == 0:
                assert out == expected, where
        else:
            assert (out, err, rc) == (here(step["stdout"]), here(step["stderr"]), step["rc"]), where
        assert logged == [here(line) for line in step["dmesg"]], where
        with open_kernel(state_dir, write=False) as k:
            from ghostswap_cli.kernel.swapfile import swap_show

            assert swap_show(k) == here(step["swaps"]), where
