#!/usr/bin/env bash
# Linux 6.1 as Debian 12 ships it: the distro-6.1 configuration (mainline only), its log line
# with frontswap's FS, its zswap parameters, and same-filled pages counted inside zswap.
# needs: kernel mkswap swapon swapoff cat write dmesg replay trace
. "$(dirname "$0")/lib.sh"

run kernel init --config distro-6.1 --ram 256M --backing-rotational 1 --backing-discard 0
run mkswap --file --size 16M --label deb12 swap61
run swapon swap61
run dmesg --notime
run cat /proc/swaps

# 6.1's zswap: off by default, zbud; switch it on with zsmalloc and lz4
run cat /sys/module/zswap/parameters/enabled /sys/module/zswap/parameters/zpool
run write /sys/module/zswap/parameters/enabled Y
run write /sys/module/zswap/parameters/zpool zsmalloc
run write /sys/module/zswap/parameters/compressor lz4

# 400 swap-outs: zero pages and text; the zero pages become same-filled entries
cat > pages.trace <<'TRACE'
ghostswap-trace 1
page-size 4096
TRACE
for i in $(seq 0 199); do echo "out $i zero" >> pages.trace; done
for i in $(seq 200 399); do echo "out $i text:$i" >> pages.trace; done
run replay --no-progress pages.trace > /dev/null
run cat /sys/kernel/debug/zswap/stored_pages /sys/kernel/debug/zswap/same_filled_pages \
    /sys/kernel/debug/zswap/pool_total_size
run swapoff swap61
