"""The Compiled section: does the framework's loop eat what torch.compile wins?

Per workload config, one row per compiled (paradigm, mode, region): the eager and the
compiled step, the speedup over the same paradigm's eager cell, the overhead against the plain
loop before and after (eager against eager plain, compiled against compiled plain) and the
in-process framework time's share of the step before and after, compile times by cache state
with the repetitions that paid them, graphs, graph breaks, recompilations, syncs per step and
parity against the compiled plain loop (``harness.analyse.compiled``). Compiled cells that
did not run are listed with their message: what a user of that setting hits. One picture shows
the overhead's share growing as the step shrinks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup

from harness.analyse.compiled import EAGER, TWIN_KEYS, compiled_rows, failed_compiled
from reports import plots
from reports.groups import PARADIGM_ORDER, duration, is_missing, label, number, percent, text

CONFIG_KEYS = [k for k in TWIN_KEYS if k != "paradigm"]
STYLE_NAMES = {"model": "model (fair)", "documented": "documented"}
MESSAGE_CHARS = 900
# Failures whose cause is known upstream: (paradigm, text in the message) -> what it is.
KNOWN_ISSUES = [
    ("lightning", "is_param_in_hook_signature",
     "Lightning issue 21836: with torch >= 2.12, self.log inside a compiled training_step "
     "raises in dynamo (Lightning 2.6.6; fixed on Lightning's master by PR 21837). The "
     "documented compile of a LightningModule that logs fails; the model region runs."),
]


def _arrow(before: Any, after: Any, fmt: Any) -> str:
    b = "—" if is_missing(before) else fmt(before)
    a = "—" if is_missing(after) else fmt(after)
    return f"{b} → {a}"


def _count(value: Any) -> str:
    return "—" if is_missing(value) else str(int(value))


def _paid(paid: list[tuple[int, str, float]]) -> str:
    """Which repetition paid what, e.g. ``r0 cold 38.9 s; r1 warm 4.11 s``."""
    return "; ".join(f"r{rep} {state or '?'} {duration(s)}" for rep, state, s in sorted(paid))


def _row(r: pd.Series) -> dict[str, Any]:
    speedup = number(r.get("speedup"))
    return {
        "paradigm": r["paradigm"], "mode": r["compile"],
        "style": STYLE_NAMES.get(r["compile_style"], r["compile_style"]), "n": int(r["n"]),
        "eager": duration(r.get("eager_step_s")), "compiled": duration(r["step_s"]),
        "speedup": "—" if speedup != speedup else f"{speedup:.2f}x",
        "overhead": ("baseline" if r["paradigm"] == "plain" else
                     _arrow(r.get("eager_overhead_frac"), r.get("overhead_frac"), percent)),
        "framework": _arrow(r.get("eager_framework_share"), r.get("framework_share"),
                            lambda v: percent(v, signed=False)),
        "cold": duration(r.get("cold_s")), "warm": duration(r.get("warm_s")),
        "paid": _paid(r["paid"]),
        "first_step": " · ".join(f"{state} {duration(r.get(f'first_step_{state}_extra_s'), True)}"
                                 for state in ("cold", "warm")
                                 if not is_missing(r.get(f"first_step_{state}_extra_s"))) or "—",
        "graphs": _count(r["graphs"]), "breaks": _count(r["graph_breaks"]),
        "recompiles": _count(r["recompiles"]), "limit_hit": bool(r["limit_hit"]),
        "syncs": "—" if is_missing(r["syncs_per_step"]) else f"{r['syncs_per_step']:.1f}",
        "parity": text(r.get("parity")) or "n/a",
        "graphs_differ": bool(r["graphs_differ"]),
        "late": number(r.get("late_compile_s")) > 0,
        "reasons": [f"{n}x {reason}" for reason, n in (r["break_reasons"] or {}).items()],
        "shared_by": text(r.get("cache_shared_by")),
    }


def _tables(rows: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    order = rows.assign(_p=rows["paradigm"].map(lambda p: PARADIGM_ORDER.get(p, 99)))
    order = order.sort_values(["compile_style", "compile", "_p"], kind="stable")
    for _, g in order.groupby(CONFIG_KEYS, sort=False, dropna=False):
        config = {**g.iloc[0].to_dict(), "compile": EAGER}  # the modes are the rows
        out.append({"label": label(config, []), "rows": [_row(r) for _, r in g.iterrows()]})
    return out


def _known_issue(paradigm: str, message: str) -> str:
    return next((note for who, needle, note in KNOWN_ISSUES
                 if who == paradigm and needle in message), "")


def failures(records: pd.DataFrame) -> list[dict[str, Any]]:
    """Compiled records that did not run, one line per cell and status (first message)."""
    failed = failed_compiled(records)
    if failed.empty:
        return []
    out = []
    for (_, status), g in failed.groupby(["key", "status"], sort=True):
        r = g.iloc[0]
        message = text(r["message"])
        out.append({"label": label(r, []), "paradigm": r["paradigm"], "mode": r["compile"],
                    "style": STYLE_NAMES.get(r["compile_style"], r["compile_style"]),
                    "status": status, "n": len(g), "message": message[:MESSAGE_CHARS],
                    "known": _known_issue(r["paradigm"], message)})
    return out


def _series(cells: pd.DataFrame) -> dict[str, list[list[tuple[float, float, str]]]]:
    """Per paradigm, per config with an eager and a compiled cell: (plain step, overhead
    fraction, mode) of each of its groups."""
    out: dict[str, list[list[tuple[float, float, str]]]] = {}
    for _, config in cells.groupby(CONFIG_KEYS, sort=False, dropna=False):
        compiled = config["compile"] != EAGER
        if compiled.all() or not compiled.any():
            continue  # no eager twin, or nothing compiled: no "before and after"
        for style in sorted(set(config.loc[compiled, "compile_style"])):
            # the eager cells (whose style is the default) with this region's compiled ones
            mine = config[~compiled | (config["compile_style"] == style)]
            plain = {m: number(s) for m, s in zip(
                mine.loc[mine["paradigm"] == "plain", "compile"],
                mine.loc[mine["paradigm"] == "plain", "step_time_s"])}
            for paradigm, p in mine[mine["paradigm"] != "plain"].groupby("paradigm"):
                line = [(plain[m], number(f), m) for m, f in zip(p["compile"], p["overhead_frac"])
                        if m in plain and not is_missing(f)]
                if len(line) > 1:
                    out.setdefault(paradigm, []).append(line)
    return dict(sorted(out.items(), key=lambda kv: PARADIGM_ORDER.get(kv[0], 99)))


def section(cells: pd.DataFrame, records: pd.DataFrame) -> dict[str, Any]:
    """The Compiled section's context: tables, failures and the picture."""
    rows = compiled_rows(cells, records)
    series = _series(cells) if len(rows) else {}
    figure = (Markup(plots.overhead_by_step("compiled-overhead", "Overhead share by step time",
                                            series)) if series else Markup(""))
    # Markup: matplotlib has XML-escaped every text in the SVG (see reports.plots).
    shared = sorted({r for r in rows.get("cache_shared_by", pd.Series(dtype=str)) if r}) \
        if len(rows) else []
    return {"tables": _tables(rows) if len(rows) else [], "failures": failures(records),
            "figure": figure, "shared_cache": ", ".join(shared)}
