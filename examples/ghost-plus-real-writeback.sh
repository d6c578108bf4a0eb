#!/usr/bin/env bash
# A ghost swapfile in front of a real swapfile, with a small zswap pool. Slots are taken on the
# ghost first (higher priority); once it is full they come from the real file. When the pool
# is full, zswap writes its oldest entries back to the real file (never to the ghost: the RFC
# refuses that), and swap-ins read them back from disk. Every page read back is checked
# against what was swapped out.
# needs: kernel write mkswap swapon swapoff trace replay cat
. "$(dirname "$0")/lib.sh"

run kernel init --ram 256M
run write /sys/module/zswap/parameters/max_pool_percent 1   # a 2.56 MiB pool

run mkswap --ghost --size 8M --label ghost ghost.swap         # 2047 usable slots
run mkswap --file --size 32M --label real real.swap           # 8191 usable slots
run swapon --priority 10 ghost.swap
run swapon --priority 5 real.swap
run cat /proc/swaps

# up to 4000 pages out at once, in waves: more than the ghost has slots
run trace synth -o app.trace --events 40000 --working-set 8000 --peak 4000 \
    --pattern sawtooth --seed 3
run replay app.trace

# the entries written back went to real.swap: pswpout counts them, pswpin the pages read back
run cat /sys/kernel/debug/zswap/written_back_pages
run cat /sys/kernel/debug/zswap/reject_reclaim_fail
run cat /proc/vmstat
run cat /proc/swaps

# swapoff reads every page still on the real file (or in zswap) back into memory
run swapoff real.swap
run cat /proc/swaps
run cat /proc/vmstat
