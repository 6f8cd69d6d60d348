"""The metrics feature's values against scikit-learn's, from the predictions a cell recorded.

A metrics cell records the values its paradigm reported after the last validation, and the
trained model's predictions on every rank's padded validation shard (re-run after training
with the same batches and autocast). scikit-learn computes, from those rows:

- ``padded``: over the padded set, every rank's shard together (what gathering the metric
  state across ranks gives: ``metrics_sync=state``, every library's default);
- ``dataset``: over each sample once (what the metric over the dataset is);
- ``rank0``: rank 0's shard alone (``metrics_sync=off``);
- ``rank_mean``: each rank's value, averaged (``metrics_sync=sync_dist``).

With metrics on training steps, a cell also records the values its paradigm reported for its
last training batch and that batch's (prediction, target) rows (rank 0's): scikit-learn's
values on them are the reference at world size 1, and under DDP with ``metrics_sync=off``;
under DDP otherwise the step value spans every rank's batch, which no record holds, and the
row says so.

A cell's value is checked against the one its setting computes, within ``TOLERANCE``: the
values are ratios of counts, which torchmetrics divides in float32 (Ignite in float64).
"F1 default" is each library's own default averaging: torchmetrics' ``F1Score`` micro,
Ignite's ``Fbeta`` macro.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.features import Features
from harness.metric_choices import MetricSync

TOLERANCE = 1e-6  # absolute
DEFAULT_AVERAGE = {"plain": "micro", "lightning": "micro", "ignite": "macro"}
SYNC_REFERENCE = {MetricSync.STATE: "padded", MetricSync.OFF: "rank0",
                  MetricSync.SYNC_DIST: "rank_mean"}
INSTALL = "pip install 'paradigm-bench[metrics]'"


def sklearn_values(pred: Sequence[int], target: Sequence[int], classes: int,
                   default_average: str) -> dict[str, float]:
    """Every name the feature reports, by scikit-learn (zero_division=0, as torchmetrics)."""
    from sklearn import metrics as sk

    labels = list(range(classes))
    y, p = np.asarray(target), np.asarray(pred)
    out = {"accuracy": float(sk.accuracy_score(y, p))}
    for average in ("macro", "micro", "weighted"):
        out[f"f1_{average}"] = float(sk.f1_score(y, p, labels=labels, average=average,
                                                 zero_division=0))
    out["f1_default"] = out[f"f1_{default_average}"]
    for name, score in (("precision", sk.precision_score), ("recall", sk.recall_score)):
        per_class = score(y, p, labels=labels, average=None, zero_division=0)
        out.update({f"{name}/{c}": float(v) for c, v in enumerate(per_class)})
    matrix = sk.confusion_matrix(y, p, labels=labels)
    out.update({f"confusion/{t}/{q}": float(matrix[t, q]) for t in labels for q in labels})
    return out


def references(rows: dict[str, list[int]], classes: int, default_average: str
               ) -> dict[str, dict[str, float]]:
    """The four reference sets (module docstring) from a cell's prediction rows."""
    frame = pd.DataFrame(rows)
    once = frame.drop_duplicates("index")
    per_rank = [sklearn_values(g["pred"], g["target"], classes, default_average)
                for _, g in frame.groupby("rank")]
    return {
        "padded": sklearn_values(frame["pred"], frame["target"], classes, default_average),
        "dataset": sklearn_values(once["pred"], once["target"], classes, default_average),
        "rank0": per_rank[0],
        "rank_mean": {k: float(np.mean([r[k] for r in per_rank])) for k in per_rank[0]},
    }


def _classes(values: dict[str, float], rows: dict[str, list[int]]) -> int:
    indexed = [int(k.split("/")[1]) for k in values if "/" in k]
    return max([*indexed, *rows["pred"], *rows["target"]]) + 1


def cell_rows(record: pd.Series) -> list[dict[str, Any]]:
    """One row per metric of one record: its value, the reference its setting computes, the
    padded-set and dataset values, and whether it matches."""
    events = record["events"] if isinstance(record["events"], dict) else {}
    values, rows = events.get("metrics") or {}, events.get("metric_predictions")
    if not values:
        return []
    f = Features.from_dict(json.loads(record["features_json"]))
    base = {"paradigm": record["paradigm"], "repetition": int(record["repetition"]),
            "sync": f.metrics_sync.value, "stack": f.metrics_stack.value, "on": "validation"}
    last = int(record["warmup"]) + int(record["steps"])
    problem = None
    if not rows:
        problem = "no predictions recorded (rank 0 records them)"
    elif events.get("metrics_step") != last:
        problem = (f"the last validation ran at step {events.get('metrics_step')}, not the "
                   f"last step {last}: the trained model is not the one it scored")
    refs: dict[str, dict[str, float]] = {}
    if problem is None and rows:
        try:
            refs = references(rows, _classes(values, rows),
                              DEFAULT_AVERAGE.get(record["paradigm"], "micro"))
        except ImportError:
            problem = f"scikit-learn is not installed ({INSTALL})"
    expected = refs.get(SYNC_REFERENCE[f.metrics_sync], {})
    out = []
    for name, value in values.items():
        ref = expected.get(name, math.nan)
        out.append({**base, "metric": name, "value": value, "reference": ref,
                    "padded": refs.get("padded", {}).get(name, math.nan),
                    "dataset": refs.get("dataset", {}).get(name, math.nan),
                    "matches": bool(abs(value - ref) <= TOLERANCE) if refs else None,
                    "problem": problem})
    return out


def step_rows(record: pd.Series) -> list[dict[str, Any]]:
    """One row per metric the paradigm reported for its last training batch, beside
    scikit-learn's on that batch's predictions (module docstring)."""
    events = record["events"] if isinstance(record["events"], dict) else {}
    values, rows = events.get("step_metrics") or {}, events.get("step_predictions")
    if not values:
        return []
    f = Features.from_dict(json.loads(record["features_json"]))
    base = {"paradigm": record["paradigm"], "repetition": int(record["repetition"]),
            "sync": f.metrics_sync.value, "stack": f.metrics_stack.value, "on": "train step"}
    problem, ref = None, {}
    if not rows:
        problem = "no predictions recorded"
    elif int(record["world_size"]) > 1 and f.metrics_sync is not MetricSync.OFF:
        problem = "the step value spans every rank's batch; rank 0 records only its own"
    else:
        try:
            ref = sklearn_values(rows["pred"], rows["target"], _classes(values, rows),
                                 DEFAULT_AVERAGE.get(record["paradigm"], "micro"))
        except ImportError:
            problem = f"scikit-learn is not installed ({INSTALL})"
    return [{**base, "metric": name, "value": value, "reference": ref.get(name, math.nan),
             "padded": math.nan, "dataset": math.nan,
             "matches": bool(abs(value - ref[name]) <= TOLERANCE) if name in ref else None,
             "problem": problem} for name, value in values.items()]


def metric_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Every metrics cell's values beside scikit-learn's, first repetition of each cell."""
    if frame.empty or "feature_names" not in frame:
        return pd.DataFrame()
    ok = frame[(frame["status"] == "ok") & frame["feature_names"].str.contains("metrics")]
    rows = []
    for _, record in ok.sort_values("repetition").drop_duplicates("key").iterrows():
        config = {k: record[k] for k in ("workload", "size", "precision", "world_size",
                                         "batch_size", "device", "features")}
        rows += [{**config, **r} for r in cell_rows(record) + step_rows(record)]
    return pd.DataFrame(rows)
