"""What a run does around its cell processes for its plan: before the first, the plan from
the host's cached figures (measuring what they lack when asked), fitted to a budget, and its
one line; after the last (or an interrupt), the run's records into the cache.

Nothing here imports torch: the command line plans and prints before anything heavy loads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.analyse.stopping import Plan
from harness.config import CellConfig
from harness.plan.budget import fit_budget
from harness.plan.costs import (
    CostCache,
    host_fingerprint,
    load_cache,
    record_run,
    update_cache,
    update_host,
    with_changes,
)
from harness.plan.estimate import probe_missing, study_seconds
from harness.plan.plan import RunPlan, Table, build_plan, rough
from harness.plan.plan_text import one_line, plan_text, short_of_budget
from harness.results import SchemaError, read_record


def plan_run(plans: dict[CellConfig, Plan], tables: dict[CellConfig, Table],
             budget: float | None, out: Path | None, studies: Sequence[Any] = (),
             probe: bool = True, node_rank: int = 0, strict: bool = True,
             serving_s: float = 0.0) -> tuple[RunPlan, str]:
    """The run's plan (what ``out`` holds already left out; fitted to ``budget`` minutes, the
    studies' and the serving tables' (``serving_s``) estimates among them; raising BudgetError
    when it cannot be, or, not ``strict``, at its fewest repetitions) and its ``--plan``
    listing. With ``probe``, what the host's cached figures lack is measured first, in a
    child process
    (``harness.plan.estimate``); a run without a budget does not wait for that: its ETA
    learns from its first processes instead."""
    cache, fingerprint = load_cache(), host_fingerprint()
    before = cache.host(fingerprint)
    cells = [*plans, *(s.cell for s in studies)]
    host = probe_missing(before, cells) if probe else before
    if host != before:  # the probe's figures, onto whatever another run saved meanwhile
        def add(cache: CostCache) -> None:
            cache.hosts[fingerprint] = with_changes(cache.host(fingerprint), before, host)

        update_cache(add)
    resumed = out if out is not None and out.is_dir() else None
    studies_s = sum(study_seconds(s, host) for s in studies)
    run = (build_plan(plans, host, resumed, node_rank) if budget is None
           else fit_budget(plans, tables, host, budget, resumed, node_rank, studies_s, strict,
                           serving_s=serving_s))
    return run, plan_text(run, host, tables, studies, fingerprint)


Refit = Callable[[float], tuple[dict[CellConfig, Plan], dict[str, Any]]]


def rough_ratio(run: RunPlan, records: Sequence[dict[str, Any]]) -> float:
    """What the processes ``records`` measured took against ``run``'s rough estimates of
    them (1 where none of them was rough): on a host new to the plan, how far its rough
    figures were off, to correct the estimates that stay rough after the first round (the
    cells of a table the first plan dropped, never run here)."""
    estimates = {(p.cell.key, p.repetition): p.estimate.seconds for p in run.processes
                 if rough(p.estimate) and p.estimate.seconds > 0}
    pairs = [(float(r["process_wall_s"]), estimates[r["key"], r["repetition"]])
             for r in records if (r.get("key"), r.get("repetition")) in estimates
             and isinstance(r.get("process_wall_s"), int | float)]
    measured, estimated = sum(w for w, _ in pairs), sum(e for _, e in pairs)
    return measured / estimated if measured > 0 and estimated > 0 else 1.0


def refitter(run: RunPlan, plans: dict[CellConfig, Plan], tables: dict[CellConfig, Table],
             run_dir: Path, since: float, node_rank: int = 0) -> Refit | None:
    """For a budget fitted to rough figures (a host new to some cells): what the run calls
    after its first round, every cell then measured once here. It adds the run's records to
    the host's figures and fits what is left of the budget (less the time run so far) again,
    from ``plans`` (before any cut or drop, so that a table the first plan dropped comes back
    where the measured figures find room: its estimate, still rough, corrected by what the
    first round took against its rough estimates), at its fewest if even that does not hold.
    None where there is no budget or every figure was measured already."""
    budget = run.budget_min
    if budget is None or not any(rough(p.estimate) for p in run.processes):
        return None

    def refit(elapsed_s: float) -> tuple[dict[CellConfig, Plan], dict[str, Any]]:
        # the host's figures with this run's so far (the cache itself is written at the end)
        records = run_records(run_dir, since)
        host = update_host(load_cache().host(host_fingerprint()), records)
        left_min = max(budget - elapsed_s / 60, 1e-3)
        scale = rough_ratio(run, records)
        again = fit_budget(plans, tables, host, left_min, run_dir, node_rank, run.studies_s,
                           strict=False, rough_scale=scale, servers_up=True,
                           serving_s=run.serving_s)
        restored = [d for d in run.dropped if d.table not in {x.table for x in again.dropped}]
        ran = sum(2 if (r.get("config") or {}).get("features", {}).get("resume_at") else 1
                  for r in records)
        entry = {**run.to_manifest(), "refit": {
            "after_s": elapsed_s, "estimate_left_s": again.seconds,
            "processes_left": again.launches(), "rough_ratio": scale,
            "cuts": [c.text() for c in again.cuts],
            "dropped": [d.text() for d in again.dropped],
            "dropped_tables": [d.facts() for d in again.dropped],
            "weakened": {k: list(v) for k, v in again.weakened.items()},
            "restored": [d.text().replace(": dropped", ": restored") for d in restored],
            "short_of_budget": again.short_of_budget_min is not None}}
        print(f"  re-planned after the first round ({elapsed_s / 60:.1f} min, {ran} processes"
              f") from this run's figures (the first round took x{scale:.2f} its rough "
              f"estimate): {again.launches()} processes left ({ran + again.launches()} in "
              f"all), estimated {again.seconds / 60:.1f} min of the {left_min:.1f} min left"
              + "".join(f"\n  budget: cut {c.text()}" for c in again.cuts)
              + "".join(f"\n  budget: {d.text()}" for d in again.dropped)
              + "".join(f"\n  budget: {d.table.label} (priority {d.table.priority}): "
                        f"restored, the measured figures leave room" for d in restored),
              file=sys.stderr)
        return again.plans, entry

    return refit


def print_start(run: RunPlan) -> None:
    """The plan's one line and a budget's cuts, before the first process starts."""
    print(one_line(run, len(run.plans)), file=sys.stderr)
    if run.short_of_budget_min is not None:
        print(f"  {short_of_budget(run)}", file=sys.stderr)
    for cut in run.cuts:
        print(f"  budget {run.budget_min:g} min: cut {cut.text()}", file=sys.stderr)
    back = ("back if the re-plan after the first round finds room, "
            if any(rough(p.estimate) for p in run.processes) else "")
    for drop in run.dropped:
        print(f"  budget {run.budget_min:g} min: {drop.text()} ({back}--rigorous runs it)",
              file=sys.stderr)


def run_records(run_dir: Path, since: float) -> list[dict[str, Any]]:
    """The records this run wrote (since ``since``, a time stamp)."""
    records = []
    for path in sorted((run_dir / "cells").glob("*.json")):
        try:
            if path.stat().st_mtime >= since:
                records.append(read_record(path))
        except (OSError, SchemaError, ValueError):
            continue
    return records


def record_costs(run_dir: Path, since: float) -> None:
    """This run's records into the host's cached figures: what the next plan estimates from."""
    record_run(run_records(run_dir, since))
