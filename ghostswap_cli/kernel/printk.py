"""The kernel log: ``pr_info``/``pr_warn``/``pr_err`` into a ring kept in the state, and dmesg.

Lines are stored with their log level and a timestamp in seconds since the simulated kernel was
initialised ("boot"), and printed as ``dmesg`` does: ``[%5lu.%06lu] text``.
"""

from __future__ import annotations

import time
from typing import NamedTuple

__all__ = ("KERN_ERR", "KERN_WARNING", "KERN_INFO", "KERN_DEBUG", "LogLine", "Printk", "format_dmesg")

KERN_EMERG, KERN_ALERT, KERN_CRIT, KERN_ERR, KERN_WARNING, KERN_NOTICE, KERN_INFO, KERN_DEBUG = range(8)
LEVEL_NAMES = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")

# The ring keeps this many lines, like a small __log_buf.
LOG_RING_LINES = 10000


# a NamedTuple, not a frozen dataclass: every command that opens the kernel builds this class
# at import, and a frozen dataclass compiles six methods for it there
class LogLine(NamedTuple):
    ts: float
    level: int
    text: str


class Printk:
    """Collects the lines a command logs; the kernel object persists them on commit."""

    def __init__(self, boot_time: float) -> None:
        self.boot_time = boot_time
        self.pending: list[LogLine] = []

    def printk(self, level: int, text: str) -> None:
        from ghostswap_cli.fsnames import hex_escape

        # the kernel logs a name's bytes as they are; dmesg shows those it cannot print as \xNN
        self.pending.append(LogLine(max(time.time() - self.boot_time, 0.0), level,
                                    hex_escape(text)))

    def pr_err(self, text: str) -> None:
        self.printk(KERN_ERR, text)

    def pr_warn(self, text: str) -> None:
        self.printk(KERN_WARNING, text)

    def pr_info(self, text: str) -> None:
        self.printk(KERN_INFO, text)


def format_dmesg(lines: list[LogLine], *, show_level: bool = False, raw_time: bool = False) -> str:
    out = []
    for line in lines:
        secs = int(line.ts)
        usecs = int(round((line.ts - secs) * 1_000_000))
        if usecs >= 1_000_000:
            secs, usecs = secs + 1, usecs - 1_000_000
        prefix = f"{LEVEL_NAMES[line.level]:<6}: " if show_level else ""
        stamp = "" if raw_time else f"[{secs:5d}.{usecs:06d}] "
        out.append(f"{prefix}{stamp}{line.text}\n")
    return "".join(out)
