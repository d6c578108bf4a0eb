"""Access replays through the CLI: the kernel decides what is swapped under the cgroup limits;
pages come back with their bytes; counters land in /proc/vmstat and memory.stat; OOM, ghost
swapfiles, memory.high, memory.swap.max and memory.zswap.max behave as the kernel's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def machine(tmp_path: Path, run_cli):
    state = tmp_path / "state"

    def g(*args: str):
        return run_cli("--state", state, *args)

    assert g("kernel", "init", "--ram", "256M").exit_code == 0
    return g


def synth(g, path: Path, workload: str = "zipf", events: int = 6000, pages: int = 1024, *extra: str) -> Path:
    r = g("trace", "synth", "--no-progress", "--workload", workload, "--events", str(events),
          "--working-set", str(pages), "--format", "binary", "-o", str(path), *extra)
    assert r.exit_code == 0, r.output
    return path


def replay(g, trace: Path, *args: str) -> dict:
    r = g("replay", "--no-progress", "--json", str(trace), *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_reclaim_under_memory_max(tmp_path: Path, machine) -> None:
    g = machine
    assert g("mkswap", "--file", "--size", "32M", str(tmp_path / "real.swap")).exit_code == 0
    assert g("swapon", str(tmp_path / "real.swap")).exit_code == 0
    trace = synth(g, tmp_path / "z.gst")
    free = replay(g, trace)
    assert free["swap_outs"] == 0 and free["refaults"] == 0 and free["memory_max"] is None
    d = replay(g, trace, "--memory-max", "2M")
    assert d["memory_max"] == 2 << 20
    assert d["swap_outs"] > 100 and d["refaults"] > 50 and d["corrupt_pages"] == 0
    assert not d["oom_killed"]
    c = d["counters"]
    assert c["zswpout"] + c["pswpout"] + c["swpout_zero"] == d["swap_outs"]
    assert c["workingset_refault_anon"] == d["refaults"] == c["zswpin"] + c["pswpin"] + c["swpin_zero"]
    assert c["pgsteal_direct"] >= d["swap_outs"] - c["pswpout"]
    assert d["peak_memory"] <= (2 << 20) + 64 * 4096  # the limit, plus what zswap charges in reclaim
    assert d["refault_rate"]["per_1k_accesses"] > 0 and d["swap_out_rate"]["per_s"] > 0
    # the process exited: no slot is left used, the counters stay
    swaps = g("cat", "/proc/swaps").output.splitlines()[1].split()
    assert swaps[3] == "0"
    vm = dict(line.split() for line in g("cat", "/proc/vmstat").output.splitlines())
    assert int(vm["workingset_refault_anon"]) == d["refaults"]
    assert int(vm["pgscan_direct"]) == c["pgscan_direct"] > 0
    stat = dict(line.split() for line in g("cat", "/sys/fs/cgroup/workload/memory.stat").output.splitlines())
    assert int(stat["pgsteal"]) == c["pgsteal_direct"] and stat["anon"] == "0"
    # less memory, more refaults
    tight = replay(g, trace, "--memory-max", "1M")
    assert tight["refaults"] > d["refaults"]


def test_limits_from_write_and_the_text_report(tmp_path: Path, machine) -> None:
    g = machine
    assert g("mkswap", "--file", "--size", "32M", str(tmp_path / "real.swap")).exit_code == 0
    assert g("swapon", str(tmp_path / "real.swap")).exit_code == 0
    trace = synth(g, tmp_path / "z.gst", "phases")
    assert g("write", "/sys/fs/cgroup/workload/memory.max", "2M").exit_code == 0
    assert g("cat", "/sys/fs/cgroup/workload/memory.max").output == "2097152\n"
    r = g("replay", "--no-progress", str(trace))
    assert r.exit_code == 0, r.output
    assert "limits            memory.max 2 MiB" in r.output
    assert "refaults" in r.output and "OOM kills         0" in r.output
    bad = g("write", "/proc/sys/vm/swappiness", "201")
    assert bad.exit_code == 1 and "Invalid argument" in bad.output
    assert g("write", "/sys/fs/cgroup/workload/memory.max", "12q").exit_code == 1


def test_oom_without_swap(tmp_path: Path, machine) -> None:
    g = machine
    trace = synth(g, tmp_path / "z.gst", "leaky")
    d = replay(g, trace, "--memory-max", "1M")
    assert d["oom_killed"] and d["accesses"] < 6000 and d["swap_outs"] == 0
    vm = dict(line.split() for line in g("cat", "/proc/vmstat").output.splitlines())
    assert vm["oom_kill"] == "1"
    # memory.high alone never kills
    h = replay(g, trace, "--memory-high", "1M")
    assert not h["oom_killed"] and h["accesses"] == 6000


def test_ghost_write_failure_keeps_pages_resident(tmp_path: Path, machine) -> None:
    g = machine
    assert g("mkswap", "--ghost", "--size", "64M", str(tmp_path / "ghost.swap")).exit_code == 0
    assert g("swapon", str(tmp_path / "ghost.swap")).exit_code == 0
    trace = synth(g, tmp_path / "r.gst", "zipf", 4000, 512, "--mix", "random=1")
    d = replay(g, trace, "--memory-max", "1M")
    # incompressible pages: zswap rejects them, the ghost cannot write them: they stay
    assert d["stayed_resident"] > 0 and d["counters"]["pswpout"] == 0
    assert d["oom_killed"]  # nothing can leave memory: the kernel kills the process


def test_swap_and_zswap_limits(tmp_path: Path, machine) -> None:
    g = machine
    assert g("mkswap", "--file", "--size", "32M", str(tmp_path / "real.swap")).exit_code == 0
    assert g("swapon", str(tmp_path / "real.swap")).exit_code == 0
    trace = synth(g, tmp_path / "t.gst", "zipf", 5000, 1024, "--mix", "text=1")
    d = replay(g, trace, "--memory-max", "2M", "--memory-zswap-max", "0")
    assert d["counters"]["zswpout"] == 0 and d["counters"]["pswpout"] > 0
    s = replay(g, trace, "--memory-max", "2M", "--memory-swap-max", "64K")
    assert s["peak_swap_pages"] <= 16


def test_mglru_policy(tmp_path: Path, machine) -> None:
    g = machine
    assert g("mkswap", "--file", "--size", "32M", str(tmp_path / "real.swap")).exit_code == 0
    assert g("swapon", str(tmp_path / "real.swap")).exit_code == 0
    trace = synth(g, tmp_path / "z.gst")
    assert g("write", "/sys/kernel/mm/lru_gen/enabled", "y").exit_code == 0
    assert g("cat", "/sys/kernel/mm/lru_gen/enabled").output == "0x0007\n"
    d = replay(g, trace, "--memory-max", "2M")
    assert d["policy"] == "mglru" and d["swap_outs"] > 0 and d["corrupt_pages"] == 0
    lru = replay(g, trace, "--memory-max", "2M", "--reclaim-policy", "lru")
    assert lru["policy"] == "lru"


def test_swap_events_do_not_mix_with_access_events(tmp_path: Path, machine) -> None:
    g = machine
    p = tmp_path / "mixed.trace"
    p.write_text("ghostswap-trace 2\nwrite 1 zero\nout 2 zero\n")
    r = g("replay", "--no-progress", str(p))
    assert r.exit_code != 0 and "swap events and access events do not mix" in r.output
