#!/usr/bin/env bash
# Capture the memory of a live process and replay it: start a background process that holds
# some data (text, random bytes, zeros), read its private anonymous memory with
# `ghostswap trace capture --pid`, and see how zswap and a ghost swapfile handle its real pages.
# Needs ptrace access to the process: our own child is fine unless kernel.yama.ptrace_scope
# is 2 or more.
# needs: trace mkswap swapon replay
. "$(dirname "$0")/lib.sh"
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# the process: 4 MiB of log-like text, 2 MiB of random bytes and 2 MiB of zeros it has
# written to (so they are present), then it waits to be captured
python3 - "$work/ready" <<'PY' &
import os, sys, time
text = b"".join(b"%08d GET /api/v1/items?id=%d 200 OK %d bytes\n" % (i, i * 7 % 1000, i % 4096)
                for i in range(90000))[: 4 << 20]
noise = os.urandom(2 << 20)
zeros = bytearray(2 << 20)
for i in range(0, len(zeros), 4096):
    zeros[i] = 0                      # touch every page: present, and still all zero
open(sys.argv[1], "w").close()
time.sleep(600)
PY
pid=$!
for _ in $(seq 100); do [ -e ready ] && break; sleep 0.1; done
[ -e ready ] || { echo "the background process did not start" >&2; exit 1; }
echo "background process: pid $pid"

run trace capture --pid "$pid" -o app.gstrace --max-pages 8192
run trace info app.gstrace

run mkswap --ghost --size 128M ghost.swap
run swapon -p 10 ghost.swap
run replay app.gstrace

kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""
echo
echo "background process stopped"
