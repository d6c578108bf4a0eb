"""``ghostswap write PATH VALUE``: ``echo VALUE > PATH`` on the simulated kernel."""

from __future__ import annotations

import click

from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.errors import KernelError


@click.command(short_help="Write a value to a simulated /sys parameter.")
@click.argument("path")
@click.argument("value")
@pass_app
def write(app: App, path: str, value: str) -> None:
    """Set a writable parameter with the kernel's validation, as ``echo VALUE > PATH``.

    Writable: /sys/module/zswap/parameters/{enabled,compressor,max_pool_percent,
    accept_threshold_percent,shrinker_enabled}, /sys/kernel/ghostswap/compressor_level, and
    the memory settings of access replays: /sys/fs/cgroup/workload/memory.{max,high,swap.max,
    zswap.max,reclaim}, /proc/sys/vm/{swappiness,page-cluster}, /sys/kernel/mm/lru_gen/enabled.
    A refused value prints the errno text (and the kernel logs its line, see dmesg).
    """
    from ghostswap_cli.kernel.procfs import write_file

    failed: KernelError | None = None
    with app.guard(), app.kernel() as k:
        try:
            write_file(k, path, value)
        except KernelError as e:
            failed = e  # keep the kernel's log line: let the transaction commit
    if failed is not None:
        app.abort(f"write error: {path}: {failed.strerror}", 1)
