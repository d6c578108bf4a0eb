"""Recommend a ghost swapfile size for a trace, and say what that static size costs.

The recommendation (``recommend``):

1. the *basis*: the chosen percentile (default 100, the peak) over events of the pages swapped
   out at once (``TraceProfile``); a ghost needs a slot for every one of them, including pages
   zswap rejects, which stay in the swap cache holding their slot;
2. plus the headroom: ``ceil(basis * (100 + headroom) / 100)`` slots;
3. plus one slot for the header page (slot 0 is never used for data);
4. rounded up to whole clusters (``ghost-rfc.cluster_slots``, 512 slots: 2 MiB with 4 KiB pages),
   since the kernel allocates and accounts slots by cluster; a whole number of 512-slot clusters
   is also a whole number of MiB for every page size.

``run_advise`` then replays the trace once through the lab with four models: ``ghost-rfc`` at the
recommended size (its static metadata is paid whether used or not) against the dynamic designs
``ghost-grow``, ``swap-table-dynamic`` and ``vswap-24``, and builds the ``ghostswap mkswap --ghost`` command that creates
the file.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from fractions import Fraction
from typing import Any

from ghostswap_cli.designs.lab import (
    DEFAULT_HEADROOM_PERCENT,
    LabOptions,
    LabReport,
    TraceProfile,
    run_lab,
)

__all__ = (
    "Recommendation",
    "recommend",
    "mkswap_args",
    "AdviceReport",
    "run_advise",
    "COMPARED_DESIGNS",
    "DEFAULT_OUTPUT_FILE",
)

COMPARED_DESIGNS = ("ghost-rfc", "ghost-grow", "swap-table-dynamic", "vswap-24")
DEFAULT_OUTPUT_FILE = "ghost.swap"
_MIB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Recommendation:
    page_size: int
    cluster_slots: int
    peak_pages: int
    percentile: float
    basis_pages: int
    headroom_percent: float
    with_headroom: int  # data slots: ceil(basis * (100 + headroom) / 100)
    needed_slots: int  # plus the header slot
    clusters: int
    slots: int  # the size in slots (pages), header included: what the header declares

    @property
    def size_bytes(self) -> int:
        return self.slots * self.page_size

    @property
    def usable_slots(self) -> int:
        return self.slots - 1

    @property
    def size_text(self) -> str:
        """The size as mkswap reads it: whole MiB when it is one, else KiB."""
        b = self.size_bytes
        return f"{b // _MIB}MiB" if b % _MIB == 0 else f"{b // 1024}KiB"

    @property
    def rounding(self) -> str:
        cluster_bytes = self.cluster_slots * self.page_size
        return (f"{self.needed_slots} slots rounded up to whole clusters of {self.cluster_slots} "
                f"slots ({cluster_bytes // 1024} KiB): {self.clusters} clusters = {self.slots} "
                f"slots = {self.size_text}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(size_bytes=self.size_bytes, size=self.size_text, usable_slots=self.usable_slots,
                 rounding=self.rounding)
        return d


def recommend(profile: TraceProfile, headroom_percent: float = DEFAULT_HEADROOM_PERCENT,
              percentile: float = 100, *, cluster_slots: int = 512) -> Recommendation:
    """The ghost size for ``profile``; see the module docstring for the steps."""
    if headroom_percent < 0:
        raise ValueError("the headroom must be >= 0")
    basis = profile.percentile(percentile)
    with_headroom = -(-basis * (100 + Fraction(str(headroom_percent))) // 100)
    needed = int(with_headroom) + 1
    clusters = -(-needed // cluster_slots)
    return Recommendation(
        page_size=profile.page_size, cluster_slots=cluster_slots, peak_pages=profile.peak_swapped,
        percentile=percentile, basis_pages=basis, headroom_percent=headroom_percent,
        with_headroom=int(with_headroom), needed_slots=needed, clusters=clusters,
        slots=clusters * cluster_slots,
    )


def mkswap_args(rec: Recommendation, path: str, label: str | None = None) -> list[str]:
    """``mkswap --ghost --size SIZE [--pagesize N] [-L LABEL] PATH`` (without ``ghostswap``).

    ``--pagesize`` is added only when the trace's page size is not this system's, which mkswap
    would otherwise write the header for.
    """
    args = ["mkswap", "--ghost", "--size", rec.size_text]
    if rec.page_size != os.sysconf("SC_PAGE_SIZE"):
        args += ["--pagesize", str(rec.page_size)]
    if label:
        args += ["-L", label]
    args.append(path)
    return args


@dataclasses.dataclass
class AdviceReport:
    recommendation: Recommendation
    lab: LabReport
    command: list[str]

    @property
    def command_line(self) -> str:
        return shlex.join(["ghostswap", *self.command])

    def to_json(self) -> dict[str, Any]:
        lab = self.lab
        return {
            "trace": lab.trace,
            "format": lab.format,
            "page_size": lab.page_size,
            "events": lab.events,
            "stored_pages": lab.profile,
            "recommendation": self.recommendation.to_dict(),
            "comparison": lab.designs,
            "compressor": lab.compressor,
            "corrupt_pages": lab.corrupt_pages,
            "verified_pages": lab.verified_pages,
            "params": lab.params,
            "command": ["ghostswap", *self.command],
            "command_line": self.command_line,
        }


def run_advise(trace: os.PathLike[str] | str, *, headroom_percent: float = DEFAULT_HEADROOM_PERCENT,
               percentile: float = 100, label: str | None = None,
               output_file: str = DEFAULT_OUTPUT_FILE, options: LabOptions | None = None) -> AdviceReport:
    """Recommend a size for ``trace`` and compare it, on the same trace, with the dynamic designs."""
    from ghostswap_cli.codec.trace import open_trace
    from ghostswap_cli.designs import resolve_params
    from ghostswap_cli.designs.lab import profile_trace

    options = options or LabOptions()
    params = resolve_params(options.params)
    with open_trace(trace, allow_dirs=options.allow_dirs) as reader:
        prof = profile_trace(reader)
    rec = recommend(prof, headroom_percent, percentile, cluster_slots=params["ghost-rfc.cluster_slots"])
    lab_options = dataclasses.replace(options, designs=COMPARED_DESIGNS, ghost_size=rec.size_bytes,
                                      headroom_percent=headroom_percent)
    lab = run_lab(trace, lab_options)
    return AdviceReport(rec, lab, mkswap_args(rec, output_file, label))
