"""The Metrics section: each metrics cell's values beside scikit-learn's on the same
predictions (``harness.analyse.metric_values``), the padded-set and dataset values under DDP,
and what the metric calls cost (``harness.analyse.feature_costs.metric_call_costs``).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.analyse.feature_costs import feature_costs
from harness.analyse.metric_values import TOLERANCE, metric_values
from reports.groups import PARADIGM_ORDER, ci_text, duration, is_missing, text


def _label(row: pd.Series) -> str:
    return (f"{row['workload']} ({row['size']}) · {row['precision']} · world "
            f"{row['world_size']} · batch {row['batch_size']} · {row['device']} · "
            f"{row['features']}")


def _shown(value: float) -> str:
    return "" if is_missing(value) or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.6g}"


def value_blocks(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per configuration, a row per (metric, paradigm): value, reference, padded, dataset."""
    table = metric_values(frame)
    out: list[dict[str, Any]] = []
    if table.empty:
        return out
    keys = ["workload", "size", "precision", "world_size", "batch_size", "device", "features"]
    for _, g in table.groupby(keys, sort=False):
        g = g.assign(order=g["paradigm"].map(lambda p: PARADIGM_ORDER.get(p, 99)))
        rows = [{"metric": r["metric"], "paradigm": r["paradigm"], "sync": r["sync"],
                 "on": r["on"],
                 "value": _shown(r["value"]), "reference": _shown(r["reference"]),
                 "padded": _shown(r["padded"]), "dataset": _shown(r["dataset"]),
                 "matches": r["matches"], "problem": text(r["problem"] or "")}
                for _, r in g.sort_values(["on", "metric", "order"],
                                          ascending=[False, True, True]).iterrows()]
        padded_differs = any(r["padded"] != r["dataset"] for r in rows)
        # a train-step value under DDP spans every rank's batch: no reference, said per row
        unchecked = [r for r in rows if r["on"] == "train step" and r["matches"] is None]
        out.append({"label": _label(g.iloc[0]), "rows": rows, "padded_differs": padded_differs,
                    "all_match": all(r["matches"] for r in rows if r not in unchecked),
                    "unchecked": len(unchecked)})
    return out


def cost_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The metrics rows of the feature-cost table, with the metric calls' own costs."""
    table = feature_costs(frame)
    if table.empty or "update_s" not in table:
        return []
    rows = []
    for _, r in table[table["feature"] == "metrics"].iterrows():
        rows.append({"label": f"{r['workload']} ({r['size']}) · {r['precision']} · world "
                              f"{r['world_size']} · {r['device']}",
                     "features": text(r["cell_features"]), "paradigm": r["paradigm"],
                     "step": duration(r["cost_s"], True), "step_ci": ci_text(r["cost_ci"], True),
                     "update_time": duration(r["update_s"]), "update_ci": ci_text(r["update_ci"]),
                     "compute_time": duration(r["compute_s"]),
                     "compute_ci": ci_text(r["compute_ci"]),
                     "step_metric_time": duration(r["step_metric_s"]),
                     "step_metric_ci": ci_text(r["step_metric_ci"]),
                     "syncs": _syncs(r)})
    return sorted(rows, key=lambda x: (x["label"], x["features"],
                                       PARADIGM_ORDER.get(x["paradigm"], 99)))


def _syncs(r: pd.Series) -> str:
    """Host syncs counted on CUDA: per validation update and compute, per training step."""
    parts = []
    if not is_missing(r["syncs_per_update"]):
        parts.append(f"{r['syncs_per_update']:.3g} per update, "
                     f"{r['syncs_per_compute']:.3g} per compute")
    if not is_missing(r.get("syncs_per_step")):
        parts.append(f"{r['syncs_per_step']:.3g} per training step")
    return "; ".join(parts)


def section(frame: pd.DataFrame) -> dict[str, Any]:
    return {"value_blocks": value_blocks(frame), "costs": cost_rows(frame), "tolerance": TOLERANCE}
