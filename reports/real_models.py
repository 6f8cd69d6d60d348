"""The Verdict's real-model table: per model built by its own library (torchvision's ResNets,
transformers' BERT and GPT-2: every workload that declares ``requires``), each paradigm's
cost as a share of the plain loop's step (the Verdict picture's row: the step overhead, else
the framework-time excess where only that has an interval) and the step time above which
that cost stays under 1% (from the interval's upper end), the models in order of step time,
so that a reader can place their own model's step on that range.

A self-contained part of the Verdict: ``rows(groups)`` goes into the template context as
``real_models`` and ``templates/real_models.html.j2`` shows it (nothing when the run measured
no real model).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from harness.analyse import formatting as fmt
from harness.analyse.analysis import BASELINE
from harness.analyse.stats import BREAK_EVEN_FRACTION
from harness.config import Paradigm
from harness.discovery import declared_requirements
from reports.groups import Group, duration, number, percent, text
from reports.verdict import FRAMEWORK, group_rows

COMPARED = [p.value for p in Paradigm.frameworks() if p.value != BASELINE]


def library_built() -> set[str]:
    """The workloads of ``workloads/`` built by a library other than torch (read from their
    source: nothing is imported)."""
    return {name for name, requires in declared_requirements().items() if requires}


def _paradigm(g: Group, paradigm: str) -> dict[str, str]:
    """The Verdict picture's row for ``paradigm`` in the table's words."""
    row = next((r for r in group_rows(g) if r.paradigm == paradigm), None)
    if row is None or row.share != row.share:
        return {"share": "—", "ci": "not run" if row is None else "no figure", "break_even": "—"}
    ci = fmt.TOO_FEW if row.ci is None else f"{percent(row.ci[0])}..{percent(row.ci[1])}"
    return {"share": percent(row.share),
            "ci": ci + (" (framework time)" if row.measure == FRAMEWORK else ""),
            "break_even": row.under(BREAK_EVEN_FRACTION)}


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
