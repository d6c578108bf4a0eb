"""The design lab: put numbers on the ghost swapfile debate.

One real replay of a page trace (``lab.py``) feeds a model of each design argued about in the RFC
thread and after it: ``mainline-6.18``, ``swap-table`` (phase IV as merged), ``swap-tiers``,
``ghost-rfc`` (the RFC as posted), ``ghost-grow``, ``ghost-redirect``, ``swap-table-dynamic``
(phase IV's ghost proof of concept), ``vswap-48`` and ``vswap-24``. Each model applies its own
slot, pool and writeback policy and reports metadata, disk, residency, writeback, redirection,
lookup and swapoff figures. ``advise.py`` sizes a ghost swapfile for a trace.

The five designs first modelled were renamed when later ones made their names ambiguous; the old
names (``DESIGN_ALIASES``) and their parameter keys are still accepted.

Every constant of a model is a :class:`~ghostswap_cli.designs.base.Param` with its source (who
claimed the figure in the thread, and when), overridable from the command line.
"""

from __future__ import annotations

from ghostswap_cli.designs.base import SHARED_PARAMS, Design, LabConfig, Param, ParamError
from ghostswap_cli.designs.ghost import Ghost
from ghostswap_cli.designs.ghost_dynamic import GhostDynamic
from ghostswap_cli.designs.ghost_tiers import GhostTiers
from ghostswap_cli.designs.mainline import Mainline
from ghostswap_cli.designs.swap_table import SwapTable
from ghostswap_cli.designs.swap_table_dynamic import SwapTableDynamic
from ghostswap_cli.designs.swap_tiers import SwapTiers
from ghostswap_cli.designs.vswap import Vswap
from ghostswap_cli.designs.vswap24 import Vswap24

__all__ = (
    "DESIGNS",
    "DESIGN_NAMES",
    "DESIGN_ALIASES",
    "ALL_PARAMS",
    "KNOWN_PARAMS",
    "Design",
    "LabConfig",
    "Param",
    "ParamError",
    "parse_designs",
    "resolve_params",
)

DESIGNS: dict[str, type[Design]] = {
    cls.name: cls for cls in (Mainline, SwapTable, SwapTiers, Ghost, GhostDynamic, GhostTiers,
                              SwapTableDynamic, Vswap, Vswap24)
}
DESIGN_NAMES: tuple[str, ...] = tuple(DESIGNS)

#: names the designs had before the later designs arrived -> their names now
DESIGN_ALIASES: dict[str, str] = {
    "mainline": "mainline-6.18",
    "ghost": "ghost-rfc",
    "ghost-dynamic": "ghost-grow",
    "ghost-tiers": "ghost-redirect",
    "vswap": "vswap-48",
}

#: every ``--param`` key -> its Param, shared ones first, then each design's in design order
ALL_PARAMS: dict[str, Param] = {
    p.key: p for p in (*SHARED_PARAMS, *(p for cls in DESIGNS.values() for p in cls.PARAMS))
}

#: ALL_PARAMS plus the old keys (``ghost.static_bytes`` for ``ghost-rfc.static_bytes``)
KNOWN_PARAMS: dict[str, Param] = {
    **ALL_PARAMS,
    **{old + key[len(new):]: p for old, new in DESIGN_ALIASES.items()
       for key, p in ALL_PARAMS.items() if key.startswith(new + ".")},
}


def parse_designs(text: str) -> tuple[str, ...]:
    """``"ghost-rfc,vswap-24"`` (or ``all``) -> design names in table order; ParamError if
    unknown. Old names (``DESIGN_ALIASES``) name the design they became."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ParamError("no design named; choose from " + ", ".join(DESIGN_NAMES))
    if "all" in names:
        return DESIGN_NAMES
    names = [DESIGN_ALIASES.get(n, n) for n in names]
    unknown = [n for n in names if n not in DESIGNS]
    if unknown:
        raise ParamError(f"unknown design {unknown[0]!r}; choose from {', '.join(DESIGN_NAMES)}")
    return tuple(n for n in DESIGN_NAMES if n in names)


def resolve_params(overrides: dict[str, int]) -> dict[str, int]:
    """Every parameter's value: its default unless overridden."""
    values = {key: p.default for key, p in ALL_PARAMS.items()}
    values.update(overrides)
    return values
