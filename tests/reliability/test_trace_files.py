"""Items 9 and 15: trace files written by ghostswap.

Item 9, before: ``trace convert`` / ``trace synth`` left ``.OUT.XXXX.tmp`` behind when the disk
filled (the second flush in ``abort()`` failed before the unlink) and on SIGTERM (the default
action kills without unwinding), and the ENOSPC message named no file. After: every exit path
removes the partial file, and the error names the trace.

The full disk is made two ways, both real writes of the real command: RLIMIT_FSIZE (the kernel
fails the write with EFBIG, exactly where a full disk fails it with ENOSPC; no privilege, no
mount) and ghostswap's own fault point at the write (``GHOSTSWAP_FAULT=1:enospc``, see
ghostswap_cli/faults.py), since a real ENOSPC needs a small file system that a test cannot mount
without privileges.

Item 15, before: ``trace capture`` (and a conversion to binary, which stores file: pages raw)
wrote raw process memory with mode 0644. After: a trace that holds page contents is created
0600, like the state.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ghostswap_cli.replay.capture import capture

REPO = Path(__file__).resolve().parents[2]
SYNTH = ["trace", "synth", "--events", "60000", "--working-set", "6000"]


def _ghostswap(args, *, cwd, env=None, preexec=None, wait=True):
    full = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    p = subprocess.Popen([sys.executable, "-m", "ghostswap_cli", *map(str, args)], cwd=cwd,
                         env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=preexec)
    if not wait:
        return p
    out, err = p.communicate(timeout=300)
    return p.returncode, out.decode(), err.decode()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _limit_fsize():
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, resource.RLIM_INFINITY))


@pytest.mark.parametrize("how", ["rlimit", "fault"])
def test_synth_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, how):
    out = tmp_path / "big.trace"
    if how == "rlimit":
        rc, _, err = _ghostswap([*SYNTH, "-o", out], cwd=tmp_path, preexec=_limit_fsize)
        assert err == f"ghostswap: {out}: File too large\n"
    else:
        rc, _, err = _ghostswap([*SYNTH, "-o", out], cwd=tmp_path,
                                env={"GHOSTSWAP_FAULT": "1:enospc"})
        assert err == f"ghostswap: {out}: No space left on device\n"
    assert rc == 1
    assert _leftovers(tmp_path) == [] and not out.exists()


def test_convert_on_a_full_disk_keeps_the_old_output(tmp_path, run_cli):
    src = tmp_path / "in.trace"
    assert run_cli(*SYNTH, "-o", src).exit_code == 0
    dst = tmp_path / "out.gstrace"
    dst.write_bytes(b"old")
    rc, _, err = _ghostswap(["trace", "convert", src, dst], cwd=tmp_path, preexec=_limit_fsize)
    assert (rc, err) == (1, f"ghostswap: {dst}: File too large\n")
    assert dst.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_sigterm_removes_the_partial_file(tmp_path):
    out = tmp_path / "big.trace"
    p = _ghostswap([*SYNTH[:2], "--events", "20000000", "--working-set", "200000", "-o", out],
                   cwd=tmp_path, wait=False)
    deadline = time.monotonic() + 60
    while not _leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _leftovers(tmp_path), "the writer never started"
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM
    assert _leftovers(tmp_path) == [] and not out.exists()


def test_traces_with_page_contents_are_private(tmp_path, run_cli):
    page_file = tmp_path / "heap.bin"
    page_file.write_bytes(os.urandom(8192))
    text = tmp_path / "t.trace"
    text.write_text("ghostswap-trace 1\nout 0x1 file:heap.bin:0\nout 0x2 text:5\nin 0x1\n")
    seeded = tmp_path / "seeded.trace"
    assert run_cli("trace", "synth", "-o", seeded, "--events", "100",
                   "--working-set", "10").exit_code == 0
    assert seeded.stat().st_mode & 0o777 == 0o666 & ~_umask()  # seeds only: as before
    raw = tmp_path / "raw.gstrace"
    r = run_cli("trace", "convert", text, raw)
    assert r.exit_code == 0, r.stderr
    assert raw.stat().st_mode & 0o777 == 0o600
    back = tmp_path / "back.trace"
    assert run_cli("trace", "convert", raw, back).exit_code == 0  # hex: pages in text
    assert back.stat().st_mode & 0o777 == 0o600


def test_capture_is_private(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(b'x' * (1 << 20));"
                              " print('ready', flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"ready\n"
        out = tmp_path / "cap.gstrace"
        capture(child.pid, out, max_pages=64)
        assert out.stat().st_mode & 0o777 == 0o600
    finally:
        child.kill()
        child.wait()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m
