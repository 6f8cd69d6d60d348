"""What a run is about rather than what it measured: header, environment, failures.

The manifest may be missing (a folder of copied records), partial (written when the run
started, never finished) or from an interrupted run; everything here falls back to what the
records themselves say and turns the gap into a visible warning rather than an error.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from harness.analyse import formatting as fmt
from harness.results import Status
from reports.groups import duration, nbytes, text

# Host fields shown first and how; anything else the manifest carries follows, as text.
_HOST_FIELDS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "python": ("Python", str),
    "platform": ("Platform", str),
    "hostname": ("Host", str),
    "cpu": ("CPU", str),
    "cpu_count": ("CPU threads (logical)", str),
    "cpu_count_physical": ("CPU cores (physical)", str),
    "memory_bytes": ("Memory", nbytes),
    "driver": ("NVIDIA driver", str),
}
_LISTED = {*_HOST_FIELDS, "packages", "git_commit", "git_dirty", "gpus", "env"}
_STATUS_ORDER = [s.value for s in Status]


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def environment(env: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Host facts, package versions, GPUs, variables, torch's runtime view, consistency."""
    host = [(title, "—" if env.get(k) is None else show(env[k]))
            for k, (title, show) in _HOST_FIELDS.items() if k in env]
    host += [(k, _show(v)) for k, v in env.items() if k not in _LISTED]
    dirty = env.get("git_dirty")
    runtime = next((r["measurements"].get("runtime") or {} for r in records
                    if r.get("status") == Status.OK.value and r.get("measurements")), {})
    distinct = {json.dumps(r.get("environment"), sort_keys=True) for r in records}
    return {
        "host": host,
        "git_commit": text(env.get("git_commit")) or "unknown",
        "git_dirty": ("uncommitted changes" if dirty else "clean" if dirty is False
                      else "unknown"),
        "git_dirty_class": "warn" if dirty else "ok" if dirty is False else "muted",
        "packages": [(k, _show(v)) for k, v in sorted((env.get("packages") or {}).items())],
        "gpus": [{"index": _show(g.get("index")), "name": _show(g.get("name")),
                  "memory": nbytes(g.get("memory_bytes"))} for g in env.get("gpus") or []],
        "env": [(k, _show(v)) for k, v in sorted((env.get("env") or {}).items())],
        "runtime": [(k, _show(v)) for k, v in runtime.items()],
        "mixed": len(distinct) > 1,
        "n_environments": len(distinct),
    }


def partial_text(partial: Any) -> str:
    """What a failed record measured before it failed, in one line ("" when nothing)."""
    if not isinstance(partial, dict) or not partial.get("steps_done"):
        return ""
    step = partial.get("step_time_s")
    timing = (f", median step {fmt.duration(step)} over {partial['windows']} timing window(s)"
              if step else ", no complete timing window")
    return (f"{partial['steps_done']} step(s) on rank {partial.get('rank', 0)}{timing}, "
            f"{len(partial.get('losses') or [])} loss value(s) kept in the record")


def failures(records: list[dict[str, Any]], unreadable: list[str]) -> list[dict[str, Any]]:
    """Every record that did not succeed, plus result files that could not be read.

    Repetitions of one cell that failed the same way (status and message) are shown once,
    with their repetition numbers, so a cell that fails every time does not flood the page.
    """
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: (r.get("key", ""), r.get("repetition", 0))):
        if r.get("status") == Status.OK.value:
            continue
        cfg = r.get("config") or {}
        status, message = text(r.get("status")) or "unknown", text(r.get("message"))
        entry = merged.setdefault((text(r.get("key")), status, message), {
            "status": status, "key": text(r.get("key")), "repetitions": [],
            "workload": text(cfg.get("workload")), "paradigm": text(cfg.get("paradigm")),
            "message": message or "(no message)",
            "traceback": text(r.get("traceback_tail")), "log": text(r.get("log_tail")),
            "walls": [], "partial": partial_text(r.get("partial")),
        })
        entry["repetitions"].append(str(r.get("repetition")))
        entry["walls"].append(duration(r.get("process_wall_s")))
    out = list(merged.values())
    for f in out:
        f["where"] = (f"repetition{'s' if len(f['repetitions']) > 1 else ''} "
                      f"{', '.join(f['repetitions'])} · process wall time {', '.join(f['walls'])}")
    out += [{"status": "unreadable", "key": "", "repetitions": [], "workload": "",
             "paradigm": "", "message": m, "traceback": "", "log": "", "where": "",
             "partial": ""}
            for m in unreadable]
    return out


def cell_warnings(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every warning successful records carry, once per (cell, warning), with repetitions."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: (r.get("key", ""), r.get("repetition", 0))):
        cfg = r.get("config") or {}
        for warning in r.get("warnings") or []:
            entry = merged.setdefault((text(r.get("key")), text(warning)), {
                "key": text(r.get("key")), "workload": text(cfg.get("workload")),
                "paradigm": text(cfg.get("paradigm")), "text": text(warning),
                "repetitions": []})
            entry["repetitions"].append(str(r.get("repetition")))
    return list(merged.values())


def header(manifest: dict[str, Any], records: list[dict[str, Any]], unreadable: list[str],
           run_name: str, manifest_problem: str | None) -> dict[str, Any]:
    """Suite name, state, wall time, repetitions, status counts and warnings about gaps."""
    warnings = []
    if manifest_problem:
        warnings.append(manifest_problem)
    state = manifest.get("state") or ("unknown" if not manifest else "running")
    if state == "running":
        warnings.append("The manifest says the run is still running: it was interrupted "
                        "before it could finish, or is in progress. Figures cover the "
                        "records written so far.")
    elif state == "interrupted":
        warnings.append("The run was interrupted (Ctrl-C); figures cover the records written "
                        "before that. Resume it with the same command and --out.")
    observed = 1 + max((int(r.get("repetition", 0)) for r in records), default=-1)
    default_reps = int(manifest.get("repetitions") or observed or 0)
    # each planned cell may carry its own count (a suite table can ask for more repetitions)
    cells = [c if isinstance(c, dict) else {} for c in manifest.get("cells") or []]
    counts_per_cell = [int(c.get("repetitions", default_reps)) for c in cells]
    planned = sum(_records_planned(c, default_reps) for c in cells)
    low, high = min(counts_per_cell, default=default_reps), max(counts_per_cell,
                                                                default=default_reps)
    repetitions = f"{low}" if low == high else f"{low}–{high}"
    if planned and len(records) < planned:
        warnings.append(f"{planned - len(records)} of {planned} planned records are missing.")
    further = _further_records(cells, records)
    if unreadable:
        warnings.append(f"{len(unreadable)} result file(s) could not be read; see Failures.")
    counts = Counter(text(r.get("status")) for r in records)
    statuses = sorted(counts.items(), key=lambda kv: (_order(kv[0]), kv[0]))
    walls = manifest.get("cell_process_wall_s") or []
    if manifest.get("skipped_done"):
        # a resumed run: the manifest's wall time covers the last invocation only
        warnings.append(f"The last invocation resumed this run and kept "
                        f"{manifest['skipped_done']} earlier record(s); the wall time covers "
                        "that last invocation only.")
    return {
        "suite": text(manifest.get("suite")) or run_name,
        "run_name": run_name,
        "state": state,
        "started_at": _when(manifest.get("started_at")),
        "wall": fmt.duration(manifest.get("wall_s")),
        "processes": len(walls) if walls else len(records),
        "records": len(records),
        "planned": planned,
        "further": further,
        "repetitions": repetitions,
        "statuses": statuses,
        "warnings": warnings,
        "launch": launch_text(records, manifest.get("fork_servers")),
        **plan_facts(manifest),
    }


def plan_facts(manifest: dict[str, Any]) -> dict[str, Any]:
    """The plan the run started with (``harness.plan.plan``): its estimate, its budget and
    what the budget cut, in words ("" / [] for a run recorded without a plan)."""
    plan = manifest.get("plan")
    if not isinstance(plan, dict):
        return {"estimate": "", "budget": "", "cuts": [], "dropped": [], "restored": [],
                "weakened": {}, "dropped_tables": []}
    estimate = plan.get("estimate_s")
    budget = plan.get("budget_min")
    rough = plan.get("rough") or 0
    from harness.plan.plan_text import minutes

    shown = minutes(estimate) if isinstance(estimate, int | float) else "—"
    if rough:
        shown += f" ({rough} of {plan.get('processes', '?')} processes estimated roughly)"
    cuts = [text(c) for c in plan.get("cuts") or []]
    dropped = [text(d) for d in plan.get("dropped") or []]
    tables = plan.get("dropped_tables")  # None: a manifest from before they were recorded
    weakened = plan.get("weakened") if isinstance(plan.get("weakened"), dict) else {}
    restored: list[str] = []
    refit = plan.get("refit")
    if isinstance(refit, dict):  # a budget planned from rough figures, fitted again
        cuts = [text(c) for c in refit.get("cuts") or []]
        if "restored" in refit:  # what finally ran: the refit's drops, not the first plan's
            dropped = [text(d) for d in refit.get("dropped") or []]
            restored = [text(d) for d in refit.get("restored") or []]
            tables = refit.get("dropped_tables", tables)
        elif refit.get("dropped"):  # a manifest from before a refit could bring one back
            dropped, tables = [text(d) for d in refit["dropped"]], refit.get("dropped_tables")
        if isinstance(refit.get("weakened"), dict):  # what the run went on with
            weakened = refit["weakened"]
        shown += (f"; re-planned from this run's figures after its first round "
                  f"({minutes(float(refit.get('after_s', 0)))}): "
                  f"{minutes(float(refit.get('estimate_left_s', 0)))} left")
    studies = plan.get("studies_s")
    if isinstance(studies, int | float) and studies:
        shown += f", and {minutes(studies)} of studies"
    short = plan.get("short_of_budget_min")
    if isinstance(refit, dict) and refit.get("short_of_budget") is False:
        short = None  # fitted again from this run's own figures, the budget held
    budget_text = f"{budget:g} min" if isinstance(budget, int | float) else ""
    if budget_text and isinstance(short, int):
        budget_text += (f" (the suite's; not held here: every table at its fewest repetitions "
                        f"needed {short} min)")
    return {"estimate": shown,
            "budget": budget_text,
            "cuts": cuts,
            "dropped": dropped,
            "dropped_tables": ([t for t in tables if isinstance(t, dict)]
                               if isinstance(tables, list) else None),
            "restored": restored,
            "weakened": weakened}


def launch_text(records: list[dict[str, Any]], servers: Any = None) -> str:
    """How the cell processes started: forked by the fork server, or spawned (records from
    before the fork server have no ``launch`` and were spawned); ``servers``, the manifest's
    ``fork_servers``: when the last invocation started each, outside every cell's time."""
    counts = Counter(r.get("launch") or "spawn" for r in records)
    parts = []
    starts = [float(s["start_s"]) for s in servers or [] if isinstance(s, dict)
              and isinstance(s.get("start_s"), int | float)]
    started = (f": {len(starts)} started in {', '.join(f'{s:.1f}' for s in starts)} s"
               if starts else "")
    if counts["fork"]:
        parts.append(f"{counts['fork']} forked by a fork server that imported torch once "
                     f"(their process wall time excludes it{started})")
    if counts["spawn"]:
        parts.append(f"{counts['spawn']} spawned, each importing torch itself")
    return "; ".join(parts) or "—"


def _further_records(cells: list[dict[str, Any]], records: list[dict[str, Any]]) -> int:
    """Records of the further rounds (``until_excess``): repetitions past their cell's plan."""
    planned = {c["key"]: c["repetitions"] for c in cells
               if c.get("key") and isinstance(c.get("repetitions"), int)}
    return sum(1 for r in records if r.get("key") in planned
               and not (r.get("config") or {}).get("profiler")
               and int(r.get("repetition", 0)) >= planned[r["key"]])


def _records_planned(cell: dict[str, Any], default_reps: int) -> int:
    """The records a manifest cell should leave: its timed repetitions (where an adaptive cell
    stopped, once it has) and its profiling repetition."""
    stop = cell.get("stop")
    timed = (stop.get("repetitions") if isinstance(stop, dict) else None) \
        or cell.get("repetitions", default_reps)
    return int(timed) + bool(cell.get("attribution"))


def _when(stamp: Any) -> str:
    """ISO time stamp -> ``2025-01-01 12:00 UTC``; anything unparsable shown as it is."""
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return text(stamp) or "—"
    if when.utcoffset() == dt.timedelta(0):
        return when.strftime("%Y-%m-%d %H:%M UTC")
    return when.strftime("%Y-%m-%d %H:%M %z").strip()


def _order(status: str) -> int:
    return _STATUS_ORDER.index(status) if status in _STATUS_ORDER else len(_STATUS_ORDER)


def stop_texts(manifest: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    """(cell group key, paradigm) -> which stop rule ended an adaptive cell, in words."""
    from harness.analyse.analysis import group_key, plan_levels

    levels = plan_levels(manifest)
    out = {}
    for cell in manifest.get("cells") or []:
        stop, target = cell.get("stop"), cell.get("until_ci_pct")
        if not isinstance(stop, dict) or target is None:
            continue
        key = group_key(cell)
        width = stop.get("half_width_pct")
        reached = f"±{width:.1f}%" if isinstance(width, int | float) else "no interval"
        level = f"{100 * levels[key]:.1f}% per look, 95% over the looks" if key in levels else ""
        if stop.get("rule") == "ci":
            text_ = f"stopped at n={stop['repetitions']}: CI {reached} ≤ {target:g}%"
        else:
            text_ = (f"ran the maximum n={stop['repetitions']}: CI {reached}, target "
                     f"{target:g}%")
        out[key, cell["paradigm"]] = f"{text_} ({level})" if level else text_
    for cell in manifest.get("cells") or []:  # lever 4's further rounds, where they ran
        extended = (manifest.get("extension") or {}).get(cell.get("key"))
        if isinstance(extended, dict):
            key = (group_key(cell), cell["paradigm"])
            out[key] = "; ".join(filter(None, [out.get(key), extension_text(extended)]))
    return out


EXTENSION_REASONS = {
    "target": "its framework-time excess read within the target (or as a bound)",
    "most_repetitions": "its most repetitions reached",
    "budget": "the budget left no room for another round",
}


def extension_text(entry: dict[str, Any]) -> str:
    """A member's further rounds (``harness.matrix.matrix._Matrix.extend``) in words."""
    pairs, planned = entry.get("pairs"), entry.get("planned")
    reason = EXTENSION_REASONS.get(str(entry.get("stopped_by")), text(entry.get("stopped_by")))
    if isinstance(pairs, int) and isinstance(planned, int) and pairs > planned:
        return f"then further rounds to {pairs} pairs with the plain loop, until {reason}"
    return f"no further rounds: {reason}"

