#!/usr/bin/env bash
# Record what a real short-lived program touches and replay it under two memory limits: a
# Python script builds a dict of 200,000 strings and walks it three times; `ghostswap trace
# record -- python3 walk.py` samples it every 50 ms from its first instruction to its exit
# (page contents read from /proc/PID/mem), and the access trace is replayed through the
# simulated kernel's reclaim with memory.max at 16 MiB and at 32 MiB, zswap in front of a real
# swapfile. Prints the difference: swap-outs, refaults and the zswap pool.
# Recording needs ptrace access to a child process (kernel.yama.ptrace_scope 0 or 1, and no
# seccomp filter against ptrace); where the machine does not allow it the script says why and
# skips the rest.
# needs: trace kernel write mkswap swapon replay
. "$(dirname "$0")/lib.sh"

scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)
if [ "$scope" -ge 2 ]; then
    echo "skipped: kernel.yama.ptrace_scope is $scope, so a process cannot read its child's memory"
    exit 0
fi

cat > walk.py <<'PY'
import os
d = {i: ("value %d " % i) * 4 for i in range(200_000)}   # ~40 MiB of strings and dict
for _ in range(3):
    n = sum(len(v) for v in d.values())
os._exit(0)   # leave the heap mapped: the recorder reads it once more at exit
PY

run trace record --list-sources
if ! run trace record -o walk.trace --interval 50ms -- python3 walk.py 2> record.err; then
    cat record.err >&2
    if grep -q -e "permission denied" -e "Operation not permitted" record.err; then
        echo "skipped: recording is not allowed here ($(tail -n 1 record.err))"
        exit 0
    fi
    exit 1
fi
cat record.err   # the source used, and what it cannot see
run trace info walk.trace

run kernel init --ram 1G
run write /sys/module/zswap/parameters/enabled Y
fallocate -l 256M real.swap 2>/dev/null || dd if=/dev/zero of=real.swap bs=1M count=256 status=none
chmod 600 real.swap
run mkswap real.swap
run swapon real.swap

for limit in 16M 32M; do
    run replay walk.trace --memory-max "$limit" --no-progress
    gs replay walk.trace --memory-max "$limit" --no-progress --json > "replay-$limit.json"
done

python3 - replay-16M.json replay-32M.json <<'PY'
import json, sys
small, large = (json.load(open(p)) for p in sys.argv[1:3])
print()
print(f"{'':24}{'memory.max 16M':>16}{'memory.max 32M':>16}{'difference':>14}")
for key, label in (("swap_outs", "swap-outs"), ("refaults", "refaults"),
                   ("peak_zswap_bytes", "peak zswap pool bytes"), ("peak_resident_pages", "peak resident pages")):
    a, b = small[key], large[key]
    print(f"{label:<24}{a:>16}{b:>16}{a - b:>+14}")
print(f"with 16 MiB less memory the program refaults {small['refaults'] - large['refaults']} more pages")
PY
