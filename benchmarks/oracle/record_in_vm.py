"""Run inside the kernel oracle's VM by record-sources.sh: the sources the VM's kernel has, scored
on the known-subset program of the tests (tests/trace/record_prog.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

sys.path.insert(0, "/mnt")

from ghostswap_cli.replay.record import record  # noqa: E402
from ghostswap_cli.replay.record_eval import SourceScore, read_samples, score  # noqa: E402
from ghostswap_cli.replay.record_sources import SOURCES, choose_source, probe_sources  # noqa: E402
from ghostswap_cli.replay.record_target import Target  # noqa: E402

PROG = "/mnt/tests/trace/record_prog.py"
PAGES, ROUNDS, PAUSE, INTERVAL = 256, 30, "0.3", 0.5  # TCG runs Python ~20x slower


def main() -> None:
    spec = importlib.util.spec_from_file_location("record_prog", PROG)
    prog = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(prog)  # type: ignore[union-attr]
    print("kernel", os.uname().release)
    probes = probe_sources(None)
    for name, (ok, why) in probes.items():
        print(f"{name:<13} {'available' if ok else 'not available: ' + why}")
    os.environ["RECORD_PROG_INFO"] = "/mnt/info.json"
    rows = []
    for source in ["auto", *(s for s in SOURCES if probes[s][0] and s != "pagemap-scan")]:
        target = Target.start([sys.executable, PROG, str(PAGES), str(ROUNDS), PAUSE])
        if source == "auto":
            c = choose_source(target, "auto")
            print("auto chooses:", c.description)
            for note in c.notes:
                print("  not used:", note)
        r = record(target, f"/mnt/{source}.trace", source=source, interval_s=INTERVAL)
        with open("/mnt/info.json") as f:
            lo = json.load(f)["addr"] // 4096
        written = {lo + i for i in prog.written(PAGES)}
        touched = written | {lo + i for i in prog.read_only(PAGES)}
        s = read_samples(f"/mnt/{source}.trace", lo, lo + PAGES)
        exact = all(s.last_bytes[v] == prog.page_bytes(v - lo, ROUNDS - 1) for v in written)
        rows.append((score(r.source, s, touched, written), exact, r))
    print(SourceScore.HEADER, "exact-bytes ms/sample")
    for sc, exact, r in rows:
        print(sc.row(), exact, f"{r.sample_ms_mean:.1f}")


if __name__ == "__main__":
    main()
