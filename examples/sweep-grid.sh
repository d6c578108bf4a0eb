#!/usr/bin/env bash
# A grid of replays with `ghostswap sweep`: the same 16 points on the local process pool and
# on a Dask LocalCluster (identical rows), --resume with nothing left to do, a plot of the
# pages zswap turned away for a full pool against the pool limit, and the results as CSV.
# The grid is examples/sweep-grid.toml.
# needs: sweep
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/lib.sh"

cp "$here/sweep-grid.toml" grid.toml
run sweep grid.toml --jobs 2
run sweep grid.toml --resume      # every point has its row: nothing to run

if python3 -c 'import distributed' 2>/dev/null; then
    run sweep grid.toml --engine dask --jobs 2 -o dask.jsonl
    printf '\n$ compare grid.jsonl dask.jsonl\n'
    python3 - grid.jsonl dask.jsonl <<'PY'
import json, sys
pool, dask = ({json.loads(l)["key"]: l for l in open(p)} for p in sys.argv[1:])
same = sum(pool[k] == dask.get(k) for k in pool)
print(f"{same} of {len(pool)} rows identical on the process pool and on Dask")
PY
else
    echo "(Dask is not installed: pip install 'ghostswap[dask]' to run the grid on it too)"
fi

run sweep plot grid.jsonl -o pool-limit.png -x max_pool_percent -y rejected.pool_limit 2>&1
run sweep export grid.jsonl -o grid.csv 2>&1
printf '\n$ cut -d, -f2-4,6,9-11 grid.csv   # in grid order\n'
{ head -n 1 grid.csv; tail -n +2 grid.csv | sort -t, -k2,2 -k3,3 -k4,4n; } | cut -d, -f2-4,6,9-11
