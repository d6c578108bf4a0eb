#!/usr/bin/env bash
# The same trace through zswap with each compressor the kernel offers (lz4, lz4hc, zstd,
# deflate): the compression ratio and the pool size, read from `ghostswap replay --json`.
# The machine is rebooted before each replay so that every compressor starts from an empty
# pool with the same ghost swapfile.
# needs: kernel mkswap swapon trace replay
. "$(dirname "$0")/lib.sh"

run mkswap --ghost --size 64M ghost.swap
# mostly text, some zero, same-filled and random pages
run trace synth -o app.trace --events 12000 --working-set 3000 --peak 1500 --seed 11 \
    --mix zero=0.1,fill=0.05,text=0.7,random=0.15

for c in lz4 lz4hc zstd deflate; do
    gs kernel reset >/dev/null
    gs swapon -p 10 ghost.swap
    printf '\n$ ghostswap replay --compressor %s --json app.trace > %s.json\n' "$c" "$c"
    gs replay --compressor "$c" --json app.trace > "$c.json"
done

echo
python3 - lz4.json lz4hc.json zstd.json deflate.json <<'PY'
import json, sys
print(f"{'compressor':<11}{'ratio':>7}{'accepted':>10}{'compressed bytes':>18}"
      f"{'pool peak':>12}{'poor':>7}{'corrupt':>9}")
for path in sys.argv[1:]:
    r = json.load(open(path))
    print(f"{r['compressor']:<11}{r['compression_ratio']:>7.2f}{r['zswap_accepted_pages']:>10}"
          f"{r['zswap_accepted_bytes']:>18}{r['pool_peak_size']:>12}"
          f"{r['rejected']['compress_poor']:>7}{r['corrupt_pages']:>9}")
PY
