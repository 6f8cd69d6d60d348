"""What each convenience costs: a cell with a feature minus the same cell without it.

For every cell whose features include F and whose run also holds the same config with F
turned off (``Features.without``), per paradigm:

- cost per step: the difference of mean step times (every measured step's time over their
  number, so work done every N steps counts in full), with a t interval over repetitions
  (paired by repetition and session: the two cells ran interleaved);
- framework time per step: the same difference of the in-process framework time;
- cost per event, for features that act every N steps (a checkpoint, a validation pass, a log
  write): the per-step cost times the measured steps over the events in them;
- memory: the difference of the median host peak RSS (and CUDA allocated, on GPUs);
- disk: bytes written during the measured steps, per event where there are events.

For ``metrics``, also the metric calls themselves (``harness.measure.metric_clock``): the
host time of the updates per validation batch and of the compute (with any sync) per
validation pass, and with metrics on training steps of their calls per training step (the
measured steps only: warm-up's first calls build the state), each a t interval over
repetitions, and on CUDA the host syncs per update, per compute and per training step.

The phase probes are costed the same way, from cells with ``phases`` off against on.
Features whose cost is not a running cost (``resume``, ``fault``) are left out.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from harness.analyse.analysis import GROUP_KEYS, by_repetition, timed
from harness.analyse.stats import mean_difference, mean_estimate
from harness.features import FeatureError, Features

NOT_COSTED = {"resume", "fault"}
PROBES = "phase probes"
MATCH_KEYS = [k for k in GROUP_KEYS if k not in ("features", "phases")] + ["paradigm"]


def _events_in_span(feature: str, f: Features, rec: pd.Series) -> float | None:
    """How many times a per-N feature acted during the measured steps of one record."""
    first, last = int(rec["warmup"]), int(rec["warmup"]) + int(rec["steps"])
    events = rec["events"] or {}
    if feature in ("validate", "checkpoint-best", "early-stop", "metrics"):
        return float(sum(1 for v in events.get("validations", []) if first < v["step"] <= last))
    every = {"checkpoint": f.ckpt_every, "log": f.log_every}.get(feature)
    if every:
        return float(last // every - first // every)
    return None


def metric_call_costs(records: pd.DataFrame) -> dict[str, Any]:
    """Per-batch update, per-pass compute and per-training-step host time (intervals over
    repetitions) and, on CUDA, syncs per update, per compute and per training step, from the
    records' metric clocks."""
    update, compute, syncs, step, step_syncs = [], [], [], [], []
    for events, measured in zip(records["events"], records["steps"]):
        costs = (events or {}).get("metric_costs") if isinstance(events, dict) else None
        if not costs:
            continue
        timed_steps = costs.get("step_s", [])[-int(measured):]
        if timed_steps:
            step.append(float(np.mean(timed_steps)))
        if costs.get("step_syncs"):
            step_syncs.append(float(np.mean(costs["step_syncs"])))
        if costs["batches"]:
            update.append(sum(costs["update_s"]) / costs["batches"])
        if costs["compute_s"]:
            compute.append(sum(costs["compute_s"]) / max(costs["passes"] - bool(
                costs["counted_batches"]), 1))
        if costs["counted_batches"]:
            syncs.append((sum(costs["update_syncs"]) / costs["counted_batches"],
                          float(sum(costs["compute_syncs"]))))
    u, c, st = mean_estimate(update), mean_estimate(compute), mean_estimate(step)
    return {"update_s": u.value, "update_ci": u.ci, "compute_s": c.value, "compute_ci": c.ci,
            "step_metric_s": st.value if step else None, "step_metric_ci": st.ci,
            "syncs_per_update": float(np.mean([s[0] for s in syncs])) if syncs else None,
            "syncs_per_compute": float(np.mean([s[1] for s in syncs])) if syncs else None,
            "syncs_per_step": float(np.mean(step_syncs)) if step_syncs else None}


def _row(feature: str, f: Features, with_: pd.DataFrame, without: pd.DataFrame
         ) -> dict[str, Any]:
    cost = mean_difference(by_repetition(with_, "step_time_s"),
                           by_repetition(without, "step_time_s"))
    fw = mean_difference(by_repetition(with_, "framework_s"), by_repetition(without, "framework_s"))
    base_step = float(without["step_time_s"].astype(float).mean())
    steps = float(with_["steps"].iloc[0])
    events = [_events_in_span(feature, f, r) for _, r in with_.iterrows()]
    counted = [e for e in events if e is not None]
    per_run = float(np.mean(counted)) if counted else None
    disk = (with_["write_chars"].astype(float).mean()
            - without["write_chars"].astype(float).mean())
    first = with_.iloc[0]
    return {
        **{k: first[k] for k in MATCH_KEYS}, "feature": feature, "cell_features": first["features"],
        "base_features": without.iloc[0]["features"], "n": cost.n,
        "cost_s": cost.value, "cost_ci": cost.ci, "cost_method": cost.method,
        "cost_frac": cost.value / base_step if base_step else math.nan,
        "framework_cost_s": fw.value, "framework_cost_ci": fw.ci,
        "events": per_run,
        "per_event_s": cost.value * steps / per_run if per_run else None,
        "rss_delta_bytes": float(with_["host_peak_rss_bytes"].astype(float).median()
                                 - without["host_peak_rss_bytes"].astype(float).median()),
        "cuda_delta_bytes": float(with_["cuda_max_allocated_bytes"].astype(float).median()
                                  - without["cuda_max_allocated_bytes"].astype(float).median()),
        "disk_bytes": disk if math.isfinite(disk) else None,
        "disk_per_event_bytes": disk / per_run if per_run and math.isfinite(disk) else None,
        **(metric_call_costs(with_) if feature == "metrics" else {}),
    }


def feature_costs(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (config, paradigm, feature) whose cell without the feature was run too."""
    ok = timed(records)
    if ok.empty or "features_json" not in ok:
        return pd.DataFrame()
    rows = []
    for _, g in ok.groupby(MATCH_KEYS, sort=False, dropna=False):
        cells = {(fj, bool(ph)): c for (fj, ph), c in g.groupby(["features_json", "phases"])}
        for (fj, phases), with_ in cells.items():
            f = Features.from_dict(json.loads(fj))
            for feature in f.active():
                if feature in NOT_COSTED:
                    continue
                try:
                    base = json.dumps(f.without(feature).to_dict(), sort_keys=True)
                except FeatureError:  # another feature needs it (best-k needs validation):
                    continue  # no valid cell without it, so no cost of its own
                if (base, phases) in cells:
                    rows.append(_row(feature, f, with_, cells[base, phases]))
            if phases and (fj, False) in cells:
                rows.append(_row(PROBES, f, with_, cells[fj, False]))
    return pd.DataFrame(rows)
