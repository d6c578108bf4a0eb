#!/usr/bin/env bash
# From nothing to a sizing answer for an access workload: a service touches 8 MiB of memory
# (hot/cold, Zipf) and must run in a cgroup limited to 4 MiB. Make the access trace, look at its
# reuse distances, replay it under the limit (the simulated kernel's reclaim decides what goes to
# zswap and the swapfile), then let advise size the zswap pool, a ghost swapfile and a real
# swapfile, and print the curve of refaults and pool size against memory.max (at 2 MiB the
# charged zswap pool alone fills the limit: the process is OOM-killed).
# needs: kernel mkswap swapon trace replay advise cat
. "$(dirname "$0")/lib.sh"

run kernel init --ram 512M --config distro-6.1
run mkswap --file --size 32M real.swap
run swapon real.swap

run trace synth --workload zipf --events 20000 --working-set 2048 --seed 7 \
    --format binary -o service.gst
run trace info service.gst

# the process in /sys/fs/cgroup/workload with memory.max = 4 MiB
run replay --memory-max 4M service.gst
run cat /sys/fs/cgroup/workload/memory.stat

# the sizing answer at 4 MiB, then the curve from 2 to 8 MiB
run advise --memory-max 4M service.gst
run advise --curve --memory-max 2M:8M:2M service.gst
