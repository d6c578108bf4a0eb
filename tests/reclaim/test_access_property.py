"""Property test: any access trace (reads, writes of every content kind, frees, in any order)
replays under any limit without a corrupt page, keeps the cgroup's accounting consistent and
leaves no slot behind when the process exits."""

from __future__ import annotations

import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghostswap_cli.cli import cli
from ghostswap_cli.codec.trace import open_trace, open_trace_writer
from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.replay.access_replay import AccessOptions, replay_access_trace

CONTENTS = ["zero", "fill:0x5a", "text:1", "text:2", "random:1", "random:2", "fill:0x0000000000000001"]
event = st.tuples(st.sampled_from(["r", "w", "f"]), st.integers(0, 300), st.sampled_from(CONTENTS))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(event, min_size=1, max_size=1500), st.integers(24, 200), st.sampled_from(["lru", "mglru"]),
       st.sampled_from(["distro-6.1", "distro-6.18"]), st.sampled_from(["binary", "text"]))
def test_any_access_trace(events, limit_pages, policy, config, fmt) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        state = tmp / "state"
        for args in (["kernel", "init", "--ram", "64M", "--config", config],
                     ["mkswap", "--file", "--size", "4M", str(tmp / "s.swap")], ["swapon", str(tmp / "s.swap")]):
            assert CliRunner().invoke(cli, ["--state", str(state), *args]).exit_code == 0
        trace = tmp / "t.trace"
        with open_trace_writer(trace, fmt) as w:
            for op, vpn, content in events:
                if op == "r":
                    w.read(vpn)
                elif op == "w":
                    w.write(vpn, content)
                else:
                    w.free(vpn)
        with open_kernel(state) as k, open_trace(trace) as r:
            rep = replay_access_trace(k, r, AccessOptions(memory_max=str(limit_pages * 4096), policy=policy))
            assert rep.corrupt_pages == 0
            c = rep.counters
            assert rep.refaults <= rep.swap_ins
            assert c["zswpin"] + c["pswpin"] + c["swpin_zero"] <= rep.swap_ins
            assert rep.accesses + (1 if rep.oom_killed else 0) <= len([e for e in events if e[0] != "f"]) + 1
            # the process exited: every slot and zswap entry it held is free again
            assert all(si.inuse_pages == 0 for si in k.active())
            assert k.zswap.stored_pages == 0
