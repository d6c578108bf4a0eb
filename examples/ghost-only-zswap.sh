#!/usr/bin/env bash
# A ghost swapfile alone in front of a small zswap pool, as the RFC intends it: zswap without a
# disk behind it. Nothing can be written back (there is nowhere to write), so every page zswap
# rejects, because it does not compress or because the pool is at its limit, stays resident.
# needs: kernel write mkswap swapon trace replay cat
. "$(dirname "$0")/lib.sh"

# 128 MiB of RAM and a pool limit of 1% of it: 1.28 MiB of compressed pages at most
run kernel init --ram 128M
run write /sys/module/zswap/parameters/max_pool_percent 1

run mkswap --ghost --size 64M ghost.swap
run swapon ghost.swap
run cat /proc/swaps

# 4000 pages, up to 2000 swapped out at once; a quarter of them random (incompressible)
run trace synth -o app.trace --events 20000 --working-set 4000 --peak 2000 --seed 7 \
    --mix zero=0.15,fill=0.05,text=0.55,random=0.25
# "rejected" counts compress_poor (incompressible) and pool_limit (the pool was full) pages;
# all of them "stayed resident": the write to the ghost failed, the page went back to the LRU
run replay app.trace

# the kernel's own counters agree: no writeback, and no page was written to any swap file
# (pswpout 0); the resident pages sit in the swap cache (SwapCached)
run cat /sys/kernel/debug/zswap/written_back_pages
run cat /sys/kernel/debug/zswap/pool_limit_hit
run cat /proc/vmstat
run cat /proc/meminfo
