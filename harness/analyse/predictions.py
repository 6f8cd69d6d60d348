"""Predict records -> one row per record, and one per (cell group, path) with the overhead.

A predict cell group is one config's prediction paths: the three paradigms' loops and the
artifact runtimes (``harness.analyse.stopping.group_of``). Each path's time per batch is held
against the plain loop's exactly as a training step is: the median of the paired differences
of interleaved repetitions (paired by session and repetition) with the sign test's interval
(``harness.analyse.stats.overhead``). The first batch's predictions are held against the plain
loop's: bit for bit for the torch paths, within ONNX's tolerance for ONNX Runtime.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.analyse.analysis import BASELINE, GROUP_KEYS, by_repetition
from harness.analyse.exports import config_row
from harness.analyse.stats import Summary, overhead
from harness.export.formats import Format, tolerance

PATH_ORDER = ["plain", "lightning", "ignite", "torchscript", "onnxruntime", "exported-program"]
MEMORY = ("host_peak_rss_bytes", "cuda_max_allocated_bytes", "nvml_used_peak_bytes")
RUNTIME_FORMATS = {"torchscript": Format.TORCHSCRIPT, "onnxruntime": Format.ONNX,
                   "exported-program": Format.EXPORTED_PROGRAM}


def predict_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in records:
        scenario = r["config"].get("scenario", "train")
        if not scenario.startswith("predict"):
            continue
        m = r.get("measurements") or {}
        memory, predictions = m.get("memory") or {}, m.get("predictions") or {}
        rows.append({
            **config_row(r), "scenario": scenario,
            "path": scenario.removeprefix("predict-") if "-" in scenario else r["config"][
                "paradigm"],
            "key": r["key"], "session": r.get("session") or "", "repetition": r["repetition"],
            "status": r["status"], "message": r.get("message"),
            "step_time_s": m.get("step_time_s", math.nan),
            "items_per_s": m.get("items_per_s", math.nan), "item_name": m.get("item_name"),
            "first_batch_s": m.get("first_batch_s", math.nan),
            **{k: memory.get(k) for k in MEMORY},
            "first_sha256": predictions.get("first_sha256"), "first": predictions.get("first"),
        })
    return pd.DataFrame(rows)


def _order(path: str) -> int:
    return PATH_ORDER.index(path) if path in PATH_ORDER else len(PATH_ORDER)


def _agreement(path: str, p: pd.DataFrame, base: pd.DataFrame) -> tuple[str, float]:
    """('identical' | 'close' | 'differs' | 'n/a', largest gap) of this path's first-batch
    predictions against the plain loop's; close: within the tolerance of its format."""
    if not len(base) or not len(p):
        return "n/a", math.nan
    ref = np.asarray(base.iloc[0]["first"], float)
    if all(s == base.iloc[0]["first_sha256"] for s in p["first_sha256"]):
        return "identical", 0.0
    gaps = [float(np.abs(np.asarray(v, float) - ref).max()) if len(v) == len(ref) else math.inf
            for v in p["first"]]
    fmt = RUNTIME_FORMATS.get(path, Format.TORCHSCRIPT)
    bound = tolerance(str(p["device"].iloc[0]), fmt) * max(1.0, float(np.abs(ref).max()))
    return ("close" if max(gaps) <= bound else "differs"), max(gaps)


def _median(p: pd.DataFrame, column: str) -> float:
    values = p[column].astype(float).dropna()
    return float(values.median()) if len(values) else math.nan


def predict_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell group, path) over its successful repetitions."""
    if frame.empty:
        return frame
    ok = frame[(frame["status"] == "ok") & np.isfinite(frame["step_time_s"].astype(float))]
    rows = []
    for group, g in ok.groupby(GROUP_KEYS, dropna=False, sort=True):
        base = g[g["path"] == BASELINE]
        base_steps = by_repetition(base, "step_time_s")
        for path in sorted(set(g["path"]), key=_order):
            p = g[g["path"] == path].sort_values("repetition")
            steps = Summary(tuple(p["step_time_s"]))
            row: dict[str, Any] = dict(zip(GROUP_KEYS, group))
            row.update(path=path, n=steps.n, step_time_s=steps.median, step_ci=steps.ci,
                       items_per_s=_median(p, "items_per_s"), item_name=p["item_name"].iloc[0],
                       first_batch_s=_median(p, "first_batch_s"),
                       **{c: _median(p, c) for c in MEMORY})
            if base_steps and path != BASELINE:
                ov = overhead(by_repetition(p, "step_time_s"), base_steps)
                row.update(overhead_s=ov.seconds, overhead_ci=ov.ci, overhead_frac=ov.fraction,
                           overhead_frac_ci=ov.fraction_ci, overhead_method=ov.method)
            verdict, gap = ("baseline", 0.0) if path == BASELINE else _agreement(path, p, base)
            row.update(predictions=verdict, predictions_gap=gap)
            rows.append(row)
    return pd.DataFrame(rows)
