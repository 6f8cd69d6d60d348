"""From a loaded run to the run report's template context: every number formatted here.

Templates only lay out what this module hands them (strings, lists, dicts), so the wording
and the rules behind it (what counts as a CI, when a verdict is "not resolved") live in one
place, in Python, where tests can reach them.
"""

from __future__ import annotations

import statistics
from typing import Any

import pandas as pd
from markupsafe import Markup

from harness.analyse import formatting as fmt
from harness.analyse.analysis import BASELINE, GROUP_KEYS, LOSS_TOLERANCE
from harness.analyse.stats import BREAK_EVEN_FRACTION, UNSTABLE_CV
from reports import plots
from reports.groups import (
    DISPLAY,
    PARADIGM_ORDER,
    Group,
    ci_text,
    duration,
    is_missing,
    loss_gap,
    nbytes,
    number,
    percent,
    text,
    tolerance,
)

SECTIONS = [("verdict", "Verdict"), ("overhead", "Overhead"), ("framework", "Framework time"),
            ("features", "Features"), ("metrics", "Metrics"), ("compiled", "Compiled"),
            ("distributions", "Step times"),
            ("throughput", "Throughput"), ("startup", "Start-up"), ("memory", "Memory"),
            ("amp", "Mixed precision"), ("scaling", "DDP scaling"), ("parity", "Parity"),
            ("export", "Export and predict"),
            ("environment", "Environment"), ("warnings", "Warnings"), ("failures", "Failures")]
MEMORY_COLUMNS = {"host_peak_rss_bytes": "host peak RSS",
                  "cuda_max_allocated_bytes": "CUDA max allocated",
                  "cuda_max_reserved_bytes": "CUDA max reserved",
                  "nvml_used_peak_bytes": "NVML device used (peak)"}


def _excludes_zero(ci: Any) -> bool | None:
    """Whether an interval supports a sign (excludes zero); None where there is no interval
    (too few repetitions for the order-statistic interval)."""
    if not isinstance(ci, tuple | list) or any(is_missing(v) for v in ci):
        return None
    return not ci[0] <= 0 <= ci[1]


def _step_clause(row: pd.Series, name: str) -> str:
    """The step overhead: a finding where its interval supports the sign, else "not
    resolved" with the figure and why."""
    sec, n = number(row["overhead_s"]), int(row["n"])
    resolved = _excludes_zero(row.get("overhead_ci"))
    why = (f"{n} repetition{'s' if n != 1 else ''}: too few for an interval"
           if resolved is None else f"95% CI {ci_text(row['overhead_ci'], signed=True)}")
    detail = f"({percent(row['overhead_frac'])}, {why})"
    if not resolved:
        return (f"{name}: step overhead not resolved, {duration(sec, True)}/step "
                f"({percent(row['overhead_frac'])}; {why}"
                + ("; the interval includes zero)" if resolved is False else ")"))
    if sec > 0:
        return (f"{name} costs {duration(sec, True)}/step {detail} over plain PyTorch; "
                f"break-even step time {duration(row['break_even_step_s'])}")
    return f"{name} is {duration(-sec)}/step faster {detail} than plain PyTorch"


def _framework_clause(row: pd.Series) -> str:
    """The in-process framework-time excess, "not resolved" where its interval includes
    zero or there is none."""
    excess, ci = row.get("framework_excess_s"), row.get("framework_excess_ci")
    if is_missing(excess):
        return ""
    figure = f"{duration(excess, True)}/step ({framework_ci(ci)})"
    if _excludes_zero(ci):
        return f"In-process framework time over plain: {figure}"
    return f"In-process framework time over plain: not resolved, {figure}"


def verdict_sentence(row: pd.Series, base: pd.Series) -> str:
    """What a paradigm costs against the plain loop in its group: the step overhead, then the
    framework-time excess, each a finding only where its interval supports the sign."""
    name = DISPLAY.get(row["paradigm"], row["paradigm"])
    if is_missing(row["overhead_s"]):
        return f"{name}: no overhead could be computed."
    clauses = [_step_clause(row, name), _framework_clause(row)]
    return ". ".join(c for c in clauses if c) + "."


def framework_ci(ci: Any) -> str:
    """A t interval as the framework-time columns show it."""
    text_ = ci_text(ci, signed=True)
    return text_ if text_ == fmt.TOO_FEW else f"95% t {text_}"


def _flags(row: pd.Series) -> list[tuple[str, str]]:
    """(css class, text) badges that qualify a paradigm's figures."""
    out = []
    if row["unstable"]:
        out.append(("warn", "unstable"))
    if row["parity"] == "differs":
        out.append(("bad", "parity differs"))
    return out


def _missing_text(statuses: dict[str, int]) -> str:
    return ", ".join(f"{s} \N{MULTIPLICATION SIGN}{n}" for s, n in statuses.items())


def verdicts(groups: list[Group]) -> list[dict[str, Any]]:
    """Per group, one line per paradigm other than the baseline, and one per paradigm that
    never succeeded (the baseline included: without it there is no overhead)."""
    out = []
    for g in groups:
        base, lines = g.baseline, []
        for _, row in g.cells.iterrows():
            if row["paradigm"] == BASELINE:
                continue
            sentence = (verdict_sentence(row, base) if base is not None else
                        f"{DISPLAY.get(row['paradigm'], row['paradigm'])}: no plain PyTorch "
                        "baseline succeeded in this group, so no overhead.")
            flags = _flags(row)
            if g.loader_bound is not None:
                flags.append(("warn", f"waits for data {percent(g.loader_bound, False)}"))
            lines.append({"paradigm": row["paradigm"], "text": sentence, "flags": flags})
        for paradigm, statuses in g.missing.items():
            lines.append({"paradigm": paradigm, "flags": [("bad", _missing_text(statuses))],
                          "text": f"{DISPLAY.get(paradigm, paradigm)}: no successful "
                                  "repetition (see Failures)."})
        if not lines:
            lines.append({"paradigm": BASELINE, "flags": [],
                          "text": "Only plain PyTorch ran here; nothing to compare."})
        out.append({"id": g.id, "label": g.label, "lines": lines, "measured": bool(len(g.cells))})
    return out


def memory_columns(groups: list[Group]) -> dict[str, str]:
    """The memory figures any group has (CUDA and NVML ones exist on GPU cells only)."""
    return {c: name for c, name in MEMORY_COLUMNS.items()
            if any(g.cells[c].notna().any() for g in groups)}


def overhead_rows(g: Group, stops: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for _, r in g.cells.iterrows():
        has = not is_missing(r.get("overhead_s"))
        be = r.get("break_even_step_s")
        rows.append({
            "paradigm": r["paradigm"], "n": int(r["n"]),
            "stop": stops.get(r["paradigm"], ""),
            "median": duration(r["step_time_s"]),
            "window": duration(r.get("median_window_step_s")),
            "ci": ci_text(r["step_ci"]),
            "cv": percent(r["step_cv"], signed=False) if r["n"] > 1 else "—",
            "unstable": bool(r["unstable"]),
            "overhead": (duration(r["overhead_s"], True) if has else
                         "baseline" if r["paradigm"] == BASELINE else "—"),
            "overhead_pct": percent(r["overhead_frac"]) if has else "",
            "overhead_ci": ci_text(r["overhead_ci"], True) if has else "",
            "method": text(r.get("overhead_method")) if has else "",
            "break_even": duration(be) if has and not is_missing(be) else "—",
            "flags": [f for f in _flags(r) if f[1] != "unstable"],
            "warnings": text(r.get("warnings")),  # records' warnings, joined; see Warnings
        })
    return rows


def _windows(g: Group) -> dict[str, list[list[float]]]:
    out: dict[str, list[list[float]]] = {}
    for p in g.paradigms():
        recs = g.records[g.records["paradigm"] == p]
        out[p] = [list(w) for w in recs["window_step_s"] if isinstance(w, list)]
    return out


def _medians(g: Group, columns: list[str]) -> dict[str, dict[str, float]]:
    return {r["paradigm"]: {c: number(r[c]) for c in columns} for _, r in g.cells.iterrows()}


def figures(g: Group) -> dict[str, Markup]:
    """The group's inline SVG plots, keyed by section."""
    item = text(g.cells["item_name"].iloc[0]) or "items"
    per_s = {p: [v for v in g.records[g.records["paradigm"] == p]["items_per_s"] if v == v]
             for p in g.paradigms()}
    losses = {}
    for p in g.paradigms():  # the first successful repetition of each, as an illustration
        recs = g.records[g.records["paradigm"] == p]
        if len(recs) and isinstance(recs["losses"].iloc[0], list):
            losses[p] = recs["losses"].iloc[0]
    # Markup: matplotlib has XML-escaped every text in the SVG (see reports.plots).
    return {
        "distributions": Markup(plots.step_distribution(f"dist-{g.id}", g.title, _windows(g))),
        "throughput": Markup(plots.throughput(f"tput-{g.id}", g.title, item, per_s)),
        "startup": Markup(plots.startup(f"start-{g.id}", g.title,
                                        _medians(g, list(plots.STARTUP_FIELDS)))),
        "parity": (Markup(plots.loss_curves(f"loss-{g.id}", g.title, losses)) if losses
                   else Markup("")),
    }


def group_rows(g: Group, memory_cols: list[str], stops: dict[tuple[Any, ...], str]
               ) -> dict[str, Any]:
    """Everything a measured group shows outside the verdict: table rows and figures."""
    tol = LOSS_TOLERANCE.get((g.cells["device"].iloc[0], g.cells["precision"].iloc[0]))
    rows = []
    for _, r in g.cells.iterrows():
        digests = g.records[g.records["paradigm"] == r["paradigm"]]["weights_sha256"]
        rows.append({
            "paradigm": r["paradigm"],
            "throughput": fmt.rate(number(r["items_per_s"]), text(r["item_name"]) or "items"),
            "import": duration(r["import_framework_s"]),
            "first_step": duration(r["to_first_step_s"]),
            "spawn": duration(r["spawn_to_first_step_s"]),
            "process": duration(r["process_wall_s"]),
            "memory": [nbytes(r[c]) for c in memory_cols],
            "parity": text(r["parity"]) or "n/a",
            "loss_gap": loss_gap(r["loss_gap"], r["parity"]),
            "digest": text(digests.iloc[0])[:12] if len(digests) else "",
        })
    key = tuple(g.cells.iloc[0][k] for k in GROUP_KEYS)
    mine = {p: stops[(key, p)] for p in g.paradigms() if (key, p) in stops}
    return {"id": g.id, "label": g.label, "overhead": overhead_rows(g, mine), "rows": rows,
            "missing": [(p, _missing_text(st)) for p, st in g.missing.items()],
            "tolerance": tolerance(tol),
            "figures": figures(g)}


def fixed_costs(records: pd.DataFrame) -> dict[str, list[float]]:
    """Per paradigm, process wall time minus approximate training time, per ok record.

    Training is approximated as steady-state step time x (warm-up + measured steps). Warm-up
    steps are usually slower than steady state, so their extra time lands in the fixed cost,
    which is where it belongs for a reader sizing short trials: every process pays it.
    Cold records only: a warm one forked from a server that had imported its framework.
    """
    out: dict[str, list[float]] = {}
    for _, r in records.iterrows():
        if r.get("start") == "warm":  # its paradigm's import was the warm server's
            continue
        train = number(r["step_time_s"]) * (int(r["steps"]) + int(r["warmup"]))
        value = number(r["process_wall_s"]) - train
        if value == value:
            out.setdefault(r["paradigm"], []).append(value)
    return out


def summary_numbers(fixed: dict[str, list[float]]) -> dict[str, Any]:
    every = [v for vs in fixed.values() for v in vs]
    return {
        "fixed_cost": duration(statistics.median(every)) if every else "—",
        "fixed_by_paradigm": [(p, duration(statistics.median(fixed[p])))
                              for p in sorted(fixed, key=lambda p: PARADIGM_ORDER.get(p, 99))],
        "unstable_cv": percent(UNSTABLE_CV, signed=False),
        "break_even_pct": percent(BREAK_EVEN_FRACTION, signed=False),
    }
