"""Capturing a trace from a live process: a child we spawn with recognisable memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ghostswap_cli.codec.trace import OP_IN, OP_OUT, TF_CAPTURED, open_trace, summarize
from ghostswap_cli.errors import ToolError
from ghostswap_cli.replay.capture import (
    MapEntry,
    _parse_maps_line,
    capture,
    read_maps,
    select_mappings,
)

MARK = b"GHOSTSWAP-MARK!\n"  # what the child fixture (conftest.py) fills 4 MiB with


def marked_pages(path: Path) -> int:
    with open_trace(path) as r:
        return sum(1 for op, _, page in r if op == OP_OUT and page == MARK * 256)


def test_capture_out_then_in(tmp_path: Path, child: subprocess.Popen[bytes]) -> None:
    out = tmp_path / "cap.gstrace"
    res = capture(child.pid, out)
    assert res.pages > 1024 + 512 and res.events == 2 * res.pages == res.peak_swapped * 2
    assert res.mappings_skipped.get("special", 0) >= 1  # [vvar] and friends
    assert marked_pages(out) >= 1023  # the bytearray may start mid-page
    with open_trace(out) as r:
        assert r.format == "binary" and r.flags & TF_CAPTURED and r.page_size == os.sysconf("SC_PAGE_SIZE")
        s = summarize(r)
        ops = [op for op, _, _ in r]
    assert s.peak_swapped == res.pages and s.swapped_at_end == 0
    assert (s.invalid_in, s.invalid_out) == (0, 0)
    assert ops == [OP_OUT] * res.pages + [OP_IN] * res.pages
    with open_trace(out) as r:  # the sparse pages are captured with their one byte
        sparse = sum(1 for op, _, p in r if op == OP_OUT and p.count(0) == len(p) - 1 and b"x" in p)
    assert sparse >= 511


def test_interleave_has_a_lower_peak(tmp_path: Path, child: subprocess.Popen[bytes]) -> None:
    res = capture(child.pid, tmp_path / "i.gstrace", order="interleave")
    with open_trace(tmp_path / "i.gstrace") as r:
        s = summarize(r)
    assert s.peak_swapped == res.peak_swapped < res.pages
    assert s.ops["out"] == s.ops["in"] == res.pages and s.swapped_at_end == 0


def test_max_pages_and_all_mappings(tmp_path: Path, child: subprocess.Popen[bytes]) -> None:
    res = capture(child.pid, tmp_path / "m.gstrace", max_pages=100)
    assert res.pages == 100 and res.truncated
    anon = capture(child.pid, tmp_path / "anon.gstrace")
    every = capture(child.pid, tmp_path / "all.gstrace", maps_filter="all")
    assert every.pages > anon.pages and every.mappings_selected > anon.mappings_selected


def test_pages_never_touched_are_left_out(tmp_path: Path, child: subprocess.Popen[bytes]) -> None:
    """Reading an untouched page through /proc/PID/mem would map the zero page into the child:
    pagemap is asked first, so a second capture sees the same pages as the first."""
    first = capture(child.pid, tmp_path / "1.gstrace")
    second = capture(child.pid, tmp_path / "2.gstrace")
    assert first.not_present_pages > 0
    assert abs(second.pages - first.pages) < 64  # the interpreter itself may move a little


def test_a_missing_process(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with pytest.raises(ToolError, match=f"no process with PID {proc.pid}"):
        capture(proc.pid, tmp_path / "x.gstrace")
    assert not (tmp_path / "x.gstrace").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_without_ptrace_access_the_error_is_clear(tmp_path: Path, child: subprocess.Popen[bytes]) -> None:
    """As nobody, a root process's memory is out of reach: a ToolError, never a traceback."""
    os.chmod(tmp_path, 0o777)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            capture(child.pid, tmp_path / "denied.gstrace")
            os.write(w, b"no error")
        except ToolError as e:
            os.write(w, f"ToolError: {e}".encode())
        except BaseException as e:
            os.write(w, f"{type(e).__name__}: {e}".encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        message = f.read().decode()
    os.waitpid(pid, 0)
    assert message.startswith("ToolError: "), message
    assert "permission denied" in message.lower()
    assert not (tmp_path / "denied.gstrace").exists()


def test_maps_lines_and_selection() -> None:
    lines = [
        "55d4a0a00000-55d4a0a21000 rw-p 00000000 00:00 0                          [heap]",
        "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ",
        "7f0000100000-7f0000200000 r--p 00000000 08:01 1234                       /usr/lib/libc.so.6",
        "7f0000200000-7f0000201000 ---p 00000000 00:00 0 ",
        "7f0000300000-7f0000301000 rw-s 00000000 00:05 99                         /dev/zero (deleted)",
        "7f0000400000-7f0000401000 rw-p 00000000 00:00 0                          [anon:jemalloc]",
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]",
        "7ffd00100000-7ffd00104000 r--p 00000000 00:00 0                          [vvar]",
        "7ffd00104000-7ffd00106000 r-xp 00000000 00:00 0                          [vdso]",
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
        "garbage",
    ]
    maps = [m for m in map(_parse_maps_line, lines) if m is not None]
    assert len(maps) == 10
    assert maps[2] == MapEntry(0x7F0000100000, 0x7F0000200000, "r--p", 0, "08:01", 1234, "/usr/lib/libc.so.6")
    anon, skipped = select_mappings(maps, "anon")
    assert [m.path for m in anon] == ["[heap]", "", "[anon:jemalloc]", "[stack]"]
    assert skipped == {"not anonymous": 3, "not readable": 1, "special": 2}
    every, skipped = select_mappings(maps, "all")
    assert len(every) == 7 and skipped == {"not readable": 1, "special": 2}


def test_read_maps_of_ourselves() -> None:
    maps = read_maps(os.getpid())
    assert any(m.path == "[stack]" for m in maps)
