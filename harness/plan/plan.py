"""What a run will do and cost before it starts: its processes and their estimate.

``build_plan`` lists every cell repetition still to run (a resumed folder's finished records
are left out, as the matrix leaves them), the profiling repetitions, resumed cells' first
legs and torchrun ranks, and estimates each from the host's measured figures
(``harness.plan.estimate``). ``harness.plan.budget`` fits such a plan to a wall-time budget.
``python -m harness run|suite --plan`` prints it (``harness.plan.plan_text``); a run records
it in its manifest, and the report's header states the cuts.

Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.analyse.stopping import Plan
from harness.config import CellConfig, Scenario
from harness.plan.costs import HostCosts, planned_launch
from harness.plan.estimate import Estimate, estimate
from harness.results import SchemaError, Status, read_record, record_path

PROFILE_REPETITION = 0  # as harness.matrix.matrix
FINAL_STATUSES = {Status.OK.value, Status.UNSUPPORTED.value}


@dataclass(frozen=True)
class Table:
    """Where a cell's plan came from: a suite's ``[[matrix]]`` table (1-based), its priority
    (higher is cut later) and the ``min_repetitions`` it sets, if it does."""

    index: int = 1
    priority: int = 0
    min_repetitions: int | None = None
    optional: bool = False  # a budget may drop the whole table (before going below its floor)

    @property
    def label(self) -> str:
        return "the command line's cells" if self.index == 0 else f"[[matrix]] #{self.index}"


COMMAND_LINE = Table(index=0)  # ``run``'s cells (and a suite cell no table claims): one table


def with_repetitions(plan: Plan, repetitions: int) -> Plan:
    return dataclasses.replace(plan, repetitions=repetitions,
                               min_repetitions=min(plan.min_repetitions, repetitions))


def is_done(run_dir: Path | None, cell: CellConfig, rep: int, node_rank: int = 0) -> bool:
    """As ``harness.matrix.matrix.is_done`` (which imports the runner, and so torch)."""
    if run_dir is None:
        return False
    path = record_path(run_dir, cell.key, rep, node_rank)
    try:
        return path.exists() and read_record(path)["status"] in FINAL_STATUSES
    except (SchemaError, OSError, ValueError, KeyError):
        return False


@dataclass(frozen=True)
class Process:
    """One repetition still to run: a timed one, or a profiling one (``cell.profiler``)."""

    cell: CellConfig
    repetition: int
    estimate: Estimate
    warm: bool = False  # forked from its paradigm's warm server (no framework import)

    @property
    def launches(self) -> int:
        """Processes it starts: two for a resumed cell (its first leg, then the resume)."""
        return 2 if self.cell.features.resume_at else 1


@dataclass(frozen=True)
class Cut:
    table: Table
    cells: int
    before: int
    after: int

    def text(self) -> str:
        rank = "" if self.table == COMMAND_LINE else f"priority {self.table.priority}, "
        return (f"{self.table.label} ({rank}{self.cells} cells): "
                f"repetitions {self.before} -> {self.after}")


@dataclass(frozen=True)
class Drop:
    """A whole table a budget left out of the run (its cells are not run at all)."""

    table: Table
    cells: int
    workloads: tuple[str, ...]
    features: tuple[str, ...] = ()  # the conveniences its cells had on (``Features.active``)

    def text(self) -> str:
        return (f"{self.table.label} (priority {self.table.priority}, {self.cells} cells: "
                f"{', '.join(self.workloads)}): dropped")

    def facts(self) -> dict[str, Any]:
        """What the dropped table would have measured, for the report to say a question was
        left out rather than unanswered."""
        return {"table": self.table.label, "workloads": list(self.workloads),
                "features": list(self.features)}


@dataclass
class RunPlan:
    """The processes a run will start, their estimate, and what a budget cut."""

    plans: dict[CellConfig, Plan]
    processes: list[Process]
    skipped_done: int = 0
    budget_min: float | None = None
    cuts: list[Cut] = field(default_factory=list)
    studies_s: float = 0.0  # the ``[[hpo]]`` studies' estimate: held against the budget, never cut
    short_of_budget_min: int | None = None  # a suite's budget not held here: the smallest that is
    dropped: list[Drop] = field(default_factory=list)
    weakened: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (asked, planned)
    servers_s: float = 0.0  # the fork servers' start-ups, outside every process's wall time
    serving_s: float = 0.0  # the ``[[serve]]`` tables' estimate: held against the budget too
    reserve_s: float = 0.0  # held for further rounds (``Extension``); they run in what is left

    @property
    def seconds(self) -> float:
        return sum(p.estimate.seconds for p in self.processes) + self.servers_s

    @property
    def held_s(self) -> float:
        """What the budget holds beside the cells: studies, serving, further rounds."""
        return self.studies_s + self.serving_s + self.reserve_s

    def estimates(self) -> dict[tuple[CellConfig, int], float]:
        return {(p.cell, p.repetition): p.estimate.seconds for p in self.processes}

    def to_manifest(self) -> dict[str, Any]:
        return {"estimate_s": self.seconds, "processes": len(self.processes),
                "skipped_done": self.skipped_done, "budget_min": self.budget_min,
                "cuts": [c.text() for c in self.cuts], "studies_s": self.studies_s,
                "short_of_budget_min": self.short_of_budget_min,
                "dropped": [d.text() for d in self.dropped],
                "dropped_tables": [d.facts() for d in self.dropped],
                "weakened": {k: list(v) for k, v in self.weakened.items()},
                "rough": sum(not p.estimate.step.measured for p in self.processes),
                "servers_s": self.servers_s, "serving_s": self.serving_s,
                "reserve_s": self.reserve_s}

    def launches(self) -> int:
        """Cell processes it starts: a resumed cell's repetition starts two (as the matrix's
        progress bar counts them)."""
        return sum(p.launches for p in self.processes)


@dataclass(frozen=True)
class _CellRuns:
    """A cell's repetitions at its full plan, each a Process or None where already done."""

    timed: list[Process | None]
    profiling: list[Process | None]  # [] without attribution

    def take(self, repetitions: int) -> tuple[list[Process], int]:
        chosen = self.timed[:repetitions] + self.profiling
        todo = [p for p in chosen if p is not None]
        return todo, len(chosen) - len(todo)


def rough(e: Estimate) -> bool:
    """Whether any part of an estimate is not measured here."""
    return not (e.step.measured and e.overhead.measured)


def cell_runs(cell: CellConfig, plan: Plan, host: HostCosts, run_dir: Path | None,
          node_rank: int = 0, rough_scale: float = 1.0) -> _CellRuns:
    """``rough_scale``: what this host's processes took against their rough estimates (a
    refit's first round), applied to the estimates still rough."""
    warm_runs = plan.cold_repetitions is not None  # as harness.matrix.matrix starts them

    def process(c: CellConfig, rep: int, warm: bool) -> Process | None:
        if is_done(run_dir, c, rep, node_rank):
            return None
        e = estimate(c, host, rep, warm)
        if rough(e):
            e = dataclasses.replace(e, seconds=e.seconds * rough_scale)
        return Process(c, rep, e, warm)

    profiled = plan.attribution and cell.scenario is Scenario.TRAIN
    return _CellRuns([process(cell, rep, warm_runs and not plan.starts_cold(rep))
                      for rep in range(plan.repetitions)],
                     [process(cell.replace(profiler=True), PROFILE_REPETITION, warm_runs)]
                     if profiled else [])


def servers_s(processes: Iterable[Process], host: HostCosts) -> float:
    """The fork servers ``processes`` fork from, each started once a run before its first
    cell's clock (``harness.launch.process``): one bare server per thread count, one warm
    server per paradigm and thread count; each a torch import, a warm one its paradigm's
    import too, as the probe measured them (0 where it did not)."""
    servers = {(p.cell.threads, p.cell.paradigm.value if p.warm else None)
               for p in processes if planned_launch(p.cell) != "spawn"}
    return sum((host.torch_import_s or 0.0) + host.framework_import_s.get(paradigm or "", 0.0)
               for _, paradigm in servers)


def select_processes(plans: Mapping[CellConfig, Plan], runs: Mapping[CellConfig, _CellRuns],
            host: HostCosts | None = None) -> RunPlan:
    processes, skipped = [], 0
    for cell, plan in plans.items():
        todo, done = runs[cell].take(plan.repetitions)
        processes += todo
        skipped += done
    return RunPlan(dict(plans), processes, skipped,
                   servers_s=servers_s(processes, host) if host is not None else 0.0)


def build_plan(plans: Mapping[CellConfig, Plan], host: HostCosts, run_dir: Path | None = None,
               node_rank: int = 0, rough_scale: float = 1.0) -> RunPlan:
    """Every process still to run for ``plans`` (this node's finished records in ``run_dir``
    left out; rough estimates times ``rough_scale``)."""
    return select_processes(plans, {c: cell_runs(c, p, host, run_dir, node_rank, rough_scale)
                           for c, p in plans.items()}, host)
