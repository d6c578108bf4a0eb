#!/usr/bin/env bash
# A basic session: a real swapfile and a ghost swapfile, enabled, listed every way util-linux
# lists them, then disabled one at a time.
# needs: mkswap swapon swapoff probe cat dmesg
. "$(dirname "$0")/lib.sh"

# a real 16 MiB swapfile (allocated, mode 0600) and a ghost swapfile: one page declaring 64 MiB
run mkswap --file --size 16M --label real real.swap
run mkswap --ghost --size 64M --label ghost ghost.swap
ls -l real.swap ghost.swap
run probe ghost.swap

# the ghost first in line (priority 10), the real file with the kernel's default priority
run swapon real.swap
run swapon -p 10 ghost.swap
run dmesg --notime

run cat /proc/swaps
run swapon --show
run swapon --show=NAME,TYPE,SIZE,PRIO,LABEL --bytes
run swapon -s

run swapoff real.swap
run cat /proc/swaps

run swapoff -a
run cat /proc/swaps      # the header line only
run swapon --show        # prints nothing when no area is active
