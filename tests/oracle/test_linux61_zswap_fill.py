"""The zswap fill of a real Linux 6.1, replayed through ghostswap's ``distro-6.1`` kernel.

recorded/zswap-fill.json (tests/fixtures/linux-6.1/record.py) holds the debugfs counters of a
real 6.1 after each stage of the fill, for zsmalloc with lz4 and zstd, zbud with lz4 and z3fold
with zstd: 64 MiB of text written to a tmpfs file in a memory cgroup and reclaimed into zswap
with ``memory.reclaim``, the first quarter read back, then every other 64 KiB of the next
32 MiB (shmem frees a swap entry as soon as its page is read back, so each read frees the
zswap entry), then the file removed.

Here the same pages go out in file order (reclaim takes the oldest first), the same ranges
come back in, and the rest is freed. ``pool_total_size`` and ``stored_pages`` must be within
10% of the kernel's at every stage. Why not exact: the kernel also stored about 64 pages of
the shell's own memory, and left about as many file pages resident; its reclaim visits pages
in LRU batches, not strictly in file order (that moves objects between zspages, so holes fall
a little differently).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from ghostswap_cli.kernel.machine import open_kernel
from ghostswap_cli.kernel.procfs import write_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "linux-6.1"
TOLERANCE = 0.10


def _cases():
    if "linux61_cases" in sys.modules:
        return sys.modules["linux61_cases"]
    spec = importlib.util.spec_from_file_location("linux61_cases", FIXTURES / "cases.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["linux61_cases"] = module
    spec.loader.exec_module(module)
    return module


C = _cases()


def _recorded() -> dict:
    path = FIXTURES / "recorded" / "zswap-fill.json"
    if not path.exists():
        pytest.skip("zswap-fill.json not recorded (run tests/fixtures/linux-6.1/record.py)")
    return json.loads(path.read_text())


def replay_fill(run_cli, state: Path, swap: Path, zpool: str, compressor: str) -> dict:
    """The fill's stages through the simulated 6.1; the counters after each, as recorded."""
    assert run_cli("kernel", "init", "--force", "--config", "distro-6.1", "--ram", "512M",
                   "--backing-rotational", "1").exit_code == 0
    with open(swap, "wb") as f:
        f.write(bytes(72 << 20))
    assert run_cli("mkswap", swap).exit_code == 0
    swap.chmod(0o600)
    data = C.fill_data()
    ps = C.PAGE
    npages = len(data) // ps
    out: dict[str, dict[str, int]] = {}
    with open_kernel(state) as k:
        for path, value in (("zpool", zpool), ("compressor", compressor), ("enabled", "Y")):
            write_file(k, "/sys/module/zswap/parameters/" + path, value)
    assert run_cli("swapon", swap).exit_code == 0

    def counters(stage: str, k) -> None:
        out[stage] = {"pool_total_size": k.pool_pages * ps,
                      "stored_pages": k.zswap_stored_pages(),
                      "same_filled_pages": k.counters["same_filled_pages"]}

    with open_kernel(state) as k:
        mm = k.mm
        for vpn in range(npages):
            mm.swap_out(vpn, data[vpn * ps:(vpn + 1) * ps])
        counters("reclaimed", k)
        reads = C.fill_reads()
        swapped = set(range(npages))
        for stage, chunk in (("read-first-quarter", reads[:1]), ("read-alternate", reads[1:])):
            for off, length in chunk:
                for vpn in range(off // ps, (off + length) // ps):
                    if vpn in swapped:
                        mm.swap_in(vpn)
                        swapped.discard(vpn)
            counters(stage, k)
        for vpn in range(npages):
            mm.free(vpn)
        counters("removed", k)
    return out


@pytest.mark.parametrize("zpool,compressor", C.FILL_COMBOS, ids=lambda v: str(v))
def test_fill_matches_linux_6_1(zpool, compressor, run_cli, state_dir, tmp_path):
    rec = _recorded()["stages"][f"{zpool}:{compressor}"]
    ours = replay_fill(run_cli, state_dir, tmp_path / "swap", zpool, compressor)
    for stage in C.FILL_STAGES[:-1]:
        for key in ("pool_total_size", "stored_pages"):
            theirs = rec[stage][key]
            mine = ours[stage][key]
            assert abs(mine - theirs) <= TOLERANCE * theirs, (
                f"{zpool}/{compressor} {stage} {key}: ghostswap {mine}, Linux 6.1 {theirs}")
    # the kernel keeps ~64 objects of the shell's own pages after the file is gone; the
    # simulated machine has nothing but the file
    assert ours["removed"]["stored_pages"] == 0 and ours["removed"]["pool_total_size"] == 0
