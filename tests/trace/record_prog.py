"""A program for the trace record tests: allocate PAGES pages, touch a known subset repeatedly.

Run as ``python3 record_prog.py PAGES ROUNDS PAUSE_S``. It prints one JSON line (the buffer's
address and size; also written to $RECORD_PROG_INFO if set), waits for a line on stdin when ``--wait``
is given, then for ROUNDS rounds writes ``page_bytes(i, round)`` to every page of ``written()``
and reads one byte of every page of ``read_only()``, pausing PAUSE_S between rounds.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import sys
import time

PAGE = mmap.PAGESIZE


def written(pages: int) -> list[int]:
    return list(range(0, pages // 2, 4))


def read_only(pages: int) -> list[int]:
    return list(range(pages // 2, pages, 5))


def page_bytes(i: int, rnd: int) -> bytes:
    unit = b"page %06d round %04d|" % (i, rnd)
    return (unit * (PAGE // len(unit) + 1))[:PAGE]


def main() -> None:
    pages, rounds, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    buf = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buf.madvise(mmap.MADV_NOHUGEPAGE)  # page-sized accounting, as most heaps get
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    info = json.dumps({"addr": addr, "pages": pages})
    print(info, flush=True)
    if os.environ.get("RECORD_PROG_INFO"):  # stdout may not reach the test (CliRunner)
        with open(os.environ["RECORD_PROG_INFO"], "w") as f:
            f.write(info + "\n")
    if "--wait" in sys.argv:
        sys.stdin.readline()
    w, r = written(pages), read_only(pages)
    total = 0
    for rnd in range(rounds):
        for i in w:
            buf[i * PAGE:(i + 1) * PAGE] = page_bytes(i, rnd)
        for i in r:
            total += buf[i * PAGE]
        time.sleep(pause)
    print(json.dumps({"done": rounds, "sum": total}), flush=True)
    # exit with the buffer still mapped (finalisation would munmap it first): the recorder's
    # last look, at the exit event, then sees the last round's bytes
    os._exit(0)


if __name__ == "__main__":
    main()
