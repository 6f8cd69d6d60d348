"""Two runs, cell by cell: the compare page's template context.

Cells are matched on their whole config (``analysis.GROUP_KEYS`` + paradigm), never on the
record key alone, so a changed setting shows up as a cell present in one run only instead
of a comparison of two different things. Only successful repetitions take part.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pandas as pd

from harness.analyse.analysis import GROUP_KEYS
from harness.analyse.stats import COMPARE_ALPHA, COMPARE_MIN_CHANGE, compare
from reports.groups import LABEL_FIELDS, PARADIGM_ORDER, duration, label, percent, text
from reports.load import Run

MATCH_KEYS = [*GROUP_KEYS, "paradigm"]
TIMES = "\N{MULTIPLICATION SIGN}"


def min_p_value(n_before: int, n_after: int) -> float:
    """Smallest two-sided p the exact Mann-Whitney U test can give for these sample sizes."""
    if min(n_before, n_after) < 2:
        return math.nan
    return min(1.0, 2 / math.comb(n_before + n_after, n_before))


def cell_samples(run: Run) -> dict[tuple[Any, ...], pd.DataFrame]:
    """Successful repetitions per (cell group, paradigm), in repetition order."""
    ok = run.ok
    if ok.empty:
        return {}
    return {k: g.sort_values("repetition")
            for k, g in ok.groupby(MATCH_KEYS, dropna=False, sort=False)}


def _verdict(change: Any) -> tuple[str, str]:
    """(css class, text) for one cell's change."""
    if math.isnan(change.p_value):
        return "muted", "not testable"
    if not change.significant:
        return "muted", "no significant change"
    return ("bad", "slower") if change.ratio > 1 else ("good", "faster")


def _order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    *group, paradigm = key
    return (tuple(str(v) for v in group), PARADIGM_ORDER.get(paradigm, 99), str(paradigm))


def _env_rows(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    def flat(env: dict[str, Any]) -> dict[str, str]:
        out = {k: text(env.get(k)) or "—" for k in ("git_commit", "python", "platform", "cpu",
                                                    "driver")}
        dirty = env.get("git_dirty")
        out["git_dirty"] = "—" if dirty is None else "yes" if dirty else "no"
        out["gpus"] = ", ".join(text(g.get("name")) for g in env.get("gpus") or []) or "—"
        for name, v in (env.get("packages") or {}).items():
            out[name] = text(v) or "—"
        return out

    b, a = flat(before), flat(after)
    return [{"name": k, "before": b.get(k, "—"), "after": a.get(k, "—"),
             "differs": b.get(k, "—") != a.get(k, "—")} for k in dict.fromkeys([*b, *a])]


def compare_context(before: Run, after: Run) -> dict[str, Any]:
    """Rows for cells in both runs, lists of cells in one only, and the rule used."""
    b, a = cell_samples(before), cell_samples(after)
    every = pd.concat([before.ok, after.ok], ignore_index=True) if b or a else pd.DataFrame()
    extra = [k for k in GROUP_KEYS if k not in LABEL_FIELDS and not every.empty
             and every[k].nunique(dropna=False) > 1]

    def name(key: tuple[Any, ...]) -> str:
        return label(dict(zip(MATCH_KEYS, key, strict=True)), extra)

    rows: list[dict[str, Any]] = []
    sizes: Counter[tuple[int, int]] = Counter()
    for key in sorted(b.keys() & a.keys(), key=_order):
        steps_b = b[key]["step_time_s"].tolist()
        steps_a = a[key]["step_time_s"].tolist()
        change = compare(steps_b, steps_a)
        sizes[(len(steps_b), len(steps_a))] += 1
        css, verdict = _verdict(change)
        rows.append({
            "label": name(key), "paradigm": key[-1],
            "n": f"{len(steps_b)} / {len(steps_a)}",
            "before": duration(change.before.median), "after": duration(change.after.median),
            "ratio": f"{TIMES}{change.ratio:.3f}" if math.isfinite(change.ratio) else "—",
            "change": percent(change.ratio - 1),
            "p": "—" if math.isnan(change.p_value) else f"{change.p_value:.3g}",
            "significant": change.significant, "css": css, "verdict": verdict,
        })
    counts = Counter(r["verdict"] for r in rows)
    n_b, n_a = sizes.most_common(1)[0][0] if sizes else (0, 0)
    return {
        "title": f"{before.path.name} → {after.path.name}",
        "before": {"name": before.path.name, "suite": text(before.manifest.get("suite")),
                   "records": len(before.records)},
        "after": {"name": after.path.name, "suite": text(after.manifest.get("suite")),
                  "records": len(after.records)},
        "rows": rows,
        "counts": [(v, counts[v]) for v in ("slower", "faster", "no significant change",
                                           "not testable") if counts[v]],
        "only_before": [f"{name(k)} · {k[-1]}" for k in sorted(b.keys() - a.keys(), key=_order)],
        "only_after": [f"{name(k)} · {k[-1]}" for k in sorted(a.keys() - b.keys(), key=_order)],
        "alpha": f"{COMPARE_ALPHA:g}",
        "min_change": percent(COMPARE_MIN_CHANGE, signed=False),
        "typical_n": f"{n_b} vs {n_a}" if sizes else "",
        "min_p": f"{min_p_value(n_b, n_a):.3g}" if sizes and min(n_b, n_a) >= 2 else "",
        "underpowered": bool(sizes) and not min_p_value(n_b, n_a) < COMPARE_ALPHA,
        "environment": _env_rows(before.environment, after.environment),
        "warnings": [f"{r.path.name}: {w}" for r in (before, after)
                     for w in ([r.manifest_problem] if r.manifest_problem else [])
                     + [f"unreadable: {u}" for u in r.unreadable]],
    }
