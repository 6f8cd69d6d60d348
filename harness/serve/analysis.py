"""What a serving comparison's records add up to, per target: the highest rate within the SLO
in each repetition, their mean with a t interval (``harness.analyse.stats``), the worst
parity, the generator's ceiling, and a one-line verdict.

The highest rate is read off the grid of ``--rates``: a repetition's figure is the last rate
that passed before the first that did not, so the interval says how repeatable it is, not
where between two grid rates the true limit lies. A target that passed every rate has only a
lower bound (shown with ``+``).
"""

from __future__ import annotations

import math
from typing import Any

from harness.analyse.stats import mean_interval
from harness.serve.spec import NOOP

PARITY_ORDER = ("differs", "unchecked", "within tolerance", "bitwise")


def _worst_parity(values: list[str | None]) -> str | None:
    found = [v for v in values if v]
    return min(found, key=PARITY_ORDER.index) if found else None


def target_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target (the no-op ceiling first), in the order the records first name them."""
    order: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for run in data.get("runs", []):
        order.setdefault((run["paradigm"], run["path"]), []).append(run)
    rows = [_row(key, runs, data["spec"]["slo_ms"]) for key, runs in order.items()]
    return sorted(rows, key=lambda r: r["path"] != NOOP)


def _row(key: tuple[Any, str], runs: list[dict[str, Any]], slo_ms: float) -> dict[str, Any]:
    paradigm, path = key
    ok = [r for r in runs if r["status"] in ("ok", "died") and r["points"]]
    limits = [float(r["limit_rps"]) for r in ok if "limit_rps" in r]
    failures = [r for r in runs if r["status"] != "ok"]
    interval = mean_interval(limits) if len(limits) >= 2 else None
    return {
        "paradigm": paradigm, "path": path,
        "label": "generator ceiling (no-op)" if path == NOOP else f"{paradigm} / {path}",
        "limits": limits, "mean": sum(limits) / len(limits) if limits else math.nan,
        "interval": interval, "low": min(limits, default=math.nan),
        "high": max(limits, default=math.nan),
        "lower_bound": bool(ok) and not any(r.get("limit_reached") for r in ok),
        "parity": _worst_parity([r.get("parity") for r in runs]),
        "statuses": sorted({r["status"] for r in runs}),
        "messages": sorted({r.get("message", "") for r in failures} - {""}),
        "curve": _curve(ok), "slo_ms": slo_ms,
        "startup_s": [r["startup_s"] for r in runs if "startup_s" in r],
        "unstable_points": sum(not p["stable"] for r in ok for p in r["points"]),
        "points": sum(len(r["points"]) for r in ok),
    }


def _curve(runs: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Per target rate: the median over repetitions of achieved rate, p50 and p99."""
    by_rate: dict[float, list[dict[str, Any]]] = {}
    for run in runs:
        for point in run["points"]:
            by_rate.setdefault(point["target_rps"], []).append(point)
    out = []
    for rate in sorted(by_rate):
        pts = by_rate[rate]
        out.append({"target_rps": rate, **{k: _median([p[k] for p in pts]) for k in
                                           ("achieved_rps", "p50_ms", "p99_ms", "p99_9_ms")},
                    "errors": sum(p["errors"] for p in pts), "n": len(pts)})
    return out


def _median(values: list[float]) -> float:
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    if not finite:
        return math.nan
    mid = len(finite) // 2
    return finite[mid] if len(finite) % 2 else (finite[mid - 1] + finite[mid]) / 2


def verdict(data: dict[str, Any]) -> str:
    """One line: the best and worst targets within the SLO, and the generator's ceiling."""
    rows = target_rows(data)
    slo = data["spec"]["slo_ms"]
    served = [r for r in rows if r["path"] != NOOP and r["limits"]]
    if not served:
        return f"Serving: no target was measured within the {slo:g} ms p99 SLO."
    best = max(served, key=lambda r: r["mean"])
    worst = min(served, key=lambda r: r["mean"])
    ceiling = next((r for r in rows if r["path"] == NOOP), None)
    text = f"Serving {data['spec']['workload']} at p99 <= {slo:g} ms: "
    if _rate(best) == _rate(worst):
        text += f"every target {_rate(best)} req/s"
    else:
        text += (f"{best['label']} {_rate(best)} req/s to {worst['label']} {_rate(worst)} "
                 "req/s")
    if ceiling and ceiling["limits"]:
        text += f"; the generator's own ceiling {_rate(ceiling)} req/s"
        if ceiling["lower_bound"]:
            text += " (above every rate tried)"
        elif any(r["mean"] >= ceiling["mean"] for r in served):
            text += " (some targets reach it: there the client, not the server, is the limit)"
    differ = [r["label"] for r in served if r["parity"] == "differs"]
    if differ:
        text += f"; answers differ from the in-process model on {', '.join(differ)}"
    return text + "."


def _rate(row: dict[str, Any]) -> str:
    return f"{row['mean']:g}" + ("+" if row["lower_bound"] else "")
