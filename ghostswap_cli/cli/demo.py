"""``ghostswap demo``: the README's first command.

On the state directory (default ``~/.local/state/ghostswap``): make a ghost swapfile and a real
swapfile under ``STATE/swapfiles/`` if they are missing, enable them (the ghost with a higher
priority, as the zswap tier in front of the real file), replay the bundled example trace, and
print /proc/swaps and the report. Running it again replays the trace again on the same machine.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from importlib import resources
from pathlib import Path

import click

from ghostswap_cli.cli.app import App, pass_app

GHOST_SIZE = 256 << 20  # declared by the ghost header
REAL_SIZE = 16 << 20
GHOST_PRIO = 10


def example_trace() -> Path:
    return Path(str(resources.files("ghostswap_cli") / "data" / "example.trace"))


def make_swapfile(path: Path, size: int, page_size: int, *, ghost: bool, label: str) -> None:
    """Write a SWAPSPACE2 area as mkswap does; a ghost is only its header page."""
    from ghostswap_cli.codec.swap_header import ByteOrder, SwapHeader, build_swap_header

    pages = size // page_size
    header = SwapHeader(
        page_size=page_size, byteorder=ByteOrder.LITTLE, version=1, last_page=pages - 1,
        nr_badpages=0, sws_uuid=uuid.uuid4().bytes,
        sws_volume=label.encode()[:15].ljust(16, b"\0"),
    )
    page = build_swap_header(header)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, page)
        if not ghost:
            # fully allocated, as swapon requires: zeros, not a sparse hole
            chunk = bytes(1 << 20)
            remaining = size - page_size
            while remaining > 0:
                n = min(remaining, len(chunk))
                os.write(fd, chunk[:n])
                remaining -= n
        os.fsync(fd)
    finally:
        os.close(fd)


@click.command(short_help="Set up a ghost and a real swapfile and replay the example trace.")
@click.option("--trace", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Replay this trace instead of the bundled example.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@pass_app
def demo(app: App, trace: Path | None, as_json: bool, no_progress: bool) -> None:
    """Make a ghost swapfile and a real swapfile in the state directory, enable them, replay
    the bundled example trace through zswap, and print /proc/swaps and the report."""
    from ghostswap_cli.cli.replay import EXIT_CORRUPT, _with_progress, format_report
    from ghostswap_cli.codec.trace import open_trace
    from ghostswap_cli.errors import KernelError
    from ghostswap_cli.kernel.swapfile import swap_show, sys_swapon
    from ghostswap_cli.replay.trace_replay import ReplayOptions, replay_trace
    from ghostswap_cli.uapi import SWAP_FLAG_PREFER

    term = app.terminal
    trace = trace or example_trace()
    with app.guard():
        with app.kernel() as k:
            files = app.state / "swapfiles"
            files.mkdir(mode=0o700, exist_ok=True)
            ghost = files / "ghost.swap"
            real = files / "real.swap"
            active = {si.path for si in k.active()}
            for path, size, is_ghost, flags in (
                (ghost, GHOST_SIZE, True, SWAP_FLAG_PREFER | GHOST_PRIO),
                (real, REAL_SIZE, False, 0),
            ):
                if not path.exists():
                    make_swapfile(path, size, k.page_size, ghost=is_ghost, label=path.stem)
                    term.info(f"created {path} ({'ghost, ' if is_ghost else ''}{size >> 20} MiB)")
                if os.path.realpath(path) not in active:
                    try:
                        sys_swapon(k, str(path), flags)
                    except KernelError as e:
                        term.error(f"{path}: swapon failed: {e.strerror}")
        with open_trace(trace) as reader, app.kernel() as k:
            options = ReplayOptions()
            if not no_progress and term.is_interactive(sys.stderr):
                report = _with_progress(app, reader, options, k)
            else:
                report = replay_trace(k, reader, options)
            proc_swaps = swap_show(k)
    if as_json:
        term.out(json.dumps({"proc_swaps": proc_swaps, "report": report.to_json()}, indent=2) + "\n")
    else:
        term.out("$ cat /proc/swaps\n" + proc_swaps + "\n" + format_report(report))
    if report.corrupt_pages:
        raise SystemExit(EXIT_CORRUPT)
