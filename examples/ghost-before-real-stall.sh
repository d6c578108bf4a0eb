#!/usr/bin/env bash
# The RFC as posted, with a ghost swapfile in front of a real one at a higher priority. The ghost
# takes the slots; when zswap's small pool is full, the pool-full worker runs (a real swapfile is
# available) but every entry it tries sits on a ghost slot and refuses writeback: nothing is
# written back, nothing reaches the real file, and the pages zswap rejects stay resident.
# swapon warns about the configuration in the kernel log, and `designs` shows the same stall next
# to the writeback by redirection Chris Li planned for it.
# needs: kernel write mkswap swapon dmesg trace replay cat designs
. "$(dirname "$0")/lib.sh"

run kernel init --ram 16M
run write /sys/module/zswap/parameters/max_pool_percent 1   # a 160 KiB pool
run write /sys/module/zswap/parameters/compressor lz4

run mkswap --ghost --size 8M --label ghost ghost.swap         # 2047 slots: never full here
run mkswap --file --size 4M --label real real.swap
run swapon --priority 10 ghost.swap
run swapon real.swap                                          # default priority: -2
run dmesg --level warn --notime

# up to 600 pages out at once, a quarter of them incompressible
run trace synth -o app.gstrace --format binary --events 3000 --working-set 800 --peak 600 \
    --pattern sawtooth --seed 11
run replay app.gstrace
run cat /sys/kernel/debug/zswap/written_back_pages
run cat /sys/kernel/debug/zswap/reject_reclaim_fail
run cat /proc/swaps

# the same trace, devices and pool in the design lab: the RFC as posted against redirection
run designs app.gstrace --designs ghost-rfc,ghost-redirect --compressor lz4 --ghost-size 8M \
    --real-size 4M --pool-limit 160K --param ghost-rfc.real_behind=1
