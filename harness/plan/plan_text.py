"""A run plan in words: one line for the run's start, a compact listing for ``--plan``."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from harness.analyse.stopping import group_of
from harness.config import CellConfig, Paradigm, Scenario
from harness.plan.costs import HostCosts
from harness.plan.estimate import Source, study_seconds
from harness.plan.plan import COMMAND_LINE, Process, RunPlan, Table


def minutes(seconds: float) -> str:
    """``754`` -> ``12 min 34 s``; under a minute, seconds."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    whole = int(seconds // 60)
    return f"{whole} min {seconds - 60 * whole:02.0f} s"


def _rough(processes: Sequence[Process]) -> int:
    return sum(not (p.estimate.step.measured and p.estimate.overhead.measured)
               for p in processes)


def one_line(run: RunPlan, cells: int) -> str:
    """What a run is about to do: cells, processes, the estimate and how much of it is rough."""
    rough = _rough(run.processes)
    unknown = sum(Source.UNKNOWN in (p.estimate.step, p.estimate.overhead)
                  for p in run.processes)
    quality = (f"{rough} of {len(run.processes)} processes estimated roughly" if rough
               else "every figure measured here")
    if unknown:
        quality += f", {unknown} with a part not measured yet and not counted"
    left = f", {run.skipped_done} already done" if run.skipped_done else ""
    budget = f", budget {run.budget_min:g} min" if run.budget_min is not None else ""
    studies = "".join(f" + {minutes(seconds)} of {what}" for seconds, what in (
        (run.studies_s, "studies"), (run.serving_s, "serving"),
        (run.reserve_s, "further rounds held")) if seconds)
    if run.processes and run.seconds == 0:
        return (f"plan: {cells} cells, {launches(run.processes)} cell processes{left}; "
                "no estimate: nothing measured on this host yet (`--plan` measures it first; "
                "the ETA learns from the first processes)")
    return (f"plan: {cells} cells, {launches(run.processes)} cell processes{left}; "
            f"estimated {minutes(run.seconds)}{studies} ({quality}{budget})")


def short_of_budget(run: RunPlan) -> str:
    """A suite's own budget that this host cannot hold, in words."""
    return (f"budget {run.budget_min:g} min (the suite's) cannot be held here: every table at "
            f"its fewest repetitions needs {run.short_of_budget_min} min, so the run takes "
            "those (--budget N to insist, --rigorous for every repetition)")


def launches(processes: Sequence[Process]) -> int:
    return sum(p.launches for p in processes)


def _group_label(cell: CellConfig) -> str:
    """What a cell group's paradigms share: its key without paradigm and hash, its feature
    settings, its steps."""
    key = group_of(cell).key.rsplit("_", 1)[0]
    label = re.sub(f"_{Paradigm.PLAIN.value}_", "_", key, count=1)
    label = re.sub(r"_f-[^_]*", "", label, count=1)  # the settings below say more
    settings = ",".join(f"{k}={v}" for k, v in cell.features.to_dict().items())
    label += f" {{{settings}}}" if settings else ""
    label += "" if cell.phases else " no-phases"
    return f"{label} {cell.total_steps} steps"


def _members(cells: Sequence[CellConfig]) -> str:
    return ",".join(dict.fromkeys(c.scenario.runtime or c.paradigm.value for c in cells))


def _group_lines(run: RunPlan, tables: Mapping[CellConfig, Table]) -> list[str]:
    by_cell: dict[CellConfig, list[Process]] = {}
    for p in run.processes:
        by_cell.setdefault(p.cell.replace(profiler=False), []).append(p)
    out: list[str] = []
    order = sorted(run.plans, key=lambda c: tables.get(c, COMMAND_LINE).index)
    groups: dict[tuple[Table, CellConfig], list[CellConfig]] = {}
    for cell in order:
        groups.setdefault((tables.get(cell, COMMAND_LINE), group_of(cell)), []).append(cell)
    last: Table | None = None
    for (table, _), cells in groups.items():
        if table != last and tables:
            out.append(f"  {table.label} (priority {table.priority})")
            last = table
        todo = [p for c in cells for p in by_cell.get(c, [])]
        plan = run.plans[cells[0]]
        reps = f"x{plan.repetitions}" + (" until CI" if plan.until_ci_pct else "") + (
            f", then up to x{plan.extension.most} while an excess is wider than "
            f"{plan.extension.target_pct:g}% (budget left)" if plan.extension else "")
        prof = " +1 profiling" if plan.attribution and cells[0].scenario is Scenario.TRAIN \
            else ""
        rough = " (rough)" if _rough(todo) else ""
        out.append(f"    {_group_label(cells[0])}  [{_members(cells)}] {reps}{prof}: "
                   f"{launches(todo)} processes, {minutes(sum(p.estimate.seconds for p in todo))}"
                   f"{rough}")
    return out


def _counts(run: RunPlan) -> str:
    profiling = sum(p.cell.profiler for p in run.processes)
    legs = sum(bool(p.cell.features.resume_at) for p in run.processes)
    calibration = sum(bool(p.cell.features.hook_delay_us) for p in run.processes)
    ranks = sum(p.cell.local_world_size for p in run.processes if p.cell.world_size > 1)
    torchrun = sum(p.cell.world_size > 1 for p in run.processes)
    parts = [f"{len(run.processes) - profiling} timed repetitions",
             f"{profiling} profiling repetitions"]
    warm = sum(p.warm for p in run.processes)
    parts += [f"{len(run.processes) - warm} cold (paying their framework's import), {warm} "
              "forked from their paradigm's warm server"] if warm else []
    parts += [f"{calibration} calibration repetitions"] if calibration else []
    parts += [f"{legs} resume first legs"] if legs else []
    parts += [f"{torchrun} torchrun launches of {ranks} ranks in all"] if torchrun else []
    return ", ".join(parts)


def _sources(run: RunPlan, host: HostCosts) -> list[str]:
    steps = Counter(p.estimate.step for p in run.processes)
    overheads = Counter(p.estimate.overhead for p in run.processes)

    def listing(counts: Counter[Source]) -> str:
        return "; ".join(f"{counts[s]} {s.value}" for s in Source if counts[s])

    startup = ", ".join(f"{k} {statistics.median(vs):.1f} s"
                        for k, vs in sorted(host.startup_s.items()) if vs)
    lines = ([f"  steps: {listing(steps)}", f"  start-up and teardown: {listing(overheads)}"]
             if run.processes else ["  nothing left to run"])
    if startup:
        lines.append(f"  measured start-up per process here: {startup}")
    elif host.torch_import_s is not None:
        imports = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(host.framework_import_s.items()))
        fork = "" if host.fork_s is None else f"; a fork of the server takes {host.fork_s:.2f} s"
        lines.append(f"  no cell measured here yet: a fresh interpreter imports torch in "
                     f"{host.torch_import_s:.1f} s" + (f", then the frameworks: {imports}"
                                                        if imports else "") + fork
                     + " (the run corrects its ETA from its first processes)")
    rates = ", ".join(f"{d} {r / 1e9:.1f} GFLOP/s" for d, r in sorted(host.flop_rate.items()))
    if rates and steps.get(Source.FLOPS):
        lines.append(f"  matmul rate (one CPU thread / the GPU): {rates}")
    return lines


def study_lines(studies: Sequence[Any], host: HostCosts) -> list[str]:
    """``[[hpo]]`` studies: trials and processes, a rough estimate (no budget applies)."""
    if not studies:
        return []
    trials = sum(s.trials for s in studies)
    workers = sum(s.workers for s in studies)
    seconds = sum(study_seconds(s, host) for s in studies)
    return [f"hpo: {len(studies)} studies, {trials} trials in {workers} study processes, "
            f"estimated {minutes(seconds)} (rough: one trial as one cell's steps; a budget "
            "keeps this much for them and does not cut them)"]


def plan_text(run: RunPlan, host: HostCosts, tables: Mapping[CellConfig, Table],
              studies: Sequence[Any] = (), fingerprint: str = "") -> str:
    """The ``--plan`` listing: the run line, cuts, cell groups, counts and sources."""
    lines = [one_line(run, len(run.plans))]
    if run.short_of_budget_min is not None:
        lines.append(short_of_budget(run))
    if run.cuts:
        lines.append(f"budget {run.budget_min:g} min: cut")
        lines += [f"  {c.text()}" for c in run.cuts]
    if run.dropped:
        refit = " (a re-plan after the first round brings them back where the measured " \
            "figures leave room)" if _rough(run.processes) else ""
        lines.append(f"budget {run.budget_min:g} min: dropped whole, to keep every other "
                     f"table's interval{refit} (--rigorous runs them)")
        lines += [f"  {d.text()}" for d in run.dropped]
    if run.budget_min is not None and not run.cuts and not run.dropped:
        lines.append(f"budget {run.budget_min:g} min: fits as planned, nothing cut")
    lines.append("cells (cell groups; paradigms in brackets; processes left to run):")
    lines += _group_lines(run, tables)
    lines.append(f"processes: {_counts(run)}")
    lines += study_lines(studies, host)
    lines.append(f"estimate ({fingerprint or 'this host'}):")
    lines += _sources(run, host)
    return "\n".join(lines)
