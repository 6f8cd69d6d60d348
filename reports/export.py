"""The "Export and predict" section: what each paradigm's documented export path puts into the
artifact, and what batch prediction costs through each paradigm and each artifact.

- exports (``harness.analyse.exports``): per cell group, a (paradigm, source) x format table:
  pass or fail against the eager model in eval mode, the mode the artifact carries, the largest
  output difference, the comparison with the plain loop's artifact, export time, size,
  warnings;
- predict (``harness.analyse.predictions``): per cell group, each path's time per batch,
  throughput, overhead against the plain loop with its interval, first-batch latency, memory;
- a one-line verdict on the claim that the frameworks deploy "basically the same", built from
  the measured behaviour of the artifacts exported straight after training and from checkpoints.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.analyse import formatting as fmt
from harness.analyse.analysis import BASELINE, GROUP_KEYS
from harness.analyse.exports import export_frame, export_table
from harness.analyse.predictions import predict_frame, predict_table
from harness.config import Paradigm
from harness.export.formats import TOLERANCE, Format, Source
from reports.groups import DISPLAY, ci_text, duration, is_missing, label, nbytes, number, percent

PARADIGMS = [p.value for p in Paradigm]
FORMATS = [f.value for f in Format]
SOURCES = [s.value for s in Source]


def mode_text(row: pd.Series) -> str:
    """The mode an artifact carries, in words."""
    mode = row.get("mode")
    if is_missing(mode):
        return ""
    if mode == "eval":
        return "eval mode"
    parts = [f"BatchNorm: {row['batchnorm']}" if row["batchnorm"] != "none" else "",
             f"dropout {row['dropout']}" if row["dropout"] != "none" else ""]
    return f"{mode} mode ({', '.join(p for p in parts if p)})"


def _warnings(row: pd.Series) -> str:
    listed = row["warnings"] or []
    deprecations = [w for w in listed if w["deprecation"]]
    if not listed:
        return "no warnings"
    out = f"{len(listed)} warning{'s' if len(listed) != 1 else ''}"
    return out + (f", {len(deprecations)} deprecation{'s' if len(deprecations) != 1 else ''}"
                  if deprecations else "")


def _onnx_note(row: pd.Series) -> str:
    nodes, raw = row.get("graph_training_nodes"), row.get("unoptimised")
    if not isinstance(nodes, dict) or not (nodes.get("dropout") or nodes.get("batchnorm")):
        return ""
    held = ", ".join(f"{n} {k}" for k, n in (("Dropout", nodes["dropout"]),
                                             ("BatchNormalization", nodes["batchnorm"])) if n)
    if not isinstance(raw, dict):
        without = ""
    elif raw["dropout"] == "active":
        without = ("; ONNX Runtime's default graph optimisations drop it: with them off, the "
                   "artifact applies dropout and its outputs change from call to call")
    else:
        without = f"; without ONNX Runtime's graph optimisations: {mode_text(pd.Series(raw))}"
    return f"the graph holds {held} in training mode{without}"


def artifact_cell(row: pd.Series) -> dict[str, Any]:
    """One table cell: an artifact's verdict and figures."""
    ok = row["status"] == "ok"
    verdict = ("pass" if row["passed"] else "fail") if ok else row["status"]
    css = "ok" if verdict == "pass" else "bad" if verdict in ("fail", "failed") else "muted"
    vs = row["vs_plain"]
    vs_text = {"baseline": "", "identical": "identical to plain's", "n/a": "",
               "other mode": "plain's carries another mode", "random": "random outputs"}.get(
        vs, f"differs from plain's by {row['vs_plain_gap']:.2e}")
    changed = (f"the export changed {int(row['changed_model'])} tensors of the model"
               if row["changed_model"] else "")
    return {
        "verdict": verdict, "css": css, "call": row["call"], "mode": mode_text(row),
        "diff": f"max |Δ| {row['max_diff_eval']:.2e}" if ok else "",
        "vs_plain": vs_text, "vs_plain_bad": vs == "differs",
        "export": duration(row["export_s"]), "size": nbytes(row["size_bytes"]) if ok else "",
        "warnings": _warnings(row), "warning_list": [
            f"{w['category']}: {w['message']}" for w in row["warnings"] or []],
        "notes": [n for n in (_onnx_note(row), changed) if n],
        "message": "" if ok else str(row["message"] or ""),
    }


def _export_block(g: pd.DataFrame, block_id: str) -> dict[str, Any]:
    formats = [f for f in FORMATS if f in set(g["format"])]
    rows = []
    for paradigm in [p for p in PARADIGMS if p in set(g["paradigm"])]:
        for source in [s for s in SOURCES if s in set(g["source"])]:
            mine = g[(g["paradigm"] == paradigm) & (g["source"] == source)]
            cells = {r["format"]: artifact_cell(r) for _, r in mine.iterrows()}
            rows.append({"paradigm": paradigm, "source": source,
                         "mode_at_export": mine["mode_at_export"].iloc[0] if len(mine) else "",
                         "cells": [cells.get(f) for f in formats]})
    return {"id": block_id, "label": label(g.iloc[0], []), "formats": formats, "rows": rows,
            "n": int(g["n"].max())}


def _predict_block(g: pd.DataFrame, block_id: str) -> dict[str, Any]:
    rows = []
    for _, r in g.iterrows():
        has = not is_missing(r.get("overhead_s"))
        rows.append({
            "path": r["path"], "n": int(r["n"]), "step": duration(r["step_time_s"]),
            "ci": ci_text(r["step_ci"]),
            "throughput": fmt.rate(number(r["items_per_s"]), str(r["item_name"] or "items")),
            "overhead": (duration(r["overhead_s"], True) if has else
                         "baseline" if r["path"] == BASELINE else "—"),
            "overhead_pct": percent(r["overhead_frac"]) if has else "",
            "overhead_ci": ci_text(r["overhead_ci"], True) if has else "",
            "first_batch": duration(r["first_batch_s"]),
            "rss": nbytes(r["host_peak_rss_bytes"]),
            "cuda": nbytes(r["cuda_max_allocated_bytes"]),
            "nvml": nbytes(r["nvml_used_peak_bytes"]),
            "predictions": r["predictions"] if r["predictions"] != "differs" else
            f"differs by {r['predictions_gap']:.2e}",
        })
    # ONNX Runtime allocates outside torch's allocator: on a GPU only NVML's figure sees it
    return {"id": block_id, "label": label(g.iloc[0], []), "rows": rows,
            "cuda": bool(g["cuda_max_allocated_bytes"].notna().any()),
            "nvml": bool(g["nvml_used_peak_bytes"].notna().any())}


def _behaviour(rows: pd.DataFrame) -> str:
    ordered = rows.sort_values("paradigm", key=lambda s: s.map(PARADIGMS.index))
    return "; ".join(f"{DISPLAY.get(r['paradigm'], r['paradigm'])} "
                     f"{r['mode'] or r['status']} mode ({'passes' if r['passed'] else 'fails'})"
                     for _, r in ordered.iterrows())


def verdict(table: pd.DataFrame, predict: pd.DataFrame) -> str | None:
    """One line on "both frameworks deploy basically the same", from what was measured."""
    if table.empty or len(set(table["paradigm"])) < 2:
        return None
    trained = table[table["source"] == Source.TRAINED.value]
    differ, alike_failing = [], []
    for f in FORMATS:
        rows = trained[trained["format"] == f]
        if len({(r["mode"], r["passed"], r["status"]) for _, r in rows.iterrows()}) > 1:
            differ.append(f"{f}: {_behaviour(rows)}")
        elif len(rows) and not rows["passed"].any():
            alike_failing.append(f"{f} ({rows['mode'].iloc[0] or rows['status'].iloc[0]} mode)")
    checkpoint = table[table["source"] == Source.CHECKPOINT.value]
    same_ckpt = len(checkpoint) and set(checkpoint["vs_plain"]) <= {"identical", "baseline"}
    ckpt = ("from their checkpoints every format's artifact is identical in all three" if
            same_ckpt else "from their checkpoints the artifacts differ too")
    failing = f"alike in all, and failing: {', '.join(alike_failing)}" if alike_failing else ""
    if differ:
        head = ("Not the same, exported straight after training as each documents it: "
                + " | ".join([*differ, *filter(None, [failing])]) + f"; {ckpt}.")
    else:
        head = ("The same: each format behaves alike in every paradigm straight after "
                f"training{f' ({failing})' if failing else ''}; {ckpt}.")
    costs = [f"{r['path']} {percent(r['overhead_frac'])} ({ci_text(r['overhead_frac_ci'], True)})"
             for _, r in predict.iterrows() if not is_missing(r.get("overhead_frac"))
             and r["path"] in PARADIGMS] if len(predict) else []
    if costs:
        head += " Batch prediction over the plain loop: " + ", ".join(costs) + "."
    return head


def tolerances() -> list[dict[str, str]]:
    return [{"device": d, "format": f.value, "tolerance": f"{t:g}"}
            for (d, f), t in TOLERANCE.items()]


def section(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The section's context; ``present`` is False when the run has no export or predict cell."""
    table = export_table(export_frame(records))
    predict = predict_table(predict_frame(records))
    exports = [_export_block(g, f"e{i}") for i, (_, g) in enumerate(
        table.groupby(GROUP_KEYS, dropna=False, sort=True), 1)] if len(table) else []
    predicts = [_predict_block(g, f"p{i}") for i, (_, g) in enumerate(
        predict.groupby(GROUP_KEYS, dropna=False, sort=True), 1)] if len(predict) else []
    scenario = {r["config"].get("scenario", "train") for r in records}
    return {"present": bool(scenario - {"train"}), "exports": exports, "predict": predicts,
            "verdict": verdict(table, predict), "tolerances": tolerances()}
