"""The Features section: what each convenience costs per paradigm, and whether it behaved the
same (``harness.analyse.feature_costs`` for the numbers; the records' feature events for behaviour).

- costs: per configuration, a feature x paradigm table (per step with its t interval, %, per
  event, framework time, memory, disk) and a heatmap;
- behaviour: for every feature cell group, the validation values against the plain loop's,
  the step at which early stopping ended training, the checkpoints kept;
- resume: for cells that stopped and resumed (``resume_at``), whether the resumed run equals
  the uninterrupted one, and where each pass over the data began, which says why not.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from markupsafe import Markup

from harness.analyse.analysis import BASELINE, GROUP_KEYS
from harness.analyse.feature_costs import MATCH_KEYS, feature_costs
from reports import plots
from reports.groups import (
    PARADIGM_ORDER,
    ci_text,
    duration,
    is_missing,
    nbytes,
    number,
    percent,
    text,
)

CONFIG_KEYS = [k for k in MATCH_KEYS if k != "paradigm"]


def _config_label(row: pd.Series) -> str:
    return (f"{row['workload']} ({row['size']}) · {row['precision']} · world "
            f"{row['world_size']} · batch {row['batch_size']} · {row['device']}")


def _cost_cell(r: pd.Series) -> dict[str, str]:
    per_event = r["per_event_s"]
    return {
        "cost": duration(r["cost_s"], True), "pct": percent(r["cost_frac"]),
        "ci": ci_text(r["cost_ci"], True),
        "framework": duration(r["framework_cost_s"], True),
        "per_event": "" if is_missing(per_event) else
        f"{duration(per_event, True)} per event ({number(r['events']):.3g} events)",
        "memory": nbytes(r["rss_delta_bytes"]),
        "disk": "" if is_missing(r["disk_bytes"]) else
        (nbytes(r["disk_per_event_bytes"]) + "/event" if not is_missing(r["disk_per_event_bytes"])
         else nbytes(r["disk_bytes"])),
        "base": text(r["base_features"]),
        "calls": _metric_calls(r),
    }


def _metric_calls(r: pd.Series) -> str:
    """The metrics feature's own calls (update per validation batch, compute per pass, the
    metric calls of each training step)."""
    if r["feature"] != "metrics":
        return ""
    parts = []
    if not is_missing(r.get("update_s")):
        parts.append(f"update {duration(r['update_s'])}/batch ({ci_text(r['update_ci'])}) · "
                     f"compute {duration(r['compute_s'])}/pass ({ci_text(r['compute_ci'])})")
    if not is_missing(r.get("step_metric_s")):
        parts.append(f"per-step metrics {duration(r['step_metric_s'])}/step "
                     f"({ci_text(r['step_metric_ci'])})")
    return " · ".join(parts)


def _feature_name(feature: str, base: str) -> str:
    """"checkpoint" on the bare loop, "early-stop (on validate/20)" on top of another."""
    return feature if base == "none" else f"{feature} (on {base})"


def costs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One block per configuration: rows are features, columns paradigms, and a heatmap."""
    table = feature_costs(frame)
    out: list[dict[str, Any]] = []
    if table.empty:
        return out
    for i, (_, g) in enumerate(table.groupby(CONFIG_KEYS, sort=False, dropna=False), 1):
        paradigms = sorted(set(g["paradigm"]), key=lambda p: PARADIGM_ORDER.get(p, 99))
        names = [_feature_name(f, b) for f, b in zip(g["feature"], g["base_features"])]
        features = list(dict.fromkeys(names))
        cells: dict[tuple[str, str], dict[str, str]] = {}
        fraction, notes = {}, {}
        for _, r in g.iterrows():
            name = _feature_name(r["feature"], r["base_features"])
            cells[name, r["paradigm"]] = _cost_cell(r)
            fraction[name, r["paradigm"]] = number(r["cost_frac"])
            notes[name, r["paradigm"]] = duration(r["cost_s"], True)
        label = _config_label(g.iloc[0])
        # Markup: matplotlib has XML-escaped every text in the SVG (see reports.plots).
        figure = Markup(plots.feature_heatmap(f"feat-{i}", label[:48], features, paradigms,
                                              fraction, notes))
        out.append({"label": label, "paradigms": paradigms, "figure": figure,
                    "rows": [{"feature": f, "cells": [cells.get((f, p)) for p in paradigms]}
                             for f in features]})
    return out


def _validation_gap(events: dict[str, Any], base: dict[str, Any]) -> str:
    mine, theirs = events.get("validations") or [], base.get("validations") or []
    if not mine:
        return ""
    if [v["step"] for v in mine] != [v["step"] for v in theirs]:
        return "at other steps"
    gaps = [abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for a, b in zip(mine, theirs)
            for k in a if k != "step" and k in b]
    worst = max(gaps, default=0.0)
    return "identical" if worst == 0 else f"within {worst:.1e} (relative)"


def behaviour(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per feature cell group, what each paradigm's features did (first repetition)."""
    out: list[dict[str, Any]] = []
    if frame.empty or "features" not in frame:
        return out
    ok = frame[(frame["status"] == "ok") & (frame["features"] != "none")]
    for _, g in ok.groupby(GROUP_KEYS, sort=False, dropna=False):
        first = {p: r.sort_values("repetition").iloc[0] for p, r in g.groupby("paradigm")}
        base = first.get(BASELINE)
        base_events = base["events"] if base is not None and isinstance(base["events"], dict) \
            else {}
        rows = []
        for p in sorted(first, key=lambda p: PARADIGM_ORDER.get(p, 99)):
            events = first[p]["events"] if isinstance(first[p]["events"], dict) else {}
            kept = sorted(c["file"].split("/", 1)[-1].rsplit(".", 1)[0]
                          for c in events.get("checkpoints", []) if c["file"].startswith("best"))
            rows.append({"paradigm": p, "validations": len(events.get("validations") or []),
                         "validation": "baseline" if p == BASELINE else
                         _validation_gap(events, base_events),
                         "stopped_at": events.get("stopped_at") or "",
                         "best": ", ".join(kept)})
        row0 = g.iloc[0]
        if any(r["validations"] or r["stopped_at"] or r["best"] for r in rows):
            out.append({"label": f"{_config_label(row0)} · {row0['features']}", "rows": rows})
    return out


def _passes(events: dict[str, Any]) -> list[tuple[int, int, int]]:
    return [(int(p[0]), int(p[1]), int(p[2])) for p in events.get("data_passes") or []]


def explain_resume(resumed: dict[str, Any], straight: dict[str, Any], at: int,
                   batch_size: int) -> str:
    """Where the resumed run's data passes differ from the uninterrupted run's, in words."""
    batches = resumed.get("batches_per_epoch") or 0
    batch = at % batches if batches else None
    mine = _passes(resumed)
    theirs = [p for p in _passes(straight) if p[2] >= at]
    before = [p for p in _passes(straight) if p[2] < at]
    if before:  # the pass the uninterrupted run was in at the resume point, and where it was
        e, pos, step = before[-1]
        theirs = [(e, pos + (at - step) * batch_size, at), *theirs]
    if mine == theirs:
        return "same data order as the uninterrupted run"
    parts = []
    if mine and theirs and mine[0][:2] != theirs[0][:2]:
        parts.append(f"restarted epoch {mine[0][0]}'s data at sample {mine[0][1]} instead of "
                     f"{theirs[0][1]} (batch {batch} of {batches}): the first batches are "
                     "seen again")
    later = {p[0]: p[2] for p in mine[1:]}
    for e, _, step in theirs[1:]:
        if later.get(e) != step:
            parts.append(f"epoch {e}'s data began at step {later.get(e, 'never')} instead "
                         f"of {step}")
    return "; ".join(parts) or "a different data order"


def resume_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each resumed cell against the same paradigm's uninterrupted cell in the run."""
    out: list[dict[str, Any]] = []
    if frame.empty:
        return out
    ok = frame[frame["status"] == "ok"]
    for _, r in ok[ok["feature_names"].str.contains("resume")].iterrows():
        at = int(_resume_at(r))
        twin = ok[(ok["paradigm"] == r["paradigm"]) & (ok["features"] == "none")]
        for k in CONFIG_KEYS:
            twin = twin[twin[k] == r[k]]
        if twin.empty or not at:
            continue
        straight = twin.sort_values("repetition").iloc[0]
        exact = r["weights_sha256"] == straight["weights_sha256"]
        out.append({"paradigm": r["paradigm"], "label": _config_label(r), "at": at,
                    "repetition": int(r["repetition"]), "exact": exact,
                    "passes": " → ".join(f"epoch {e} from sample {s} at step {t}"
                                         for e, s, t in _passes(r["events"])),
                    "why": "" if exact else explain_resume(r["events"], straight["events"], at,
                                                           int(r["batch_size"]))})
    return sorted(out, key=lambda x: (x["label"], x["at"], PARADIGM_ORDER.get(x["paradigm"], 9),
                                      x["repetition"]))


def _resume_at(row: pd.Series) -> float:
    import json

    return json.loads(row["features_json"]).get("resume_at", math.nan)


def section(frame: pd.DataFrame) -> dict[str, Any]:
    return {"costs": costs(frame), "behaviour": behaviour(frame), "resume": resume_rows(frame)}
