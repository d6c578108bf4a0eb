"""Profile a replay: cProfile's top functions by own time, for the notes of a performance change.

    python -m benchmarks.profile [--events N] [--kind real|synthetic|pool|synth|synth-pool]
                                 [--compressor lz4|zstd]
                                 [--top 10] [--work DIR]

``real``: the replay benchmark's trace (real pages from files on this machine, 10% zero, 10%
random; N/2 swap-outs then N/2 swap-ins). ``synthetic``: seeded text/random/zero contents over
a bounded working set, as the long-replay benchmark writes them; ``pool``: the same trace with
ptext:/prandom: pool contents (the same seeds). ``synth``: a ``trace synth`` trace (20k-page
working set, distinct seeds, so no page is found in the seeded pages' cache); ``synth-pool``: the
same with ``--page-contents pool``. The replay runs inline
(``--compress-ahead off``) so the profile sees every call in one process.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import time
from pathlib import Path

from benchmarks.run import HERE, _long_trace, fresh_machine, timed_replay, write_out_in_trace
from ghostswap_cli.replay.realpages import machine_pages, mixed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--kind", choices=("real", "synthetic", "pool", "synth", "synth-pool"),
                    default="real")
    ap.add_argument("--compressor", default="lz4")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--work", type=Path, default=HERE / "work")
    args = ap.parse_args(argv)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    trace = work / f"profile-{args.kind}-{args.events}.gstrace"
    if args.kind == "real":
        n = args.events // 2
        write_out_in_trace(trace, mixed(machine_pages(n), n))
    elif args.kind.startswith("synth-") or args.kind == "synth":
        from ghostswap_cli.codec.trace import open_trace_writer
        from ghostswap_cli.replay.synth import synthesize

        with open_trace_writer(trace, "binary") as w:
            synthesize(w, events=args.events, working_set=20_000, seed=7,
                       pool=args.kind == "synth-pool")
    else:
        _long_trace(trace, args.events, 20_000, pool=args.kind == "pool")
    state = work / "state-profile"
    level = 1 if args.compressor == "zstd" else None
    fresh_machine(state, work)
    t = time.perf_counter()
    timed_replay(state, trace, args.compressor, level, ahead="off")
    plain = time.perf_counter() - t
    fresh_machine(state, work)
    prof = cProfile.Profile()
    prof.enable()
    timed_replay(state, trace, args.compressor, level, ahead="off")
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{args.kind} trace, {args.events} events, {args.compressor}: replay {plain:.3f} s "
          f"unprofiled, {total:.3f} s profiled")
    print(f"{'own s':>7} {'own %':>6} {'calls':>9}  function")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    for (file, line, name), (_cc, nc, tt, _ct, _callers) in rows[: args.top]:
        where = f"{Path(file).name}:{line}" if line else "~"
        print(f"{tt:7.3f} {100 * tt / total:5.1f}% {nc:9d}  {name} ({where})")
    shutil.rmtree(state, ignore_errors=True)
    trace.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
