"""The design lab: put numbers on the ghost swapfile debate.

One real replay of a page trace (``lab.py``) feeds a model of each design argued about in the RFC
thread (``mainline``, ``ghost``, ``ghost-dynamic``, ``ghost-tiers``, ``vswap``); each model applies
its own slot, pool and writeback policy and reports metadata, disk, residency, writeback,
redirection, lookup and swapoff figures. ``advise.py`` sizes a ghost swapfile for a trace.

Every constant of a model is a :class:`~ghostswap_cli.designs.base.Param` with its source (who
claimed the figure in the thread, and when), overridable from the command line.
"""

from __future__ import annotations

from ghostswap_cli.designs.base import SHARED_PARAMS, Design, LabConfig, Param, ParamError
from ghostswap_cli.designs.ghost import Ghost
from ghostswap_cli.designs.ghost_dynamic import GhostDynamic
from ghostswap_cli.designs.ghost_tiers import GhostTiers
from ghostswap_cli.designs.mainline import Mainline
from ghostswap_cli.designs.vswap import Vswap

__all__ = (
    "DESIGNS",
    "DESIGN_NAMES",
    "ALL_PARAMS",
    "Design",
    "LabConfig",
    "Param",
    "ParamError",
    "parse_designs",
    "resolve_params",
)

DESIGNS: dict[str, type[Design]] = {
    cls.name: cls for cls in (Mainline, Ghost, GhostDynamic, GhostTiers, Vswap)
}
DESIGN_NAMES: tuple[str, ...] = tuple(DESIGNS)

#: every ``--param`` key -> its Param, shared ones first, then each design's in design order
ALL_PARAMS: dict[str, Param] = {
    p.key: p for p in (*SHARED_PARAMS, *(p for cls in DESIGNS.values() for p in cls.PARAMS))
}


def parse_designs(text: str) -> tuple[str, ...]:
    """``"ghost,vswap"`` (or ``all``) -> design names in table order; ParamError if unknown."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ParamError("no design named; choose from " + ", ".join(DESIGN_NAMES))
    if "all" in names:
        return DESIGN_NAMES
    unknown = [n for n in names if n not in DESIGNS]
    if unknown:
        raise ParamError(f"unknown design {unknown[0]!r}; choose from {', '.join(DESIGN_NAMES)}")
    return tuple(n for n in DESIGN_NAMES if n in names)


def resolve_params(overrides: dict[str, int]) -> dict[str, int]:
    """Every parameter's value: its default unless overridden."""
    values = {key: p.default for key, p in ALL_PARAMS.items()}
    values.update(overrides)
    return values
