"""The simulated kernel's files: /proc/swaps, /proc/meminfo, /proc/vmstat, sysfs and debugfs.

Each file is rendered as the kernel renders it (``swap_show``, ``meminfo_proc_show`` with
``show_val_kb``, ``vmstat_show``, module parameters as ``param_get_bool``/``param_get_uint``,
one value per debugfs file), so tools that parse the real files parse these.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING

from ghostswap_cli.errors import KernelError
from ghostswap_cli.kernel.params import PARAMS
from ghostswap_cli.kernel.swapfile import swap_show

if TYPE_CHECKING:
    from ghostswap_cli.kernel.machine import Kernel

__all__ = ("read_file", "write_file", "list_files", "DEBUGFS_ZSWAP", "VMSTAT_ITEMS")

DEBUGFS = "/sys/kernel/debug/zswap/"
# the 6.18 debugfs files, in the order of mm/zswap.c zswap_debugfs_init
DEBUGFS_ZSWAP = (
    "pool_limit_hit",
    "reject_reclaim_fail",
    "reject_alloc_fail",
    "reject_kmemcache_fail",
    "reject_compress_fail",
    "reject_compress_poor",
    "decompress_fail",
    "written_back_pages",
    "pool_total_size",
    "stored_pages",
    "stored_incompressible_pages",
)
VMSTAT_ITEMS = ("pswpin", "pswpout", "zswpin", "zswpout", "zswpwb", "swpin_zero", "swpout_zero",
                # moved by access replays (reclaim), in vmstat_text's order
                "pgfault", "pgmajfault", "pgsteal_direct", "pgsteal_anon", "pgscan_direct",
                "pgscan_anon", "pgrefill", "pgactivate", "pgdeactivate", "workingset_refault_anon",
                "workingset_activate_anon", "workingset_restore_anon", "oom_kill")
CGROUP_DIR = "/sys/fs/cgroup/workload/"
# memory.stat of the workload cgroup: the event counters (cumulative over access replays; the
# replayed process has exited, so its page counts read 0), in memory_stat's order
MEMORY_STAT_EVENTS = ("pgfault", "pgmajfault", "workingset_refault_anon", "workingset_activate_anon",
                      "workingset_restore_anon", "pgscan", "pgsteal", "pgscan_direct", "pgsteal_direct",
                      "pgrefill", "pgactivate", "pgdeactivate", "zswpin", "zswpout")
MEMORY_STAT_SIZES = ("anon", "zswap", "zswapped", "swapcached", "inactive_anon", "active_anon")


def _kb(k: Kernel, pages: int) -> int:
    return pages * k.page_size // 1024


def _meminfo(k: Kernel) -> str:
    def line(label: str, kb: int) -> str:
        return f"{label + ':':<16}{kb:8d} kB\n"

    zswap_pages = k.pool_pages
    stored = k.zswap_stored_pages()
    swapcache = k.counters["nr_swapcache_pages"]
    return "".join(
        (
            line("MemTotal", _kb(k, k.totalram_pages)),
            line("MemFree", _kb(k, k.free_ram_pages)),
            line("SwapCached", _kb(k, swapcache)),
            line("SwapTotal", _kb(k, k.total_swap_pages)),
            line("SwapFree", _kb(k, k.nr_swap_pages)),
            line("Zswap", _kb(k, zswap_pages)),
            line("Zswapped", _kb(k, stored)),
        )
    )


def _vmstat(k: Kernel) -> str:
    return "".join(f"{name} {k.counters[name]}\n" for name in VMSTAT_ITEMS)


def _memory_stat(k: Kernel) -> str:
    c = k.counters
    alias = {"pgscan": "pgscan_direct", "pgsteal": "pgsteal_direct"}
    lines = [f"{name} 0\n" for name in MEMORY_STAT_SIZES]
    lines += [f"{name} {c[alias.get(name, name)]}\n" for name in MEMORY_STAT_EVENTS]
    return "".join(lines)


def _memory_events(k: Kernel) -> str:
    return f"low 0\nhigh 0\nmax 0\noom 0\noom_kill {k.counters['oom_kill']}\noom_group_kill 0\n"


def _debugfs(name: str) -> Callable[[Kernel], str]:
    def render(k: Kernel) -> str:
        if name == "pool_total_size":
            value = k.pool_pages * k.page_size
        elif name == "stored_pages":
            value = k.zswap_stored_pages()
        elif name == "stored_incompressible_pages":
            value = 0  # incompressible pages are rejected, never stored raw (see zswap.py)
        else:
            value = k.counters[name]
        return f"{value}\n"

    return render


def _param(path: str) -> Callable[[Kernel], str]:
    return lambda k: k.params[path] + "\n"


FILES: dict[str, Callable[[Kernel], str]] = {
    "/proc/swaps": swap_show,
    "/proc/meminfo": _meminfo,
    "/proc/vmstat": _vmstat,
    **{DEBUGFS + name: _debugfs(name) for name in DEBUGFS_ZSWAP},
    **{path: _param(path) for path in PARAMS if not path.endswith("/memory.reclaim")},
    CGROUP_DIR + "memory.stat": _memory_stat,
    CGROUP_DIR + "memory.events": _memory_events,
    CGROUP_DIR + "memory.current": lambda k: "0\n",
    CGROUP_DIR + "memory.swap.current": lambda k: "0\n",
    CGROUP_DIR + "memory.zswap.current": lambda k: "0\n",
}


def list_files() -> list[str]:
    return sorted(FILES)


def read_file(k: Kernel, path: str) -> str:
    render = FILES.get(path.rstrip("/") if path != "/" else path)
    if render is None:
        if any(p.startswith(path.rstrip("/") + "/") for p in FILES):
            raise KernelError(errno.EISDIR)
        raise KernelError(errno.ENOENT)
    return render(k)


def write_file(k: Kernel, path: str, value: str) -> None:
    """``echo VALUE > PATH``: parse as the kernel's param ops do; EACCES for read-only files."""
    p = PARAMS.get(path)
    if p is None:
        if path in FILES:
            raise KernelError(errno.EACCES)
        raise KernelError(errno.ENOENT)
    if path.endswith("/compressor"):
        from ghostswap_cli.kernel.compressors import get_compressor

        name = value.strip()
        try:
            get_compressor(name)
        except KernelError:
            k.printk.pr_err(f"zswap: compressor {name} not available")
            raise
        k.set_param(path, name)
        return
    if path.endswith("/compressor_level"):
        from ghostswap_cli.kernel.compressors import get_compressor

        level = p.parse(value)
        if level != "0":
            get_compressor(k.params["/sys/module/zswap/parameters/compressor"], int(level))
        k.set_param(path, level)
        return
    k.set_param(path, p.parse(value))
