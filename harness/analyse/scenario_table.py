"""The terminal summary of a run's export and predict cells (the HTML report has the detail)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.analyse import formatting as fmt
from harness.analyse.analysis import GROUP_KEYS
from harness.analyse.exports import export_frame, export_table
from harness.analyse.predictions import predict_frame, predict_table

EXPORT_COLUMNS = ["paradigm", "source", "format", "result", "mode", "max |Δ| vs eval",
                  "vs plain", "export", "size", "warnings"]
PREDICT_COLUMNS = ["path", "time/batch", "95% CI", "overhead vs plain", "overhead CI",
                   "throughput", "first batch", "peak RSS", "predictions vs plain"]


def _block(title: str, columns: list[str], rows: list[list[str]]) -> list[str]:
    table = [columns, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    return [f"\n{title}"] + ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths))
                             for r in table]


def _title(row: pd.Series, what: str) -> str:
    return (f"{what}: {row['workload']} ({row['size']}), batch {row['batch_size']}, "
            f"{row['device']} x{row['threads']} threads, {row['steps']} steps")


def _export_line(r: pd.Series) -> list[str]:
    ok = r["status"] == "ok"
    result = ("pass" if r["passed"] else "FAIL") if ok else r["status"]
    mode = "" if not ok else r["mode"] if r["mode"] == "eval" else (
        f"{r['mode']} (bn {r['batchnorm']}, dropout {r['dropout']})")
    deprecations = sum(w["deprecation"] for w in r["warnings"])
    return [r["paradigm"], r["source"], r["format"], result, mode,
            f"{r['max_diff_eval']:.1e}" if ok else "", r["vs_plain"],
            fmt.duration(r["export_s"]), fmt.nbytes(r["size_bytes"]) if ok else "",
            f"{len(r['warnings'])} ({deprecations} deprecation)" if r["warnings"] else "0"]


def _predict_line(r: pd.Series) -> list[str]:
    has = "overhead_s" in r and pd.notna(r.get("overhead_s"))
    return [r["path"], fmt.duration(r["step_time_s"]), fmt.interval(r["step_ci"]),
            f"{fmt.duration(r['overhead_s'], True)} ({fmt.percent(r['overhead_frac'])})"
            if has else "—", fmt.interval(r["overhead_ci"], True) if has else "",
            fmt.rate(r["items_per_s"], r["item_name"] or "items"),
            fmt.duration(r["first_batch_s"]), fmt.nbytes(r["host_peak_rss_bytes"]),
            str(r["predictions"])]


def format_scenarios(records: list[dict[str, Any]]) -> str:
    """Export and predict tables, and the scenario cells that did not succeed ("" if none)."""
    out: list[str] = []
    exports = export_table(export_frame(records))
    for _, g in (exports.groupby(GROUP_KEYS, sort=False, dropna=False) if len(exports) else []):
        out += _block(_title(g.iloc[0], "export"), EXPORT_COLUMNS,
                      [_export_line(r) for _, r in g.iterrows()])
    predict = predict_table(predict_frame(records))
    for _, g in (predict.groupby(GROUP_KEYS, sort=False, dropna=False) if len(predict) else []):
        out += _block(_title(g.iloc[0], "predict"), PREDICT_COLUMNS,
                      [_predict_line(r) for _, r in g.iterrows()])
    failed = [r for r in records if r["config"].get("scenario", "train") != "train"
              and r["status"] != "ok"]
    if failed:
        out.append("\nexport/predict cells not measured:")
        out += [f"  [{r['status']}] {r['key']} r{r['repetition']}: {r.get('message')}"
                for r in failed]
    return "\n".join(out)
