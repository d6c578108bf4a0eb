"""Kernel parameters: the machine's fixed configuration and the writable sysfs knobs.

The zswap module parameters mirror ``/sys/module/zswap/parameters/`` (mm/zswap.c, 6.18: no
``zpool``; 6.1: ``zpool``, ``same_filled_pages_enabled`` and ``non_same_filled_pages_enabled``,
no ``shrinker_enabled``, see ``PARAMS_6_1``); values are parsed as the kernel's ``param_set_bool`` (kstrtobool), ``param_set_uint``
(kstrtouint) and ``param_set_uint_minmax`` do, and shown as the kernel shows them (``Y``/``N``).
ghostswap's own knobs live under ``/sys/kernel/ghostswap/`` so they are never mistaken for the
kernel's.
"""

from __future__ import annotations

import dataclasses
import errno
import re
from collections.abc import Callable

from ghostswap_cli.errors import KernelError
from ghostswap_cli.uapi import PAGE_SIZES, KernelConfig, max_swapfiles

__all__ = (
    "Param",
    "PARAMS",
    "MACHINE_PARAMS",
    "kstrtobool",
    "kstrtouint",
    "parse_machine_value",
    "PERSONALITIES",
    "CONFIG_NAMES",
    "config_release",
    "params_for",
    "resolve_machine",
    "combination_problem",
)

PERSONALITIES = ("ghost", "mainline")
CONFIG_NAMES = {
    "distro-6.1": KernelConfig.DISTRO_6_1,
    "distro-6.12": KernelConfig.DISTRO_6_12,
    "distro-6.18": KernelConfig.DISTRO_6_18,
    "minimal": KernelConfig.MINIMAL,
}
# The release whose behaviour each configuration simulates (log lines, zswap, debugfs).
# ``minimal`` is the 6.18 code with every option off.
_RELEASES = {"distro-6.1": "6.1", "distro-6.12": "6.12", "distro-6.18": "6.18", "minimal": "6.18"}
# Configurations the ghost swapfile RFC (posted against 6.18) cannot be applied to.
MAINLINE_ONLY = ("distro-6.1",)


def config_release(config_name: str) -> str:
    """``"6.1"``, ``"6.12"`` or ``"6.18"``: the release a configuration's behaviour is taken from."""
    return _RELEASES[config_name]


def combination_problem(machine: dict[str, str]) -> str | None:
    """Why a machine's personality and configuration cannot go together, or None."""
    config = machine.get("config")
    if config in MAINLINE_ONLY and machine.get("personality") == "ghost":
        return (f"the ghost personality needs the RFC, which applies to 6.18 only; "
                f"configuration {config} is mainline (use --personality mainline)")
    return None


def resolve_machine(values: dict[str, str], given: dict[str, str]) -> dict[str, str]:
    """The machine ``values`` with the settings ``given`` on top.

    A mainline-only configuration chosen without a personality brings the mainline personality
    with it; asking for the ghost personality on one is a ValueError.
    """
    out = dict(values)
    out.update(given)
    if out.get("config") in MAINLINE_ONLY and "personality" not in given:
        out["personality"] = "mainline"
    problem = combination_problem(out)
    if problem:
        raise ValueError(problem)
    return out


def kstrtobool(text: str) -> bool:
    """lib/kstrtox.c ``kstrtobool``: y/Y/1/on true, n/N/0/off false, else -EINVAL."""
    s = text.strip("\n")
    if s[:1] in ("y", "Y", "1"):
        return True
    if s[:1] in ("n", "N", "0"):
        return False
    if s[:1] in ("o", "O") and s[1:2] in ("n", "N"):
        return True
    if s[:1] in ("o", "O") and s[1:2] in ("f", "F"):
        return False
    raise KernelError(errno.EINVAL)


def kstrtouint(text: str) -> int:
    """``kstrtouint(s, 0, ...)``: decimal, 0x hex or 0 octal; one trailing newline allowed."""
    s = text[:-1] if text.endswith("\n") else text
    if s.startswith("+"):
        s = s[1:]
    value = kstrtouint_any(s)
    if value > 0xFFFFFFFF:
        raise KernelError(errno.ERANGE)
    return value


@dataclasses.dataclass(frozen=True)
class Param:
    path: str
    default: str
    parse: Callable[[str], str]  # text written -> canonical stored value; raises KernelError
    help: str


def _bool(text: str) -> str:
    return "Y" if kstrtobool(text) else "N"


def _uint(text: str) -> str:
    return str(kstrtouint(text))


def _percent(text: str) -> str:
    value = kstrtouint(text)
    if value > 100:
        raise KernelError(errno.EINVAL)
    return str(value)


def _level(text: str) -> str:
    s = text.strip()
    try:
        value = int(s)
    except ValueError:
        raise KernelError(errno.EINVAL) from None
    if not -7 <= value <= 22:
        raise KernelError(errno.EINVAL)
    return str(value)


def _string(text: str) -> str:
    # the kernel strstrip()s the value: `echo lz4 > compressor` writes "lz4\n"
    return text.strip()


ZSWAP = "/sys/module/zswap/parameters/"
GHOSTSWAP = "/sys/kernel/ghostswap/"
CGROUP = "/sys/fs/cgroup/workload/"  # the cgroup an access replay's process runs in
VM = "/proc/sys/vm/"
LRU_GEN = "/sys/kernel/mm/lru_gen/enabled"
MEMPARSE_SUFFIXES = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


def memparse(text: str) -> int:
    """lib/cmdline.c ``memparse``: a number (decimal, 0x hex, 0 octal) with an optional K, M,
    G, T, P or E suffix; -EINVAL for anything else."""
    m = re.fullmatch(_MEMPARSE, text.strip())
    if m is None:
        raise KernelError(errno.EINVAL)
    value = kstrtouint_any(m.group(1))
    if m.group(2):
        value <<= MEMPARSE_SUFFIXES[m.group(2).lower()]
    return value


# compiled (and cached by re) on first use: loading a state must not compile it
_MEMPARSE = r"(0[xX][0-9a-fA-F]+|[0-9]+)([kKmMgGtTpPeE]?)"


def kstrtouint_any(text: str) -> int:
    """Like ``kstrtoull(s, 0)``: decimal, 0x hex or 0 octal, no sign, up to 2**64 - 1."""
    s = text
    if not s or not all(c.isalnum() for c in s):
        raise KernelError(errno.EINVAL)
    try:
        if s.lower().startswith("0x"):
            value = int(s[2:], 16)
        elif s.startswith("0") and len(s) > 1:
            value = int(s[1:], 8)
        else:
            value = int(s, 10)
    except ValueError:
        raise KernelError(errno.EINVAL) from None
    if value >= 1 << 64:
        raise KernelError(errno.ERANGE)
    return value


def _memory_limit(text: str) -> str:
    """``page_counter_memparse``: "max", or bytes rounded down to whole 4 KiB pages."""
    s = text.strip()
    if s == "max":
        return "max"
    return str(memparse(s) // 4096 * 4096)


def _swappiness(text: str) -> str:
    value = _int_text(text)
    if not 0 <= value <= 200:
        raise KernelError(errno.EINVAL)
    return str(value)


def _page_cluster(text: str) -> str:
    value = _int_text(text)
    if not 0 <= value <= 31:  # 6.1: page_cluster_max
        raise KernelError(errno.EINVAL)
    return str(value)


def _int_text(text: str) -> int:
    """``proc_dointvec``: an optionally signed decimal integer and blanks."""
    s = text.strip()
    try:
        return int(s, 10)
    except ValueError:
        raise KernelError(errno.EINVAL) from None


def _lru_gen(text: str) -> str:
    """mm/vmscan.c ``enabled_store``: y/n (all or no features) or a hex mask of them."""
    s = text.strip()
    if s in ("y", "Y"):
        return "0x0007"
    if s in ("n", "N"):
        return "0x0000"
    try:
        value = int(s, 16) if s.lower().startswith("0x") else int(s, 10)
    except ValueError:
        raise KernelError(errno.EINVAL) from None
    if not 0 <= value <= 7:
        raise KernelError(errno.EINVAL)
    return f"0x{value:04x}"

PARAMS: dict[str, Param] = {
    p.path: p
    for p in (
        Param(ZSWAP + "enabled", "Y", _bool, "zswap on or off; stored entries stay when turned off"),
        Param(ZSWAP + "compressor", "", _string, "crypto compressor for new entries"),
        Param(ZSWAP + "max_pool_percent", "20", _uint, "pool limit as a percentage of RAM"),
        Param(ZSWAP + "accept_threshold_percent", "90", _percent,
              "after hitting the limit, accept stores again below this % of it"),
        Param(ZSWAP + "shrinker_enabled", "N", _bool,
              "memory-pressure shrinker (accepted; the simulator has no memory pressure)"),
        Param(GHOSTSWAP + "compressor_level", "0", _level,
              "level for zstd/lz4hc/deflate; 0 means the kernel's default (ghostswap extension)"),
        Param(CGROUP + "memory.max", "max", _memory_limit,
              "hard limit of an access replay's cgroup: above it, reclaim, then OOM"),
        Param(CGROUP + "memory.high", "max", _memory_limit,
              "throttle limit: above it, reclaim on return to user space, never OOM"),
        Param(CGROUP + "memory.swap.max", "max", _memory_limit, "limit on swap slots of the cgroup"),
        Param(CGROUP + "memory.zswap.max", "max", _memory_limit,
              "limit on the cgroup's zswap pool (compressed bytes); above it, stores go to disk"),
        Param(VM + "swappiness", "60", _swappiness, "anon vs file reclaim balance, 0-200"),
        Param(VM + "page-cluster", "3", _page_cluster, "swap readahead: 2^N pages"),
        Param(LRU_GEN, "0x0000", _lru_gen,
              "MGLRU: 0x0000 the two-list LRU (6.1 Debian default), y or 0x0007 multi-gen LRU"),
    )
}


# mm/zswap.c at v6.1 (Debian 12's 6.1.0: CONFIG_ZSWAP_DEFAULT_ON unset, compressor lzo, zpool
# zbud). accept_threshold_percent is a plain uint there (the 0..100 check came later).
PARAMS_6_1: dict[str, Param] = {
    p.path: p
    for p in (
        dataclasses.replace(PARAMS[ZSWAP + "enabled"], default="N"),
        PARAMS[ZSWAP + "compressor"],
        Param(ZSWAP + "zpool", "zbud", _string, "allocator of the pool: zbud, z3fold or zsmalloc"),
        PARAMS[ZSWAP + "max_pool_percent"],
        dataclasses.replace(PARAMS[ZSWAP + "accept_threshold_percent"], parse=_uint),
        Param(ZSWAP + "same_filled_pages_enabled", "Y", _bool,
              "store pages of one repeated word as that word alone"),
        Param(ZSWAP + "non_same_filled_pages_enabled", "Y", _bool,
              "store other pages (compressed); N keeps only same-filled pages"),
        PARAMS[GHOSTSWAP + "compressor_level"],
        # the memory settings of an access replay: memory.zswap.max (5.19) and MGLRU (6.1) exist
        *(p for path, p in PARAMS.items() if not path.startswith((ZSWAP, GHOSTSWAP))),
    )
}

#: zpool allocators Debian's 6.1 builds (zbud built in, z3fold and zsmalloc as modules)
ZPOOLS_6_1 = ("zbud", "z3fold", "zsmalloc")


def params_for(config_name: str) -> dict[str, Param]:
    """The sysfs parameters of a configuration's release."""
    return PARAMS_6_1 if config_release(config_name) == "6.1" else PARAMS


@dataclasses.dataclass(frozen=True)
class MachineParam:
    name: str
    default: str
    check: Callable[[str], str]
    help: str


def _page_size(text: str) -> str:
    value = int(text)
    if value not in PAGE_SIZES:
        raise ValueError(f"page size must be one of {', '.join(map(str, PAGE_SIZES))}")
    return str(value)


def _ram(text: str) -> str:
    value = int(text)
    if value < 16 << 20:
        raise ValueError("RAM must be at least 16 MiB")
    if value > 1 << 50:
        raise ValueError("RAM must be at most 1 PiB")
    return str(value)


def _choice(*choices: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return check


MACHINE_PARAMS: dict[str, MachineParam] = {
    p.name: p
    for p in (
        MachineParam("personality", "ghost", _choice(*PERSONALITIES),
                     "ghost: the RFC applied; mainline: stock read_swap_header"),
        MachineParam("page_size", "4096", _page_size, "PAGE_SIZE of the simulated kernel"),
        MachineParam("ram", str(4 << 30), _ram, "simulated RAM in bytes (MemTotal)"),
        MachineParam("config", "distro-6.18", _choice(*CONFIG_NAMES),
                     "kernel configuration: MAX_SWAPFILES and, for distro-6.1, that release's "
                     "behaviour (mainline personality only)"),
        MachineParam("prio_scheme", "decrement", _choice("decrement", "shared"),
                     "default priorities: decrement from -2 (6.12-6.18) or all -1 (mm-new 2025)"),
        MachineParam("backing_rotational", "auto", _choice("auto", "0", "1"),
                     "rotational flag of swapfiles' devices: auto reads sysfs"),
        MachineParam("backing_discard", "auto", _choice("auto", "0", "1"),
                     "discard support of swapfiles' devices: auto reads sysfs"),
        MachineParam("ghost_rotate_leak", "0", _choice("0", "1"),
                     "1 reproduces the RFC's nr_rotate_swap imbalance for ghost areas"),
    )
}


def parse_machine_value(name: str, text: str) -> str:
    try:
        return MACHINE_PARAMS[name].check(text)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name}: {e}") from None


def machine_max_swapfiles(config_name: str) -> int:
    return max_swapfiles(CONFIG_NAMES[config_name])
