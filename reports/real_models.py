"""The Verdict's real-model table: per model built by its own library (torchvision's ResNets,
transformers' BERT and GPT-2: every workload that declares ``requires``), each paradigm's
overhead as a share of the plain loop's step and its break-even step time, the models in
order of step time, so that a reader can place their own model's step on that range.

A self-contained part of the Verdict: ``rows(groups)`` goes into the template context as
``real_models`` and ``templates/real_models.html.j2`` shows it (nothing when the run measured
no real model).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from harness.analyse import formatting as fmt
from harness.analyse.analysis import BASELINE
from harness.config import Paradigm
from harness.discovery import declared_requirements
from reports.groups import Group, duration, is_missing, number, percent, text

COMPARED = [p.value for p in Paradigm.frameworks() if p.value != BASELINE]


def library_built() -> set[str]:
    """The workloads of ``workloads/`` built by a library other than torch (read from their
    source: nothing is imported)."""
    return {name for name, requires in declared_requirements().items() if requires}


def _share_ci(ci: Any) -> str:
    if not isinstance(ci, tuple | list) or any(is_missing(v) for v in ci):
        return fmt.TOO_FEW
    return f"{percent(ci[0])}..{percent(ci[1])}"


def _paradigm(g: Group, paradigm: str) -> dict[str, str]:
    row = g.row(paradigm)
    if row is None or is_missing(row.get("overhead_frac")):
        return {"share": "—", "ci": "", "break_even": "—"}
    be = row.get("break_even_step_s")
    return {"share": percent(row["overhead_frac"]), "ci": _share_ci(row.get("overhead_frac_ci")),
            # no break-even where the paradigm was not slower: nothing to hide
            "break_even": duration(be) if not is_missing(be) else "none (not slower)"}


def rows(groups: list[Group], models: Collection[str] | None = None) -> list[dict[str, Any]]:
    """One row per cell group of a library-built model with a measured plain loop, the
    shortest plain step first; ``models`` defaults to :func:`library_built`."""
    names = library_built() if models is None else set(models)
    out = []
    for g in groups:
        base = g.baseline
        if base is None or base["workload"] not in names:
            continue
        out.append({
            "id": g.id, "label": g.label, "model": str(base["workload"]),
            "step_s": number(base["step_time_s"]), "step": duration(base["step_time_s"]),
            "throughput": fmt.rate(number(base["items_per_s"]),
                                   text(base["item_name"]) or "items"),
            "paradigms": {p: _paradigm(g, p) for p in COMPARED},
        })
    return sorted(out, key=lambda r: r["step_s"])
