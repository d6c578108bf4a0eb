"""A sweep spec: traces, fixed settings, axes and figures, read from a small TOML file.

::

    mode = "replay"                      # or "designs" (the design lab)
    results = "grid.jsonl"               # relative to the spec [default: SPEC.jsonl]
    figures = ["compression_ratio", "pool_peak_size"]

    [traces]
    example = "traces/example.trace"     # a trace file, relative to the spec
    hot = { synth = { events = 3000, working-set = 800, seed = 1 } }   # a `trace synth` recipe

    [settings]                           # the same on every point
    ram = "256M"

    [axes]                               # the grid: every combination, times every trace
    compressor = ["lz4", "zstd"]
    "/sys/module/zswap/parameters/max_pool_percent" = [5, 20]

A setting's name says what it sets, resolved in this order: one of the sweep's own names
(``design``, ``compressor``, ``level``, ``ghost_size``, ``real_size``, ``pool_limit``,
``max_pool_percent``); a path starting with ``/`` (anything ``ghostswap write`` accepts); a machine
setting (anything ``ghostswap kernel reset`` takes: ``ram``, ``page_size``, ``personality`` ...);
a design-lab ``--param`` key (``vswap.entry_bytes`` ...). The kernel's own tables are consulted
when the spec is read, so a parameter added to the simulator is an axis without changes here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ghostswap_cli.errors import ToolError

__all__ = (
    "EXIT_USAGE",
    "MODES",
    "SWEEP_NAMES",
    "SpecError",
    "TraceSource",
    "Setting",
    "Spec",
    "Point",
    "load_spec",
    "parse_set_option",
    "resolve_setting",
    "expand_points",
    "point_key",
    "default_figures",
    "known_figure",
)

EXIT_USAGE = 2
MODES = ("replay", "designs")
# name -> modes it applies to
SWEEP_NAMES: dict[str, tuple[str, ...]] = {
    "design": ("designs",),
    "compressor": ("replay", "designs"),
    "level": ("replay",),
    "ghost_size": ("replay", "designs"),
    "real_size": ("replay", "designs"),
    "pool_limit": ("designs",),
    "max_pool_percent": ("replay", "designs"),
}
TOP_LEVEL = {"mode", "results", "figures", "allow_dirs", "traces", "settings", "axes"}

REPLAY_FIGURES = (
    "swapped_out", "swapped_in", "stored_pages", "zero_pages", "compression_ratio",
    "pool_peak_size", "written_back_pages", "stayed_resident", "no_swap_space", "corrupt_pages",
)
DESIGNS_FIGURES = (
    "metadata_peak_bytes", "metadata_mean_bytes", "pool_peak_bytes", "disk_held_peak_bytes",
    "kept_resident", "written_back", "lookups_per_swapin", "corrupt_pages",
)


class SpecError(ToolError):
    """The spec (or a --set) is wrong: one line naming the file and what is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


@dataclasses.dataclass(frozen=True)
class TraceSource:
    name: str
    path: Path | None = None  # a trace file
    synth: tuple[tuple[str, Any], ...] = ()  # a `trace synth` recipe: (option, value) pairs

    def describe(self) -> str:
        if self.path is not None:
            return str(self.path)
        return "trace synth " + " ".join(f"--{k} {v}" for k, v in self.synth)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting, resolved: ``kind`` is a sweep name, ``sysfs``, ``machine`` or ``lab``."""

    name: str
    kind: str
    value: Any  # canonical: sizes in bytes, real_size a list of byte counts


@dataclasses.dataclass
class Spec:
    path: Path
    mode: str
    results: Path
    figures: list[str]
    traces: dict[str, TraceSource]
    settings: list[Setting]  # fixed
    axes: dict[str, list[Setting]]  # axis name -> one resolved Setting per value
    allow_dirs: list[Path]


@dataclasses.dataclass(frozen=True)
class Point:
    key: str
    trace: str
    axes: tuple[tuple[str, Any], ...]  # (axis name, canonical value), in spec order
    payload: dict[str, Any]  # everything the worker needs (point.run_point)


# --- reading -------------------------------------------------------------------------------------


def load_spec(path: Path, overrides: Sequence[str] = (), results: Path | None = None) -> Spec:
    """Read ``path``, apply ``--set`` overrides, resolve and check every setting."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: No such file or directory") from None
    except OSError as e:
        raise SpecError(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not valid TOML: not UTF-8 text") from None
    where = str(path)
    unknown = sorted(set(raw) - TOP_LEVEL)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(TOP_LEVEL))})")
    base = path.parent
    traces = _traces(where, base, _table(where, raw, "traces"))
    fixed_raw = _table(where, raw, "settings")
    axes_raw = _table(where, raw, "axes")
    for name, values in axes_raw.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"{where}: axis {name!r} must be a non-empty list of values")
    for text in overrides:
        name, values = parse_set_option(text)
        fixed_raw.pop(name, None)
        axes_raw[name] = values
    trace_names = axes_raw.pop("trace", None)
    if trace_names is not None:
        missing = [str(n) for n in trace_names if str(n) not in traces]
        if missing:
            raise SpecError(f"{where}: no trace named {missing[0]!r} (traces: {', '.join(traces)})")
        traces = {str(n): traces[str(n)] for n in trace_names}
    if not traces:
        raise SpecError(f"{where}: no traces: add a [traces] table")
    mode = raw.get("mode")
    if mode is None:
        mode = _infer_mode([*fixed_raw, *axes_raw])
    if mode not in MODES:
        raise SpecError(f"{where}: mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "designs" and "design" not in fixed_raw and "design" not in axes_raw:
        from ghostswap_cli.designs import DESIGN_NAMES

        axes_raw["design"] = list(DESIGN_NAMES)  # one row per design, as the lab's table
    settings = [resolve_setting(where, mode, name, value) for name, value in fixed_raw.items()]
    axes: dict[str, list[Setting]] = {}
    for name, values in axes_raw.items():
        resolved = [resolve_setting(where, mode, name, v) for v in values]
        seen: set[str] = set()
        for s in resolved:
            canon = json.dumps(s.value)
            if canon in seen:
                raise SpecError(f"{where}: axis {name!r} lists {s.value!r} twice")
            seen.add(canon)
        axes[name] = resolved
    _check_kernel_settings(where, mode, settings, axes)
    figures = raw.get("figures", list(default_figures(mode)))
    if not isinstance(figures, list) or not figures or not all(isinstance(f, str) for f in figures):
        raise SpecError(f"{where}: figures must be a non-empty list of names")
    for f in figures:
        if not known_figure(mode, f):
            raise SpecError(f"{where}: unknown figure {f!r} for mode {mode} (see ghostswap-sweep(1))")
    if len(set(figures)) != len(figures):
        raise SpecError(f"{where}: a figure is named twice")
    clash = set(figures) & ({"key", "trace", "status", "error"} | set(axes))
    if clash:
        raise SpecError(f"{where}: figure {sorted(clash)[0]!r} has the name of a column")
    if results is None:
        name = raw.get("results")
        results = (base / name) if isinstance(name, str) and name else path.with_suffix(".jsonl")
    if results.resolve() == path.resolve():
        raise SpecError(f"{where}: the results file would replace the spec")
    allow = raw.get("allow_dirs", [])
    if not isinstance(allow, list) or not all(isinstance(d, str) for d in allow):
        raise SpecError(f"{where}: allow_dirs must be a list of folders")
    return Spec(path=path, mode=mode, results=results, figures=list(figures), traces=traces,
                settings=settings, axes=axes, allow_dirs=[base / d for d in allow])


def _infer_mode(names: list[str]) -> str:
    """designs when a name only the lab knows is set (design, pool_limit, a model parameter)."""
    from ghostswap_cli.designs import ALL_PARAMS

    lab_only = {n for n, modes in SWEEP_NAMES.items() if modes == ("designs",)} | set(ALL_PARAMS)
    return "designs" if lab_only & set(names) else "replay"


def _table(where: str, raw: dict[str, Any], name: str) -> dict[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise SpecError(f"{where}: {name} must be a table ([{name}])")
    return dict(table)


def _traces(where: str, base: Path, table: dict[str, Any]) -> dict[str, TraceSource]:
    out: dict[str, TraceSource] = {}
    for name, value in table.items():
        if isinstance(value, str):
            value = {"path": value}
        if not isinstance(value, dict) or len(value) != 1 or not ({"path", "synth"} & set(value)):
            raise SpecError(f"{where}: trace {name!r} must be a path or {{ synth = {{ ... }} }}")
        if "path" in value:
            if not isinstance(value["path"], str):
                raise SpecError(f"{where}: trace {name!r}: the path must be a string")
            out[name] = TraceSource(name, path=base / value["path"])
            continue
        recipe = value["synth"]
        if not isinstance(recipe, dict):
            raise SpecError(f"{where}: trace {name!r}: synth must be a table of trace synth options")
        for option in ("output", "o", "json", "no-progress", "no_progress"):
            if option in recipe:
                raise SpecError(f"{where}: trace {name!r}: synth option {option!r} is the sweep's")
        out[name] = TraceSource(name, synth=tuple((k.replace("_", "-"), v) for k, v in recipe.items()))
    return out


def parse_set_option(text: str) -> tuple[str, list[Any]]:
    """``--set NAME=V1,V2`` -> (NAME, [values]); numbers become numbers."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise SpecError(f"--set {text!r}: expected NAME=VALUE[,VALUE...]")
    return name, [_literal(v.strip()) for v in values.split(",")]


def _literal(text: str) -> Any:
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    if "+" in text:  # real_size=16M+8M: two real swapfiles
        return [_literal(t) for t in text.split("+")]
    return text


# --- settings ------------------------------------------------------------------------------------


def resolve_setting(where: str, mode: str, name: str, value: Any) -> Setting:
    """What ``name`` sets and its canonical value; SpecError when it does not apply."""
    from ghostswap_cli.designs import ALL_PARAMS, DESIGN_ALIASES, KNOWN_PARAMS
    from ghostswap_cli.kernel.params import MACHINE_PARAMS

    if name in KNOWN_PARAMS and name not in ALL_PARAMS:  # a renamed design's key: its new name
        old = name.split(".", 1)[0]
        name = DESIGN_ALIASES[old] + name[len(old):]
    if name in SWEEP_NAMES:
        kind = name
        modes = SWEEP_NAMES[name]
    elif name.startswith("/"):
        kind, modes = "sysfs", ("replay",)
    elif name in MACHINE_PARAMS:
        kind, modes = "machine", ("replay",)
    elif name in ALL_PARAMS:
        kind, modes = "lab", ("designs",)
    else:
        raise SpecError(
            f"{where}: unknown setting {name!r}: expected one of {', '.join(SWEEP_NAMES)}, a /sys "
            f"or /proc/sys path, a machine setting ({', '.join(MACHINE_PARAMS)}) or a design-lab "
            "parameter (ghostswap-designs(1))")
    if mode not in modes:
        raise SpecError(f"{where}: {name} applies to mode {' or '.join(modes)}, not {mode}")
    try:
        canon = _canonical(kind, name, value, mode)
    except (ValueError, TypeError) as e:
        raise SpecError(f"{where}: {name} = {value!r}: {e}") from None
    return Setting(name, kind, canon)


def _size(value: Any) -> int:
    from ghostswap_cli.units import SizeError, parse_size

    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("not a size (e.g. 64M, 1GiB, or bytes)")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    try:
        return parse_size(value)
    except SizeError:
        raise ValueError("not a size (e.g. 64M, 1GiB, or bytes)") from None


def _canonical(kind: str, name: str, value: Any, mode: str) -> Any:
    if kind == "design":
        from ghostswap_cli.designs import DESIGN_ALIASES, DESIGN_NAMES

        value = DESIGN_ALIASES.get(value, value)  # the old names of renamed designs
        if value not in DESIGN_NAMES:
            raise ValueError(f"no such design (choose from {', '.join(DESIGN_NAMES)})")
        return value
    if kind == "compressor":
        from ghostswap_cli.kernel.compressors import available_compressors

        if value not in available_compressors():
            raise ValueError(f"compressor not available (available: {', '.join(available_compressors())})")
        return value
    if kind in ("level", "max_pool_percent"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("not an integer")
        if kind == "max_pool_percent" and not 0 <= value <= 100:
            raise ValueError("must be 0 to 100")
        return value
    if kind == "ghost_size":
        if value in ("none", 0) and mode == "replay":
            return 0
        if value == "auto" and mode == "designs":
            return "auto"
        return _size(value)
    if kind == "real_size":
        if value in ("none", 0):
            return []
        return [_size(v) for v in (value if isinstance(value, list) else [value])]
    if kind == "pool_limit":
        return _size(value)
    if kind == "machine":
        from ghostswap_cli.kernel.params import parse_machine_value

        text = _text(value)
        try:
            checked = parse_machine_value(name, text)
        except ValueError as first:
            # as `kernel reset --ram 4G`: a size where the machine wants bytes
            try:
                size = _size(value)
            except ValueError:
                raise ValueError(str(first).removeprefix(f"{name}: ")) from None
            try:
                checked = parse_machine_value(name, str(size))
            except ValueError as e:
                raise ValueError(str(e).removeprefix(f"{name}: ")) from None
        return int(checked) if checked.isdigit() else checked
    if kind == "lab":
        from ghostswap_cli.designs import ALL_PARAMS, ParamError

        try:
            return ALL_PARAMS[name].parse(_text(value))
        except ParamError as e:
            raise ValueError(str(e)) from None
    if kind == "sysfs":
        if isinstance(value, list | dict):
            raise ValueError("one value, not a list")
        return value
    raise AssertionError(kind)  # pragma: no cover


def _text(value: Any) -> str:
    """The text `echo VALUE > PATH` would write: TOML booleans as the kernel's Y and N."""
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value)


def sysfs_text(value: Any) -> str:
    return _text(value)


def _check_kernel_settings(where: str, mode: str, settings: list[Setting],
                           axes: dict[str, list[Setting]]) -> None:
    """Write every /sys value once on a scratch kernel, so a value the kernel refuses is an error
    now, in ``ghostswap write``'s words, rather than a failed point later."""
    paths = [s for s in settings if s.kind == "sysfs"]
    paths += [s for values in axes.values() for s in values if s.kind == "sysfs"]
    if mode != "replay" or not paths:
        return
    import tempfile

    from ghostswap_cli.errors import KernelError
    from ghostswap_cli.kernel.machine import open_kernel
    from ghostswap_cli.kernel.procfs import write_file

    with tempfile.TemporaryDirectory(prefix="ghostswap-sweep-check-") as tmp, \
            open_kernel(Path(tmp) / "state") as k:
        for s in paths:
            try:
                write_file(k, s.name, sysfs_text(s.value))
            except KernelError as e:
                raise SpecError(f"{where}: write error: {s.name}: {e.strerror}") from None


# --- the grid ------------------------------------------------------------------------------------


def default_figures(mode: str) -> tuple[str, ...]:
    return REPLAY_FIGURES if mode == "replay" else DESIGNS_FIGURES


def replay_figure_names() -> set[str]:
    from ghostswap_cli.replay.trace_replay import ReplayReport

    return {f.name for f in dataclasses.fields(ReplayReport)} - {
        "trace", "rejected", "counters", "devices", "corrupt_vpns", "elapsed", "pool_samples"}


def designs_figure_names() -> set[str]:
    from ghostswap_cli.designs.base import ROWS
    from ghostswap_cli.designs.lab import LabReport

    lab = {f.name for f in dataclasses.fields(LabReport)} - {
        "trace", "oracle", "profile", "config", "params", "designs", "elapsed"}
    return lab | {"compression_ratio"} | {r.key for r in ROWS}


def known_figure(mode: str, name: str) -> bool:
    """A report field, or a dotted path into one of its tables (``rejected.pool_limit``,
    ``counters.pswpout``, ``profile.p99``, ``config.ghost_size_bytes``)."""
    head, dot, tail = name.partition(".")
    if mode == "replay":
        names, tables = replay_figure_names(), ("rejected", "counters")
    else:
        names, tables = designs_figure_names(), ("profile", "config", "oracle")
    return name in names or (bool(dot) and head in tables and bool(tail) and "." not in tail)


def point_key(payload: dict[str, Any]) -> str:
    """A hash of everything that decides a point's result (and nothing else)."""
    from ghostswap_cli import __version__

    inputs = {
        "ghostswap": __version__,
        "mode": payload["mode"],
        "trace": [payload["trace"]["name"], payload["trace"]["sha256"]],
        "settings": sorted([s[0], s[1], s[2]] for s in payload["settings"]),
        "figures": payload["figures"],
        "allow_dirs": payload["allow_dirs"],
    }
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def expand_points(spec: Spec, traces: dict[str, tuple[str, str]]) -> list[Point]:
    """Every point of the grid: traces × axes in spec order. ``traces``: name -> (path, sha256)."""
    names = list(spec.axes)
    combos: Iterable[tuple[Setting, ...]] = itertools.product(*spec.axes.values())
    points = []
    for trace, combo in itertools.product(list(spec.traces), list(combos)):
        path, digest = traces[trace]
        payload = {
            "mode": spec.mode,
            "trace": {"name": trace, "path": path, "sha256": digest},
            "settings": [[s.name, s.kind, s.value] for s in (*spec.settings, *combo)],
            "figures": list(spec.figures),
            "allow_dirs": [str(d) for d in spec.allow_dirs],
        }
        key = point_key(payload)
        payload["key"] = key
        points.append(Point(key, trace, tuple(zip(names, (s.value for s in combo), strict=True)),
                            payload))
    return points
