"""``designs`` on an access trace: every design under the same memory limit, reclaim deciding
what goes out. The mainline model comes close to the simulated kernel's own access replay under
the same settings; the RFC's ghost, which keeps the pages zswap rejects resident, runs out of
memory where the designs with writeback do not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ghostswap_cli.designs.base import ROWS
from ghostswap_cli.designs.pressure import PRESSURE_ROWS

PAGE = Path(__file__).resolve().parents[2] / "man" / "ghostswap-designs.1"


@pytest.fixture(scope="module")
def zipf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Zipf hot/cold workload: 8000 accesses to 1000 pages (4 MiB), a quarter of them random
    (incompressible) contents."""
    from click.testing import CliRunner

    from ghostswap_cli.cli import cli

    path = tmp_path_factory.mktemp("pressure") / "zipf.gstrace"
    r = CliRunner().invoke(cli, ["trace", "synth", "-o", str(path), "--format", "binary",
                                 "--workload", "zipf", "--events", "8000", "--working-set", "1000",
                                 "--seed", "1"])
    assert r.exit_code == 0, r.output
    return path


def test_mainline_model_against_the_kernels_access_replay(zipf: Path, designs_json) -> None:
    r = designs_json(zipf, "--memory-max", "2M", "--compressor", "lz4",
                     "--designs", "mainline-6.18,swap-table,vswap-24")
    assert r["config"]["mode"] == "memory-pressure"
    assert r["config"]["memory"] == {"memory_max_bytes": 2 << 20, "memory_high_bytes": None,
                                     "memory_swap_max_bytes": None, "swappiness": 60,
                                     "reclaim_policy": "lru"}
    o = r["oracle"]
    assert o["corrupt_pages"] == r["corrupt_pages"] == 0 and r["verified_pages"] == o["swap_ins"] > 0
    m = r["designs"]["mainline-6.18"]
    # the same reclaim and the same slot/zswap policy: faults back within 5%; more swap-outs
    # (within 20%), since the model keeps no page in the swap cache after a read, so a page read
    # back and reclaimed again is swapped out again where the kernel just drops its clean copy
    assert m["swap_ins"] == pytest.approx(o["swap_ins"], rel=0.05)
    assert m["refaults"] == pytest.approx(o["refaults"], rel=0.05)
    assert o["swap_outs"] <= m["swap_outs"] <= 1.2 * o["swap_outs"]
    assert not m["oom_killed"] and not o["oom_killed"]
    assert m["memory_peak_bytes"] <= 2 << 20
    # the swap designs see the same pressure (the same pages go out), their metadata differs
    t, v = r["designs"]["swap-table"], r["designs"]["vswap-24"]
    assert t["swap_outs"] == v["swap_outs"] == m["swap_outs"]
    assert t["metadata_peak_bytes"] < m["metadata_peak_bytes"]
    assert r["rows"] == [row.key for row in (*ROWS, *PRESSURE_ROWS)]
    assert set(m) == {row.key for row in (*ROWS, *PRESSURE_ROWS)}


def test_the_rfc_ghost_runs_out_of_memory_where_writeback_does_not(zipf: Path, designs_json) -> None:
    r = designs_json(zipf, "--memory-max", "1M", "--compressor", "lz4",
                     "--designs", "mainline-6.18,ghost-rfc,ghost-redirect,vswap-24")
    g = r["designs"]["ghost-rfc"]
    assert g["oom_killed"] and g["oom_at_access"] < 8000
    assert g["kept_resident_rejected"] > 0 and g["written_direct"] == g["written_back"] == 0
    for name in ("mainline-6.18", "ghost-redirect", "vswap-24"):
        d = r["designs"][name]
        assert not d["oom_killed"] and d["oom_at_access"] is None, name
        assert d["written_direct"] > 0 and d["kept_resident"] == 0, name
    assert not r["oracle"]["oom_killed"]


def test_mglru(zipf: Path, designs_json) -> None:
    r = designs_json(zipf, "--memory-max", "2M", "--reclaim-policy", "mglru", "--compressor", "lz4",
                     "--designs", "swap-table")
    assert r["config"]["memory"]["reclaim_policy"] == "mglru"
    d, o = r["designs"]["swap-table"], r["oracle"]
    assert d["swap_ins"] == pytest.approx(o["swap_ins"], rel=0.1) and not d["oom_killed"]


def test_memory_settings_need_an_access_trace(run_cli, zipf: Path) -> None:
    r = run_cli("designs", zipf)  # no limit: nothing would be swapped
    assert r.exit_code == 1
    assert r.stderr == (f"ghostswap: {zipf}: an access trace: give --memory-max, the limit its "
                        "process runs under\n")
    from ghostswap_cli.cli.demo import example_trace

    r = run_cli("designs", example_trace(), "--swappiness", "10")
    assert r.exit_code == 1
    assert r.stderr == (f"ghostswap: {example_trace()}: --memory-max (like every memory setting) "
                        "needs an access trace (read/write events); this one has swap events\n")
    r = run_cli("designs", example_trace(), "--memory-max", "lots")
    assert r.exit_code == 2 and "'lots' is not a size" in r.stderr


def test_the_table_and_the_documented_json(zipf: Path, run_cli, designs_json) -> None:
    r = run_cli("designs", zipf, "--memory-max", "1M", "--memory-high", "768K", "--swappiness",
                "100", "--compressor", "lz4", "--designs", "swap-table")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert re.search(r"^memory +memory.max 1 MiB, memory.high 768 KiB, memory.swap.max max, "
                     r"swappiness 100, reclaim lru; one cgroup per design$", out, re.M)
    assert re.search(r"^kernel replay +distro-6.18, one [\d.]+ MiB real swapfile: \d+ swap-outs", out, re.M)
    for row in PRESSURE_ROWS:
        assert re.search(rf"^{re.escape(row.label)} ", out, re.M), row.label
    # the keys an access trace adds are the ones JSON OUTPUT lists for it
    j = designs_json(zipf, "--memory-max", "1M", "--compressor", "lz4", "--designs", "swap-table")
    src = PAGE.read_text().replace("\\-", "-")
    section = src[src.index(".I with an access trace\n"):src.index(".SH FILES\n")]
    bold = set(re.findall(r"^\.(?:BR?|RB \() ?([\w-]+)", section, re.M))
    assert set(j["config"]["memory"]) <= bold and set(j["profile"]) <= bold
    assert set(j["oracle"]) <= bold
    assert {row.key for row in PRESSURE_ROWS} <= bold
