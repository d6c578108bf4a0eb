"""Reading a sweep spec: every setting resolved through the kernel's and the lab's own tables,
bad input refused in one line before anything runs, and point keys that follow the inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostswap_cli.errors import ToolError
from ghostswap_cli.sweep.runner import plan
from ghostswap_cli.sweep.spec import SpecError, load_spec, parse_set_option, resolve_setting

from .conftest import GRID, write_spec


def test_grid_is_traces_times_axes(grid: Path):
    spec = load_spec(grid)
    assert spec.mode == "replay"
    assert spec.results == grid.with_suffix(".jsonl")
    assert [(s.name, s.kind, s.value) for s in spec.settings] == [("ram", "machine", 32 << 20)]
    assert {n: [s.kind for s in v] for n, v in spec.axes.items()} == {
        "compressor": ["compressor"] * 2, "max_pool_percent": ["max_pool_percent"] * 2}
    points = plan(spec)
    assert len(points) == 2 * 2 * 2
    assert len({p.key for p in points}) == 8
    assert [p.trace for p in points[:4]] == ["hot"] * 4
    assert points[0].axes == (("compressor", "lz4"), ("max_pool_percent", 1))
    # the recipe was made once by `trace synth`, into the cache beside the results
    cached = sorted(p.name for p in (grid.parent / "grid.traces").iterdir())
    assert len(cached) == 2 and cached[0].startswith("flat-")


def test_keys_are_stable_and_follow_every_input(grid: Path):
    keys = [p.key for p in plan(load_spec(grid))]
    assert keys == [p.key for p in plan(load_spec(grid))]  # the same inputs, the same keys
    other = write_spec(grid.parent, GRID.replace('ram = "32M"', 'ram = "48M"'), "other.toml")
    assert not set(keys) & {p.key for p in plan(load_spec(other))}
    figures = write_spec(grid.parent, GRID.replace('"corrupt_pages"]', '"zero_pages"]'), "f.toml")
    assert not set(keys) & {p.key for p in plan(load_spec(figures))}
    # a trace file's key is its content's hash: change a byte, the points change
    trace = grid.parent / "t.trace"
    trace.write_text("# page-size 4096\nout 0x1 zero\nin 0x1\n")
    one = write_spec(grid.parent, '[traces]\nt = "t.trace"\n', "one.toml")
    before = plan(load_spec(one))[0].key
    trace.write_text("# page-size 4096\nout 0x2 zero\nin 0x2\n")
    assert plan(load_spec(one))[0].key != before


def test_set_replaces_an_axis_and_picks_traces(grid: Path):
    spec = load_spec(grid, ["max_pool_percent=5,10,20", "trace=flat", "real_size=16M+8M,4M"])
    assert [s.value for s in spec.axes["max_pool_percent"]] == [5, 10, 20]
    assert list(spec.traces) == ["flat"]
    assert [s.value for s in spec.axes["real_size"]] == [[16 << 20, 8 << 20], [4 << 20]]
    assert parse_set_option("real_size=16M+8M,4M") == ("real_size", [["16M", "8M"], "4M"])


def test_any_writable_kernel_path_and_machine_setting_is_an_axis(grid: Path):
    from ghostswap_cli.kernel.params import MACHINE_PARAMS, PARAMS

    for path, p in PARAMS.items():
        s = resolve_setting("x", "replay", path, p.default or "lz4")
        assert s.kind == "sysfs"
    for name, p in MACHINE_PARAMS.items():
        assert resolve_setting("x", "replay", name, p.default).kind == "machine"
    assert resolve_setting("x", "replay", "ram", "1G").value == 1 << 30
    assert resolve_setting("x", "designs", "vswap.entry_bytes", 64).kind == "lab"


@pytest.mark.parametrize("body,message", [
    ('[axes]\nswappiness_typo = [1]', "unknown setting 'swappiness_typo'"),
    ('[axes]\n"/sys/module/zswap/parameters/max_pool_percent" = ["lots"]',
     "write error: /sys/module/zswap/parameters/max_pool_percent: Invalid argument"),
    ('[axes]\n"/sys/module/zswap/parameters/nope" = [1]',
     "write error: /sys/module/zswap/parameters/nope: No such file or directory"),
    ('[axes]\n"/sys/kernel/debug/zswap/stored_pages" = [1]',
     "write error: /sys/kernel/debug/zswap/stored_pages: Permission denied"),
    ('[axes]\ncompressor = ["lz5"]', "compressor not available"),
    ('[axes]\nram = ["1M"]', "RAM must be at least 16 MiB"),
    ('[axes]\ncompressor = ["lz4", "lz4"]', "axis 'compressor' lists 'lz4' twice"),
    ('[axes]\ncompressor = []', "must be a non-empty list"),
    ('[axes]\ndesign = ["ghost"]\nram = ["1G"]', "ram applies to mode replay, not designs"),
    ('mode = "replay"\n[axes]\npool_limit = ["1M"]', "pool_limit applies to mode designs, not replay"),
    ('figures = ["speed"]', "unknown figure 'speed' for mode replay"),
    ('mode = "fast"', "mode must be one of replay, designs"),
    ('colour = 1', "unknown key 'colour'"),
    ('[settings]\nghost_size = "big"', "not a size"),
])
def test_bad_specs_are_one_line_errors(tmp_path: Path, body: str, message: str):
    spec = write_spec(tmp_path, body + '\n[traces]\nt = "t.trace"\n' if not body.startswith("[")
                      else '[traces]\nt = "t.trace"\n' + body)
    (tmp_path / "t.trace").write_text("# page-size 4096\nout 0x1 zero\n")
    with pytest.raises(SpecError) as e:
        load_spec(spec)
    assert message in str(e.value)
    assert "\n" not in str(e.value) and e.value.exit_status == 2


def test_missing_trace_and_bad_recipe(tmp_path: Path):
    spec = write_spec(tmp_path, '[traces]\nt = "missing.trace"\n')
    with pytest.raises(ToolError, match="missing.trace: No such file or directory"):
        plan(load_spec(spec))
    spec = write_spec(tmp_path, "[traces]\nt = { synth = { events = 10, working-set = 0 } }\n")
    with pytest.raises(ToolError, match="trace t: trace synth: .*working-set"):
        plan(load_spec(spec))
    assert not list((tmp_path / "grid.traces").iterdir())  # nothing half-made left


def test_not_toml(tmp_path: Path):
    spec = write_spec(tmp_path, "[traces\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(spec)
    with pytest.raises(SpecError, match="No such file"):
        load_spec(tmp_path / "none.toml")


def test_designs_mode_makes_design_an_axis(tmp_path: Path):
    spec = write_spec(tmp_path, 'mode = "designs"\n[traces]\nt = "t.trace"\n'
                      '[axes]\npool_limit = ["64K", "1M"]\n')
    spec = load_spec(spec)
    assert [s.value for s in spec.axes["design"]] == [
        "mainline-6.18", "swap-table", "swap-tiers", "ghost-rfc", "ghost-grow", "ghost-redirect",
        "swap-table-dynamic", "vswap-48", "vswap-24"]
    assert [s.value for s in spec.axes["pool_limit"]] == [64 << 10, 1 << 20]
