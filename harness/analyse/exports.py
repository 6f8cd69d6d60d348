"""Export records -> one row per artifact, and one per (paradigm, source, format) over repetitions.

An export record (``harness.export.cell``) holds one entry per (source, format). Every artifact
is held against two things: the eager model in eval mode, within its format's tolerance (the
record's ``passed``), and the same artifact from the plain loop in the same session and
repetition, which holds identical weights (the records' weight digests say so) and so must
give identical outputs, bit for bit, unless its outputs are random (dropout active in ONNX
Runtime).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.analyse.analysis import BASELINE, GROUP_KEYS, feature_key
from harness.config import Paradigm
from harness.export.formats import Format, Source

ARTIFACT_KEYS = ["source", "format"]


def config_row(record: dict[str, Any]) -> dict[str, Any]:
    """A record's cell group keys and paradigm, as the training frames spell them."""
    config = {"features": {}, "phases": True, "data": "host", **record["config"]}
    config["features"] = feature_key(config["features"])
    return {k: config.get(k) for k in [*GROUP_KEYS, "paradigm"]}


def export_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per artifact of every successful export record (failed records have none)."""
    rows = []
    for r in records:
        if r["config"].get("scenario") != "export" or r["status"] != "ok":
            continue
        m = r.get("measurements") or {}
        for e in m.get("exports", []):
            b = e.get("behaviour") or {}
            rows.append({
                **config_row(r), "session": r.get("session") or "", "repetition": r["repetition"],
                "source": e["source"], "format": e["format"], "call": e.get("call"),
                "status": e["status"], "message": e.get("message"),
                "passed": e.get("passed"), "max_diff_eval": b.get("max_diff_eval", math.nan),
                "tolerance": e.get("tolerance"), "mode": b.get("mode"),
                "batchnorm": b.get("batchnorm"), "dropout": b.get("dropout"),
                "stochastic": b.get("stochastic"), "mode_at_export": e.get("mode_at_export"),
                "changed_model": len(e.get("changed_model") or []),
                "export_s": e.get("export_s", math.nan), "load_s": e.get("load_s", math.nan),
                "size_bytes": e.get("size_bytes", math.nan),
                "warnings": e.get("warnings") or [],
                "graph_training_nodes": e.get("graph_training_nodes"),
                "unoptimised": e.get("unoptimised"),
                "outputs_sha256": e.get("outputs_sha256"), "outputs": e.get("outputs"),
                "weights_sha256": (m.get("sources") or {}).get(e["source"], {})
                .get("weights_sha256"),
            })
    return pd.DataFrame(rows)


def _against_plain(row: pd.Series, plain: pd.Series | None) -> tuple[str, float]:
    """('identical' | 'differs' | 'other mode' | 'random' | 'baseline' | 'n/a', max |gap|).

    Outputs are compared where both artifacts carry the same mode: an eval-mode artifact and a
    training-mode one differ by design (their cells say so). TorchScript and ExportedProgram
    outputs are taken after one seed, so even active dropout reproduces; ONNX Runtime's
    dropout does not, and such outputs are "random".
    """
    if row["paradigm"] == BASELINE:
        return "baseline", 0.0
    if plain is None or row["status"] != "ok" or plain["status"] != "ok":
        return "n/a", math.nan
    if row["outputs_sha256"] == plain["outputs_sha256"]:
        return "identical", 0.0
    a, b = np.asarray(row["outputs"], float), np.asarray(plain["outputs"], float)
    gap = float(np.abs(a - b).max()) if a.shape == b.shape and a.size else math.inf
    if row["mode"] != plain["mode"]:
        return "other mode", gap
    if row["format"] == "onnx" and (row["stochastic"] or plain["stochastic"]):
        return "random", gap
    return "differs", gap


_RANK = {"identical": 0, "baseline": 0, "other mode": 1, "random": 1, "n/a": 2, "differs": 3}


def _worst(values: list[tuple[str, float]]) -> tuple[str, float]:
    return max(values, key=lambda v: (_RANK[v[0]], np.nan_to_num(v[1], nan=0.0)))


def _flags(rows: pd.DataFrame, column: str) -> str:
    values = sorted({str(v) for v in rows[column] if v is not None and v == v})
    return values[0] if len(values) == 1 else " / ".join(values)


def export_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell group, paradigm, source, format): the worst repetition's verdicts,
    median export time and size, warnings (deduplicated), and the comparison with plain."""
    if frame.empty:
        return frame
    plain = {(tuple(r[k] for k in GROUP_KEYS), r["session"], r["repetition"], r["source"],
              r["format"]): r for _, r in frame[frame["paradigm"] == BASELINE].iterrows()}
    out = []
    for key, g in frame.groupby([*GROUP_KEYS, "paradigm", *ARTIFACT_KEYS], dropna=False,
                                sort=False):
        group = tuple(key[: len(GROUP_KEYS)])
        compared = [_against_plain(r, plain.get((group, r["session"], r["repetition"],
                                                 r["source"], r["format"])))
                    for _, r in g.iterrows()]
        ok = g[g["status"] == "ok"]
        warnings: dict[tuple[str, str], dict[str, Any]] = {}
        for listed in g["warnings"]:
            for w in listed:
                warnings.setdefault((w["category"], w["message"]), w)
        first = g.iloc[0]
        out.append({
            **dict(zip([*GROUP_KEYS, "paradigm", *ARTIFACT_KEYS], key)),
            "n": len(g), "call": first["call"],
            "status": _flags(g, "status"), "message": next(
                (m for m in g["message"] if isinstance(m, str) and m), None),
            "passed": bool(len(ok)) and len(ok) == len(g) and bool(ok["passed"].all()),
            "max_diff_eval": float(ok["max_diff_eval"].max()) if len(ok) else math.nan,
            "tolerance": first["tolerance"],
            "mode": _flags(ok, "mode") if len(ok) else None,
            "batchnorm": _flags(ok, "batchnorm") if len(ok) else None,
            "dropout": _flags(ok, "dropout") if len(ok) else None,
            "mode_at_export": first["mode_at_export"],
            "changed_model": int(g["changed_model"].max()),
            "export_s": float(g["export_s"].astype(float).median()),
            "size_bytes": float(ok["size_bytes"].astype(float).median()) if len(ok) else
            math.nan,
            "warnings": list(warnings.values()),
            "graph_training_nodes": first["graph_training_nodes"],
            "unoptimised": first["unoptimised"],
            "vs_plain": _worst(compared)[0], "vs_plain_gap": _worst(compared)[1],
        })
    order = {"paradigm": [p.value for p in Paradigm], "source": [s.value for s in Source],
             "format": [f.value for f in Format]}
    return pd.DataFrame(out).sort_values(
        [*GROUP_KEYS, *order], key=lambda col: col.map(
            lambda v: order[col.name].index(v) if v in order[col.name] else 99)
        if col.name in order else col, kind="stable").reset_index(drop=True)
