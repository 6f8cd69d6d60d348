"""The Framework time section: where each paradigm's step goes, measured in-process, and
where its framework time goes by function (the profiling repetition).

Per cell group and paradigm: the three compute phases, the data wait and the framework time
(means over the probed steps, t intervals over repetitions), the framework time's excess over
the plain loop,
and the between-process step overhead beside it. The two answer the same question by
different routes; where their intervals do not overlap, the row says so and shows how much of
the gap the compute phases account for (a framework can make the compute itself slower or
faster, through memory layout, allocation order or zero_grad placement). A group whose plain
loop spends a large share of its step waiting for data is named: it measures its loader.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from markupsafe import Markup

from harness.analyse.analysis import BASELINE, GROUP_KEYS
from harness.measure.attribution import CATEGORIES
from reports import plots
from reports.groups import (
    DISPLAY,
    PARADIGM_ORDER,
    Group,
    ci_text,
    data_share,
    duration,
    is_missing,
    number,
    percent,
    text,
)

TOP_SHOWN = 8
PHASES = ("forward_s", "backward_s", "optimizer_s", "data_s", "sync_s")
PHASE_NAMES = {"forward_s": "forward", "backward_s": "backward", "optimizer_s": "optimizer",
               "data_s": "data wait", "sync_s": "host sync"}


def _overlap(a: Any, b: Any) -> bool | None:
    if not isinstance(a, tuple | list) or not isinstance(b, tuple | list):
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def agreement(row: pd.Series, base: pd.Series | None) -> tuple[str, str]:
    """(badge, sentence): do the step overhead and the framework-time excess agree?"""
    if row["paradigm"] == BASELINE or base is None or is_missing(row.get("framework_excess_s")):
        return "", ""
    overlap = _overlap(row.get("overhead_ci"), row.get("framework_excess_ci"))
    if overlap is None:
        return "n too small", "Too few repetitions for both intervals; no comparison."
    if overlap:
        return "agree", "The step overhead and the framework time's excess agree (their 95% " \
                        "intervals overlap)."
    deltas = {PHASE_NAMES[p]: number(row[p]) - number(base[p]) for p in PHASES
              if not is_missing(row.get(p)) and not is_missing(base.get(p))}
    moved = " ".join(f"{k} {duration(v, True)}," for k, v in deltas.items()).rstrip(",")
    return "differ", (
        f"They do not agree: the step overhead {duration(row['overhead_s'], True)} against a "
        f"framework excess of {duration(row['framework_excess_s'], True)}. The timed phases "
        f"differ from the plain loop's by {moved} (sum "
        f"{duration(sum(deltas.values()), True)}): the framework changes the compute (or the "
        "wait for data) itself, which the step time sees and the framework time by "
        "construction does not.")


def framework_rows(g: Group) -> list[dict[str, Any]]:
    base = g.baseline
    rows = []
    for _, r in g.cells.iterrows():
        if is_missing(r.get("framework_s")):
            continue
        verdict, why = agreement(r, base)
        has_excess = not is_missing(r.get("framework_excess_s"))
        has_overhead = not is_missing(r.get("overhead_s"))
        rows.append({
            "paradigm": r["paradigm"], "n": int(r["n"]),
            "step": duration(r["step_time_s"]),
            "phases": [duration(r.get(p)) for p in PHASES[:4]],
            # a forced host-device sync per step (CUDA cells: fp16's GradScaler, Lightning DDP)
            "sync": duration(r["sync_s"]) if number(r.get("sync_s")) > 0 else "",
            "data_share": percent(data_share(r), signed=False),
            "framework": duration(r["framework_s"]),
            "framework_ci": ci_text(r.get("framework_ci")),
            "excess": duration(r["framework_excess_s"], True) if has_excess else (
                "baseline" if r["paradigm"] == BASELINE else "—"),
            "excess_ci": ci_text(r.get("framework_excess_ci"), True) if has_excess else "",
            "overhead": duration(r["overhead_s"], True) if has_overhead else "",
            "overhead_ci": ci_text(r.get("overhead_ci"), True) if has_overhead else "",
            "verdict": verdict, "why": why,
        })
    return rows


def loader_note(g: Group) -> str:
    """A sentence when the plain loop waits for its batches for much of its step."""
    share = g.loader_bound
    if share is None:
        return ""
    return (f"The plain loop waits for data for {percent(share, signed=False)} of its step: "
            "this cell measures its data path as much as the paradigms, and their differences "
            "shrink behind the wait. Data held on the device (data = \"device\", a "
            "TensorDataset), more loader workers or a larger step move it back to the loop.")


def _per_step(attribution: dict[str, Any], values: dict[str, float]) -> dict[str, float]:
    steps = attribution.get("steps") or 0
    return {k: v / steps for k, v in values.items()} if steps else {}


def attribution_of(g: Group, profiled: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Each paradigm's profiling repetition in this group: per-step categories and functions."""
    if profiled.empty:
        return {}
    key = tuple(g.cells.iloc[0][k] for k in GROUP_KEYS) if len(g.cells) else None
    out = {}
    for _, r in profiled.iterrows():
        a = r["attribution"]
        if key is None or tuple(r[k] for k in GROUP_KEYS) != key or not isinstance(a, dict):
            continue
        steps = a.get("steps") or 0
        out[r["paradigm"]] = {
            "error": a.get("error") or (None if steps else "no profiled steps in this record"),
            "categories": _per_step(a, a.get("categories") or {}),
            "functions": _per_step(a, a.get("functions") or {}),
            "calls": {k: v / steps for k, v in (a.get("calls") or {}).items()} if steps else {},
            "python_calls": (a.get("python_calls") or math.nan) / steps if steps else math.nan,
            "profiled_step_s": (a.get("profiled_s") or math.nan) / steps if steps else math.nan,
            "overhead_per_call_s": a.get("overhead_per_call_s"),
        }
    return out


def _ns(seconds: Any) -> str:
    return "—" if is_missing(seconds) else f"{float(seconds) * 1e9:.0f} ns"


def _calls(n: float) -> str:
    return f"{n:.3g} call{'s' if n != 1 else ''}"


def _short(label_: str) -> str:
    module, _, name = label_.partition(":")
    return f"{module.rsplit('.', 1)[-1]}:{name}" if name else label_


def contributors(paradigm: str, a: dict[str, Any], row: pd.Series | None) -> str:
    """"Of Lightning's framework time ..., A: x us/step (n calls), B: ..." in one sentence."""
    top = sorted(a["functions"].items(), key=lambda kv: -kv[1])[:3]
    if not top:
        return ""
    named = "; ".join(f"{_short(k)} {duration(v)}"
                      + (f" ({_calls(a['calls'][k])})" if k in a["calls"] else "")
                      for k, v in top)
    total = a["categories"].get("framework", math.nan)
    excess = "" if row is None or is_missing(row.get("framework_excess_s")) else (
        f" (timed excess over plain {duration(row['framework_excess_s'], True)})")
    return (f"{DISPLAY.get(paradigm, paradigm)}: {duration(total)}/step in framework code"
            f"{excess}, {a['python_calls']:.0f} Python calls/step; the largest: {named}.")


def _data_wait(a: dict[str, Any]) -> tuple[str, str]:
    """(data loading per step, its share of the profiled step): a step that mostly waits for
    its batch measures the loader, not the paradigm."""
    data, step = a["categories"].get("data loading", math.nan), a["profiled_step_s"]
    share = data / step if step and not is_missing(data) and not is_missing(step) else None
    return duration(data), percent(share, signed=False)


def attribution_block(g: Group, profiled: pd.DataFrame) -> dict[str, Any] | None:
    found = attribution_of(g, profiled)
    if not found:
        return None
    ok = {p: a for p, a in found.items() if not a["error"]}
    rows = {r["paradigm"]: r for _, r in g.cells.iterrows()}
    functions = {p: dict(sorted(a["functions"].items(), key=lambda kv: -kv[1])[:TOP_SHOWN])
                 for p, a in ok.items()}
    figure = Markup("")
    if ok:
        # Markup: matplotlib has XML-escaped every text in the SVG (see reports.plots).
        figure = Markup(plots.attribution(
            f"attr-{g.id}", g.title, {p: {c: a["categories"].get(c, 0.0) for c in CATEGORIES}
                                      for p, a in ok.items()},
            {p: {_short(k): v for k, v in f.items()} for p, f in functions.items()}))
    return {
        "figure": figure,
        "sentences": [contributors(p, a, rows.get(p)) for p, a in ok.items()],
        "errors": [(p, text(a["error"])) for p, a in found.items() if a["error"]],
        "profiled": [(p, duration(a["profiled_step_s"]), _ns(a["overhead_per_call_s"]),
                      *_data_wait(a)) for p, a in ok.items()],
    }


def calibration_rows(records: pd.DataFrame, profiled: pd.DataFrame) -> list[dict[str, Any]]:
    """Cells with an injected hook delay: injected, measured in framework time, attributed."""
    out: list[dict[str, Any]] = []
    if records.empty or "calibration" not in records:
        return out
    order = records["paradigm"].map(PARADIGM_ORDER).fillna(99)
    for _, r in records.iloc[order.argsort(kind="stable")].iterrows():
        c = r.get("calibration")
        if not isinstance(c, dict):
            continue
        twin = profiled[(profiled["paradigm"] == r["paradigm"])
                        & (profiled["features"] == r["features"])] if len(profiled) else profiled
        attributed = waited = None
        for _, p in twin.iterrows():
            a = p["attribution"] if isinstance(p["attribution"], dict) else {}
            label_ = "harness.training.calibration:busy_wait"
            if (a.get("calls") or {}).get(label_):
                attributed = a["functions"][label_] / a["calls"][label_]
                waited = (p["calibration"] if isinstance(p["calibration"], dict) else {}
                          ).get("waited_s")
        # the profile reads wall time, so it is held against what its own waits really took
        # (preemption at a wait's end included); records from before those were kept: the delay
        reference = waited or c["injected_s"]
        out.append({"paradigm": r["paradigm"], "workload": r["workload"],
                    "injected": duration(c["injected_s"]), "framework": duration(c["framework_s"]),
                    "framework_err": f"{100 * (c['framework_s'] / c['injected_s'] - 1):+.0f}%",
                    "waited": duration(waited),
                    "attributed": duration(attributed),
                    "attributed_err": "" if attributed is None else
                    f"{100 * (attributed / reference - 1):+.0f}%"})
    return out
