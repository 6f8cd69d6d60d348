"""The Verdict at a glance: one row per framework, the answers a reader comes with.

Per framework (and the A/A check, the plain loop entered again as ``plain-aa``): its per-step
cost on the reference model (the in-process framework-time excess over the plain loop, in us
and in % of the plain step, with its 95% interval; the step overhead where that has none); the
step time above which that cost stays under 1% (the interval's upper end over 1%); its
costliest and cheapest convenience (the Features table's step costs); the real models'
overhead share, as the bound its interval gives; its start-up (the framework's import, over
the cold repetitions only). Every entry is a sign, a bound or a stated reason: a question no
table of the run answered says why (the budget dropped its table, the suite has none, the A/A
is run on the headline only), from the manifest's plan (``meta.plan_facts``). The report
draws it first; the terminal prints the same table at the end of a run (``text``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analyse import formatting as fmt
from harness.analyse.analysis import BASELINE, cold
from harness.analyse.feature_costs import PROBES, feature_costs
from harness.analyse.stats import MIN_N_MEDIAN, mean_interval, median_interval
from harness.config import Paradigm
from reports.groups import DISPLAY, Group, is_missing, number
from reports.real_models import library_built
from reports.verdict import FRAMEWORK, STEP, VerdictRow, group_rows

# The reference model: the headline cell group (cpu.toml's and gpu.toml's priority-10 table).
REFERENCE = {"workload": "mlp", "size": "small", "profile": "minimal", "precision": "fp32",
             "world_size": 1, "features": "none", "compile": "none", "phases": True}
UNDER = 0.01  # "the step time above which it costs under 1%"
AA = Paradigm.PLAIN_AA.value
AA_ONLY = "not run (A/A is the headline only)"
NOT_ON_REFERENCE = "not run on the reference model"
COLUMNS = ("paradigm", "reference", "under_1pct", "costliest", "cheapest", "real_models",
           "startup")
HEADERS = ("", "per step, reference model", "under 1% for steps above", "costliest convenience",
           "cheapest convenience", "real models (bound)", "start-up (import)")


@dataclass(frozen=True)
class GlanceRow:
    paradigm: str
    reference: str
    under_1pct: str
    costliest: str
    cheapest: str
    real_models: str
    startup: str

    def cells(self) -> list[str]:
        return [DISPLAY.get(self.paradigm, self.paradigm)] + [
            getattr(self, c) for c in COLUMNS[1:]]


def reference_group(groups: list[Group]) -> Group | None:
    """The reference model's group; else the measured group with the most repetitions."""
    measured = [g for g in groups if g.baseline is not None]
    for g in measured:
        base = g.baseline
        assert base is not None
        if all(str(base.get(k)) == str(v) for k, v in REFERENCE.items()):
            return g
    return max(measured, key=lambda g: int(g.baseline["n"]), default=None)  # type: ignore[index]


def _reference_row(g: Group | None, paradigm: str) -> VerdictRow | None:
    """The framework-time excess where it has an interval, else the step overhead."""
    if g is None:
        return None
    rows = {r.paradigm: r for r in group_rows(g)}
    row = g.row(paradigm)
    if row is None:
        return None
    plain = number(g.baseline["step_time_s"]) if g.baseline is not None else math.nan
    excess, ci = number(row.get("framework_excess_s")), row.get("framework_excess_ci")
    if isinstance(ci, tuple | list) and not any(is_missing(v) for v in ci) and plain > 0:
        return VerdictRow(g.label, paradigm, FRAMEWORK, excess / plain,
                          (ci[0] / plain, ci[1] / plain), plain)
    return rows.get(paradigm)


def not_run(plan: Mapping[str, Any], would_answer: Callable[[Mapping[str, Any]], bool]) -> str:
    """Why no table of the run answered a question: the budget dropped one that
    ``would_answer`` it (a ``dropped_tables`` entry), or the suite had none."""
    tables = plan.get("dropped_tables")
    if tables is None and plan.get("dropped"):  # recorded before drops named their contents
        n = len(plan["dropped"])
        return f"not run (the budget dropped {n} table{'s' * (n != 1)}: see the header)"
    if any(would_answer(t) for t in tables or []):
        return "not run: dropped by the budget"
    return "not in this suite"


def _under(row: VerdictRow | None) -> str:
    return NOT_ON_REFERENCE if row is None else row.under(UNDER)


def _conveniences(costs: pd.DataFrame, paradigm: str, plan: Mapping[str, Any]
                  ) -> tuple[str, str]:
    """The costliest and the cheapest convenience, or (twice) why there is none."""
    if paradigm == AA:  # its cells are the headline's, never a convenience's
        return AA_ONLY, AA_ONLY
    measured = costs[costs["feature"] != PROBES] if not costs.empty else costs
    if measured.empty:
        why = not_run(plan, lambda t: bool(t.get("features")))
        return why, why
    own = measured[measured["paradigm"] == paradigm]
    if own.empty:
        return "not run for this paradigm", "not run for this paradigm"
    own = own[own["cost_s"].map(lambda v: not is_missing(v))]
    if own.empty:
        return "no figure: no convenience cell succeeded", "no figure"
    ordered = own.sort_values("cost_s")

    def text(r: pd.Series) -> str:
        ci = r["cost_ci"]
        interval = (f" [{fmt.duration(ci[0], True)}, {fmt.duration(ci[1], True)}]"
                    if isinstance(ci, tuple | list) else " (no interval)")
        return f"{r['feature']}: {fmt.duration(r['cost_s'], True)}/step{interval}"

    return text(ordered.iloc[-1]), text(ordered.iloc[0])


def _real_models(groups: list[Group], paradigm: str, plan: Mapping[str, Any]) -> str:
    """Each real model's overhead bound for ``paradigm`` (or why it has none); a real model
    the budget dropped, named as such."""
    names = library_built()
    real = [g for g in groups if g.baseline is not None and g.baseline["workload"] in names]
    parts = []
    for g in real:
        row = next((r for r in group_rows(g) if r.paradigm == paradigm), None)
        if row is None:
            continue
        parts.append(f"{g.baseline['workload']}: "  # type: ignore[index]
                     + (row.reading if row.ci is None else f"at most {100 * row.ci[1]:+.1f}%"))
    if real and not parts:
        return AA_ONLY if paradigm == AA else "not run for this paradigm"
    ran = {g.baseline["workload"] for g in real}  # type: ignore[index]
    dropped = [w for t in plan.get("dropped_tables") or [] for w in t.get("workloads", [])
               if w in names and w not in ran]
    parts += [f"{w}: not run: dropped by the budget" for w in dict.fromkeys(dropped)]
    return "; ".join(parts) or not_run(
        plan, lambda t: any(w in names for w in t.get("workloads", [])))


def _startup(frame: pd.DataFrame, paradigm: str) -> str:
    none = "not measured: no cold repetition in this run (a table's cold_repetitions)"
    if frame.empty or "import_framework_s" not in frame:
        return none
    own = cold(frame[(frame["paradigm"] == paradigm) & (frame["status"] == "ok")])
    values = [float(v) for v in own["import_framework_s"] if not is_missing(v)]
    if not values:
        return none
    ci = (median_interval(values) if len(values) >= MIN_N_MEDIAN else mean_interval(values))
    centre = float(pd.Series(values).median())
    interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " (no interval)"
    return f"{centre:.2f} s{interval}, {len(values)} cold"


def rows(groups: list[Group], frame: pd.DataFrame, plan: Mapping[str, Any] | None = None
         ) -> list[GlanceRow]:
    """One row per paradigm other than the plain loop that any group measured; ``plan``
    (``meta.plan_facts``) says why a question has no answer."""
    plan = plan or {}
    ref = reference_group(groups)
    seen = {p for g in groups for p in g.paradigms()}
    costs = feature_costs(frame) if len(frame) else pd.DataFrame()
    out = []
    for paradigm in [p.value for p in Paradigm if p.value in seen and p.value != BASELINE]:
        reference = _reference_row(ref, paradigm)
        costliest, cheapest = _conveniences(costs, paradigm, plan)
        out.append(GlanceRow(
            paradigm, reference.reading if reference else NOT_ON_REFERENCE,
            _under(reference), costliest, cheapest, _real_models(groups, paradigm, plan),
            _startup(frame, paradigm)))
    return out


def text_of(shown: dict[str, Any]) -> str:
    """The table (``context``'s) for a terminal: a block per paradigm, a line per question."""
    reference = shown.get("reference")
    lines = ["Verdict at a glance" + (f" (reference: {reference})" if reference else "")]
    for cells in shown["rows"]:
        lines.append(f"  {cells[0]}")
        lines += [f"    {h:<27} {c}" for h, c in zip(shown["headers"][1:], cells[1:])]
    if not shown["rows"]:
        lines.append("  no framework measured against the plain loop")
    return "\n".join(lines)


def context(groups: list[Group], frame: pd.DataFrame, plan: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
    """What the report's template shows: the headers, the rows, the reference group;
    ``plan``: the run's plan in words (``meta.plan_facts``, the header has it)."""
    ref = reference_group(groups)
    return {"headers": HEADERS, "rows": [r.cells() for r in rows(groups, frame, plan)],
            "reference": ref.label if ref is not None else "",
            "measure": f"{FRAMEWORK} (in-process), else {STEP}"}
