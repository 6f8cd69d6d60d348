"""A run as pandas DataFrames: one row per record, and one row per cell with its statistics.

A *cell group* is every paradigm run under the same config (workload, size, profile,
precision, world size, batch, ...); the plain loop in the group is the baseline that overhead
and parity are measured against.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from harness.analyse.ranks import CONFIDENCE, MIN_N_MEDIAN
from harness.analyse.stats import (
    Summary,
    mean_difference,
    mean_estimate,
    overhead,
    speed_normalised_difference,
)
from harness.analyse.stopping import adaptive_level
from harness.config import Paradigm, Precision
from harness.features import Features

GROUP_KEYS = ["workload", "size", "profile", "precision", "world_size", "nnodes", "batch_size",
              "device", "threads", "steps", "warmup", "window", "seed", "workers", "data",
              "features", "phases", "compile", "compile_style"]
PHASE_COLUMNS = ("forward_s", "backward_s", "optimizer_s", "data_s", "sync_s", "framework_s")
# What framework time is, in the words every page that defines it uses
# (``harness.analyse.aggregate.framework_per_step`` computes it).
FRAMEWORK_TIME = ("step time minus the forward + loss, backward, optimizer step and data-wait "
                  "phases (and, on CUDA cells, the host syncs a paradigm forces every step)")
BASELINE = "plain"
# Largest relative per-step loss difference from the baseline that still counts as the same
# training. CPU fp32 must match bit for bit (the weight digests are compared); GPU fp32 allows
# for non-deterministic kernels; mixed precision for reduced-precision rounding.
LOSS_TOLERANCE = {
    ("cpu", Precision.FP32.value): 0.0,
    ("cuda", Precision.FP32.value): 1e-3,
    ("cpu", Precision.BF16_MIXED.value): 5e-2,
    ("cuda", Precision.BF16_MIXED.value): 5e-2,
    ("cpu", Precision.FP16_MIXED.value): 2e-2,
    ("cuda", Precision.FP16_MIXED.value): 2e-2,
}


def feature_key(features: dict[str, Any] | None) -> str:
    """A cell's features as one hashable, readable value (its label; "none" for bare)."""
    return Features.from_dict(features or {}).label


def training_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of training cells: export and predict records have figures of their own
    (``harness.analyse.exports``, ``harness.analyse.predictions``)."""
    return [r for r in records if r["config"].get("scenario", "train") == "train"]


def group_key(config: dict[str, Any]) -> tuple[Any, ...]:
    """A cell config (as a record or the manifest holds it) as its cell group's key in the
    frames (``GROUP_KEYS`` values; the features as their label)."""
    full = {"phases": True, "data": "host", "compile": "none", "compile_style": "model",
            **config, "features": feature_key(config.get("features"))}
    return tuple(full.get(k) for k in GROUP_KEYS)


def plan_levels(manifest: dict[str, Any]) -> dict[tuple[Any, ...], float]:
    """Cell group -> the level of its intervals, for the groups that repeated "until the
    interval is tight" (``harness.analyse.stopping.Plan.level``); other groups use 95%."""
    out = {}
    for cell in manifest.get("cells") or []:
        if isinstance(cell, dict) and cell.get("until_ci_pct") is not None:
            # a manifest from before min_repetitions was written: the fewest looks' start, so
            # the level is, if anything, conservative
            first = cell.get("min_repetitions", MIN_N_MEDIAN)
            out[group_key(cell)] = adaptive_level(int(first), int(cell["repetitions"]))
    return out


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per training record: the config, the status and the headline measurements.

    ``features`` holds the feature label (a cell group key); ``profiler`` marks profiling
    repetitions, which carry an attribution and no timing the statistics may use.
    """
    rows = []
    for r in training_records(records):
        m = r.get("measurements") or {}
        startup, memory = m.get("startup", {}), m.get("memory", {})
        phases, disk = m.get("phases") or {}, m.get("disk") or {}
        # defaults for records written before these settings existed
        config = {"features": {}, "phases": True, "profiler": False, "data": "host",
                  "compile": "none", "compile_style": "model", **r["config"]}
        rows.append({
            **config,
            "features": feature_key(config["features"]),
            "features_json": json.dumps(config["features"], sort_keys=True),
            "feature_names": ",".join(Features.from_dict(config["features"]).active()),
            "key": r["key"],
            "repetition": r["repetition"],
            "session": r.get("session") or "",
            "status": r["status"],
            "message": r.get("message"),
            "step_time_s": m.get("step_time_s", math.nan),
            "median_window_step_s": m.get("median_window_step_s", math.nan),
            **{f"{k}_s": phases.get(k, math.nan)
               for k in ("forward", "backward", "optimizer", "data", "sync")},
            "framework_s": phases.get("framework_s", math.nan),
            "probed_step_s": phases.get("step_host_s", math.nan),  # the steps phases timed
            "write_chars": disk.get("write_chars"),
            "items_per_s": m.get("items_per_s", math.nan),
            "item_name": m.get("item_name"),
            "import_framework_s": startup.get("import_framework_s", math.nan),
            "to_first_step_s": startup.get("to_first_step_s", math.nan),
            "spawn_to_first_step_s": startup.get("spawn_to_first_step_s", math.nan),
            "process_wall_s": r.get("process_wall_s", math.nan),
            "start": r.get("start") or "cold",  # records from before warm servers: cold
            "host_peak_rss_bytes": memory.get("host_peak_rss_bytes"),
            "cuda_max_allocated_bytes": memory.get("cuda_max_allocated_bytes"),
            "cuda_max_reserved_bytes": memory.get("cuda_max_reserved_bytes"),
            "nvml_used_peak_bytes": memory.get("nvml_used_peak_bytes"),
            "mfu": m.get("mfu"),
            "flops_per_step": m.get("flops_per_step"),
            "energy_per_item_j": m.get("energy_per_item_j"),
            "lightning_ddp_sync_s": (m.get("framework_sync_s") or {}).get("lightning_ddp_sync_s"),
            "warnings": "; ".join(r.get("warnings") or []),
            "weights_sha256": m.get("weights_sha256"),
            "losses": m.get("losses"),
            "events": m.get("events"),
            "attribution": m.get("attribution"),
            "calibration": m.get("calibration"),
            **_compile_columns(r),
        })
    return pd.DataFrame(rows)


def _compile_columns(record: dict[str, Any]) -> dict[str, Any]:
    """A compiled record's dynamo figures (``harness.measure.compilation``); a failed one
    keeps what its partial run counted."""
    compiled = ((record.get("measurements") or {}).get("compile")
                or (record.get("partial") or {}).get("compile") or {})
    total, late = compiled.get("total") or {}, compiled.get("after_warmup") or {}
    return {"compile_s": total.get("compile_s", math.nan),
            "backward_compile_s": total.get("backward_compile_s", math.nan),
            "graphs": total.get("graphs"), "graph_breaks": total.get("graph_breaks"),
            "recompiles": total.get("recompiles"),
            "recompile_limit_hit": compiled.get("recompile_limit_hit"),
            "compile_after_warmup_s": late.get("compile_s", math.nan),
            "syncs_per_step": compiled.get("syncs_per_step"),
            "break_reasons": compiled.get("break_reasons"),
            "cache_state": (record.get("compile_cache") or {}).get("state"),
            "cache_shared_by": ", ".join((record.get("compile_cache") or {}).get("shared_by")
                                         or [])}


def timed(records: pd.DataFrame) -> pd.DataFrame:
    """Successful, timed records of timing repetitions (profiling repetitions left out)."""
    if records.empty:
        return records
    finite = np.isfinite(records["step_time_s"].astype(float))
    return records[(records["status"] == "ok") & finite & ~records["profiler"].astype(bool)]


def _loss_gap(losses: list[float], baseline: list[float]) -> float:
    a, b = np.asarray(losses, float), np.asarray(baseline, float)
    if a.shape != b.shape or not a.size:
        return math.inf
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def parity_verdict(row: pd.Series, base: pd.Series | None) -> tuple[str, float]:
    """('bitwise' | 'close' | 'differs' | 'baseline' | 'n/a', worst relative loss gap)."""
    if row["paradigm"] == BASELINE:
        return "baseline", 0.0
    if base is None or row["losses"] is None or base["losses"] is None:
        return "n/a", math.nan
    if row["weights_sha256"] == base["weights_sha256"]:
        return "bitwise", 0.0
    gap = _loss_gap(row["losses"], base["losses"])
    tol = LOSS_TOLERANCE.get((row["device"], row["precision"]), 0.0)
    if tol == 0.0:  # bitwise is the rule here: equal losses with other weights still differ
        return "differs", gap
    return ("close" if gap <= tol else "differs"), gap


_PARITY_RANK = {"bitwise": 0, "baseline": 0, "close": 1, "n/a": 2, "differs": 3}
MEDIAN_COLUMNS = ("cuda_max_allocated_bytes", "cuda_max_reserved_bytes", "nvml_used_peak_bytes",
                  "mfu", "flops_per_step", "energy_per_item_j", "lightning_ddp_sync_s")
# Start-up figures: from cold repetitions only (a warm one forked from a server that had
# imported the paradigm, so its import and time to first step are not the paradigm's).
COLD_COLUMNS = ("import_framework_s", "to_first_step_s", "spawn_to_first_step_s",
                "process_wall_s", "host_peak_rss_bytes")


def cold(frame: pd.DataFrame) -> pd.DataFrame:
    """The records that paid their framework's import: the start-up figures' samples."""
    if "start" not in frame.columns:
        return frame
    return frame[frame["start"] != "warm"]


def _worst_parity(reps: pd.DataFrame, base: pd.Series | None) -> tuple[str, float]:
    """Every repetition against the baseline's first: one that drifts is not hidden."""
    verdicts = [parity_verdict(row, base) for _, row in reps.iterrows()]
    return max(verdicts, key=lambda v: (_PARITY_RANK[v[0]], np.nan_to_num(v[1], nan=0.0)))


def by_repetition(frame: pd.DataFrame, column: str) -> dict[tuple[str, int], float]:
    """A column's finite values keyed by (session, repetition): how interleaved repetitions
    pair up. A repetition re-run by a later session (a resume) pairs with nothing earlier."""
    out = {}
    for session, rep, value in zip(frame["session"], frame["repetition"], frame[column]):
        if value is not None and math.isfinite(float(value)):
            out[(str(session), int(rep))] = float(value)
    return out


def _framework(row: dict[str, Any], p: pd.DataFrame, base: pd.DataFrame) -> None:
    """Phase means, framework time (t interval) and its excess over the plain loop."""
    for col in PHASE_COLUMNS:
        row[col] = float(p[col].astype(float).mean())
    fw = p["framework_s"].astype(float)
    if fw.isna().all():
        return
    est = mean_estimate(fw.dropna().tolist())
    row.update(framework_ci=est.ci, framework_method=est.method)
    base_fw = by_repetition(base, "framework_s")
    if base_fw and row["paradigm"] != BASELINE:
        raw = mean_difference(by_repetition(p, "framework_s"), base_fw)
        d = speed_normalised_difference(with_compute(p), with_compute(base))
        if d.ci is None:  # records without phase times: the raw difference
            d = raw
        row.update(framework_excess_s=d.value, framework_excess_ci=d.ci,
                   framework_excess_method=d.method, framework_excess_raw_s=raw.value,
                   framework_excess_raw_ci=raw.ci)


def with_compute(frame: pd.DataFrame) -> dict[tuple[str, int], tuple[float, float]]:
    """(framework time, compute time) per repetition, keyed as ``by_repetition``: compute is
    forward + backward + optimizer, the work every paradigm does alike."""
    fw = by_repetition(frame, "framework_s")
    compute = by_repetition(frame.assign(compute_s=frame["forward_s"].astype(float)
                                         + frame["backward_s"].astype(float)
                                         + frame["optimizer_s"].astype(float)), "compute_s")
    return {k: (fw[k], compute[k]) for k in fw if compute.get(k, 0.0) > 0}


def cells_frame(records: pd.DataFrame, levels: dict[tuple[Any, ...], float] | None = None
                ) -> pd.DataFrame:
    """One row per (cell group, paradigm): statistics over the successful repetitions.

    ``levels`` (``plan_levels``) gives the adaptively stopped groups the level of their
    order-statistic intervals (step time and overhead); the rest are at 95%.
    """
    ok = timed(records)  # a NaN would poison every statistic
    rows = []
    for group, g in ok.groupby(GROUP_KEYS, dropna=False, sort=True):
        base = g[g["paradigm"] == BASELINE]
        base_steps = by_repetition(base, "step_time_s")
        level = (levels or {}).get(tuple(group), CONFIDENCE)
        for paradigm in [m.value for m in Paradigm if m.value in set(g["paradigm"])]:
            p = g[g["paradigm"] == paradigm].sort_values("repetition")
            steps = Summary(tuple(p["step_time_s"]))
            row: dict[str, Any] = dict(zip(GROUP_KEYS, group))
            row.update(paradigm=paradigm, n=steps.n, step_time_s=steps.median, ci_level=level,
                       step_p10_s=steps.p10, step_p90_s=steps.p90, step_ci=steps.ci_at(level),
                       step_cv=steps.cv, unstable=steps.unstable,
                       step_samples=list(steps.samples),
                       items_per_s=float(p["items_per_s"].median()),
                       item_name=p["item_name"].iloc[0])
            for col in MEDIAN_COLUMNS:
                row[col] = float(p[col].astype(float).median())
            for col in COLD_COLUMNS:
                row[col] = float(cold(p)[col].astype(float).median())
            row["cold_n"] = len(cold(p))
            row["warnings"] = "; ".join(sorted({w for joined in p["warnings"] if joined
                                                for w in joined.split("; ")}))
            row["median_window_step_s"] = float(p["median_window_step_s"].astype(float).median())
            if base_steps and paradigm != BASELINE:
                ov = overhead(by_repetition(p, "step_time_s"), base_steps, level)
                row.update(overhead_s=ov.seconds, overhead_ci=ov.ci, overhead_frac=ov.fraction,
                           overhead_frac_ci=ov.fraction_ci, break_even_step_s=ov.break_even_step_s,
                           overhead_method=ov.method)
            _framework(row, p, base)
            verdict, gap = _worst_parity(p, base.iloc[0] if len(base) else None)
            row.update(parity=verdict, loss_gap=gap)
            rows.append(row)
    return pd.DataFrame(rows)
