#!/usr/bin/env python3
"""A longer fuzz campaign over ghostswap's untrusted inputs (see fuzz/README.md).

    python fuzz/run.py --minutes 30                  # atheris if installed, else hypothesis
    python fuzz/run.py --minutes 5 --targets state   # one target
    python fuzz/run.py --engine hypothesis --seed 7  # no atheris
    python fuzz/run.py --replay CRASH_FILE           # run one saved input again

The targets live in fuzz/targets.py; the default test suite runs them briefly
(tests/hardening/test_fuzz_*.py). Exit status: 0 when no input failed, 1 otherwise (each
failing input is saved under --crashes), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import hashlib
import os
import resource
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COUNTS: collections.Counter[str] = collections.Counter()
FAILURES: list[tuple[str, str, str]] = []  # (target, input file, first line of the error)
START = time.monotonic()


def _limit_memory(gib: float) -> None:
    """Cap the address space so that an allocation sized by corrupt input fails with
    MemoryError (a finding) instead of waking the OOM killer."""
    limit = int(gib * (1 << 30))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _save(crashes: Path, target: str, data: bytes, exc: BaseException) -> None:
    crashes.mkdir(parents=True, exist_ok=True)
    name = f"{target}-{hashlib.sha1(data).hexdigest()[:16]}"
    (crashes / name).write_bytes(data)
    (crashes / (name + ".txt")).write_text("".join(traceback.format_exception(exc)))
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    FAILURES.append((target, str(crashes / name), f"{type(exc).__name__}: {first}"))


def _summary() -> int:
    elapsed = time.monotonic() - START
    total = sum(COUNTS.values())
    print(f"\nfuzz campaign: {elapsed / 60:.1f} minutes, {total} inputs", flush=True)
    for name, n in sorted(COUNTS.items()):
        print(f"  {name:8} {n:10} inputs", flush=True)
    if FAILURES:
        print(f"{len(FAILURES)} failing inputs:", flush=True)
        for target, path, line in FAILURES:
            print(f"  {target}: {path}: {line}", flush=True)
        return 1
    print("no failing input", flush=True)
    return 0


def run_atheris(names: list[str], seconds: int, crashes: Path, extra: list[str]) -> int:
    import atheris

    with atheris.instrument_imports():
        import fuzz.targets as targets_mod
        import ghostswap_cli.codec.swap_header  # noqa: F401
        import ghostswap_cli.codec.trace  # noqa: F401
        import ghostswap_cli.kernel.check  # noqa: F401
        import ghostswap_cli.kernel.machine  # noqa: F401
        import ghostswap_cli.kernel.repair  # noqa: F401
        import ghostswap_cli.userspace.probe  # noqa: F401

    table = [(n, targets_mod.TARGETS[n]) for n in names]

    last_print = [time.monotonic()]

    def one_input(data: bytes) -> None:
        if not data:
            return
        name, fn = table[data[0] % len(table)]
        COUNTS[name] += 1
        now = time.monotonic()
        if now - last_print[0] > 60:
            last_print[0] = now
            print(f"[{(now - START) / 60:5.1f} min] {sum(COUNTS.values())} inputs "
                  f"({', '.join(f'{n} {c}' for n, c in sorted(COUNTS.items()))})", flush=True)
        try:
            with targets_mod.time_limit(120):
                fn(data[1:])
        except BaseException as e:
            _save(crashes, name, data[1:], e)
            raise

    # libFuzzer ends the process with exit(3), past Python's atexit: the last progress line
    # and libFuzzer's "Done N runs" give the totals
    atexit.register(_summary)
    argv = [sys.argv[0], f"-max_total_time={seconds}", "-timeout=300", "-rss_limit_mb=0",
            "-print_final_stats=1", f"-artifact_prefix={crashes}/", *extra]
    crashes.mkdir(parents=True, exist_ok=True)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()  # exits the process; the summary runs at exit
    return 0


def run_hypothesis(names: list[str], seconds: int, crashes: Path, seed: int,
                   corpus: Path | None) -> int:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st
    from hypothesis.database import DirectoryBasedExampleDatabase

    import fuzz.targets as targets_mod

    deadline = time.monotonic() + seconds
    db = DirectoryBasedExampleDatabase(str(corpus)) if corpus else None
    slice_examples = {"state": 20, "replay": 100, "swapon": 200, "probe": 200}
    round_ = 0
    while time.monotonic() < deadline:
        for name in names:
            if time.monotonic() >= deadline:
                break
            last: list[bytes] = []
            body = _body(targets_mod, name, deadline, last)
            test = settings(
                max_examples=slice_examples.get(name, 1000), deadline=None, database=db,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
            )(given(st.binary(max_size=512))(body))
            test = hseed(seed * 1_000_003 + round_)(test)
            try:
                test()
            except BaseException as e:  # noqa: BLE001 - every failure is a finding
                if isinstance(e, KeyboardInterrupt):
                    raise
                _save(crashes, name, last[0] if last else b"", e)
                print(f"FAILED {name}: {type(e).__name__}: {str(e)[:200]}", flush=True)
        round_ += 1
        done = sum(COUNTS.values())
        print(f"[{(time.monotonic() - START) / 60:5.1f} min] {done} inputs "
              f"({', '.join(f'{n} {c}' for n, c in sorted(COUNTS.items()))})", flush=True)
    return _summary()


def _body(targets_mod, name: str, deadline: float, last: list[bytes]):
    fn = targets_mod.TARGETS[name]

    def body(data: bytes) -> None:
        if time.monotonic() >= deadline:
            return
        COUNTS[name] += 1
        last[:] = [data]
        with targets_mod.time_limit(120):
            fn(data)

    return body


def replay_one(path: Path, target: str | None) -> int:
    import fuzz.targets as targets_mod

    data = path.read_bytes()
    name = target or path.name.split("-", 1)[0]
    targets_mod.TARGETS[name](data)
    print(f"{path}: {name}: passes")
    return 0


def main(argv: list[str] | None = None) -> int:
    import fuzz.targets as targets_mod

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0, help="campaign length [5]")
    p.add_argument("--targets", default=",".join(targets_mod.TARGETS),
                   help=f"comma-separated targets [{','.join(targets_mod.TARGETS)}]")
    p.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    p.add_argument("--seed", type=int, default=0, help="hypothesis seed [0]")
    p.add_argument("--crashes", type=Path, default=Path("fuzz/crashes"),
                   help="where failing inputs are saved [fuzz/crashes]")
    p.add_argument("--corpus", type=Path, default=None,
                   help="hypothesis example database directory (kept between runs)")
    p.add_argument("--memory-gib", type=float, default=4.0,
                   help="address-space limit, so huge allocations fail visibly [4]")
    p.add_argument("--replay", type=Path, metavar="FILE", help="run one saved input and stop")
    p.add_argument("--target", help="with --replay: the target (default: from the file name)")
    args, extra = p.parse_known_args(argv)
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in targets_mod.TARGETS]
    if unknown:
        p.error(f"unknown targets: {', '.join(unknown)}")
    os.environ.setdefault("NO_COLOR", "1")
    _limit_memory(args.memory_gib)
    if args.replay:
        return replay_one(args.replay, args.target)
    seconds = max(int(args.minutes * 60), 1)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    print(f"fuzzing {', '.join(names)} for {args.minutes:g} minutes with {engine}", flush=True)
    if engine == "atheris":
        return run_atheris(names, seconds, args.crashes, extra)
    return run_hypothesis(names, seconds, args.crashes, args.seed, args.corpus)


if __name__ == "__main__":
    sys.exit(main())
