"""What a run will do and cost before it starts: its processes, their estimate, a budget.

``build_plan`` lists every cell repetition still to run (a resumed folder's finished records
are left out, as the matrix leaves them), the profiling repetitions, resumed cells' first
legs and torchrun ranks, and estimates each from the host's measured figures
(``harness.plan.estimate``). ``fit_budget`` shrinks the plan to a wall-time budget by
lowering repetitions table by table (``Table.priority``: the lowest is cut first; among
equals, the later table), never below the fewest its statistic needs (``fewest``) and never
by dropping a cell. ``python -m harness run|suite --plan`` prints it (``harness.launch.
plan_text``); a run records it in its manifest, and the report's header states the cuts.

Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.analyse.ranks import MIN_N_MEDIAN
from harness.analyse.stopping import Plan, group_of
from harness.config import CellConfig, Paradigm, Scenario
from harness.plan.costs import HostCosts, planned_launch
from harness.plan.estimate import Estimate, estimate
from harness.results import SchemaError, Status, read_record, record_path

MIN_N_MEAN = 3  # as harness.analyse.stats: the fewest with a t interval of a mean difference
PROFILE_REPETITION = 0  # as harness.matrix.matrix
FINAL_STATUSES = {Status.OK.value, Status.UNSUPPORTED.value}


class BudgetError(ValueError):
    """A budget that cannot hold the fewest repetitions of every cell; names the smallest."""

    def __init__(self, budget_min: float, smallest_min: int) -> None:
        super().__init__(
            f"a budget of {budget_min:g} min cannot hold the fewest repetitions every cell "
            f"needs: the smallest budget that can is {smallest_min} min (--budget "
            f"{smallest_min}), or lift the budget with --rigorous")
        self.smallest_min = smallest_min


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


def fewest(plan: Plan, table: Table = COMMAND_LINE) -> int:
    """The fewest repetitions a budget may leave a cell: an adaptive cell its
    ``min_repetitions``; a table that sets ``min_repetitions``, that; otherwise the fewest
    that keep the interval its count gave it (6: the paired overhead's order-statistic
    interval, ``MIN_N_MEDIAN``; 3: the t interval of the mean difference); a table asking
    for fewer keeps its own count."""
    if plan.until_ci_pct is not None:
        return min(plan.min_repetitions, plan.repetitions)
    if table.min_repetitions is not None:
        return min(table.min_repetitions, plan.repetitions)
    if plan.repetitions >= MIN_N_MEDIAN:
        return MIN_N_MEDIAN
    return min(plan.repetitions, MIN_N_MEAN)


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


def _runs(cell: CellConfig, plan: Plan, host: HostCosts, run_dir: Path | None,
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


def _select(plans: Mapping[CellConfig, Plan], runs: Mapping[CellConfig, _CellRuns],
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
    return _select(plans, {c: _runs(c, p, host, run_dir, node_rank, rough_scale)
                           for c, p in plans.items()}, host)


def _cut_order(cells: Iterable[CellConfig], tables: Mapping[CellConfig, Table]) -> list[Table]:
    """The tables of ``cells``, the first to cut first (``run``'s cells are one table)."""
    return sorted({tables.get(c, COMMAND_LINE) for c in cells},
                  key=lambda t: (t.priority, -t.index))


def _lower(current: dict[CellConfig, Plan], plans: Mapping[CellConfig, Plan],
           members: list[CellConfig], table: Table, fits: Callable[[], bool]) -> Cut | None:
    """Lower one table's cells a repetition at a time, never below ``fewest``, until
    ``fits``; the cut it made, if any."""
    top = max(current[c].repetitions for c in members)
    low = min(fewest(plans[c], table) for c in members)
    for cap in range(top - 1, low - 1, -1):
        for c in members:
            reps = max(fewest(plans[c], table), min(plans[c].repetitions, cap))
            current[c] = with_repetitions(plans[c], reps)
        if fits():
            break
    after = max(current[c].repetitions for c in members)
    return Cut(table, len(members), top, after) if after < top else None


def _restore(current: dict[CellConfig, Plan], plans: Mapping[CellConfig, Plan],
             members: list[CellConfig], fits: Callable[[], bool]) -> None:
    """Raise a cut table's cells back toward their plan, a repetition at a time, while the
    estimate still fits."""
    if not members:
        return
    top = max(plans[c].repetitions for c in members)
    for cap in range(max(current[c].repetitions for c in members) + 1, top + 1):
        before = {c: current[c] for c in members}
        for c in members:
            current[c] = with_repetitions(plans[c], max(before[c].repetitions,
                                                        min(plans[c].repetitions, cap)))
        if not fits():
            current.update(before)
            return


def _recount(cut: Cut, current: Mapping[CellConfig, Plan],
             tables: Mapping[CellConfig, Table]) -> Cut:
    """A cut as it stands once the drops' time went back to the cut tables."""
    after = max(p.repetitions for c, p in current.items()
                if tables.get(c, COMMAND_LINE) == cut.table)
    return dataclasses.replace(cut, after=after)


def extension_reserve_s(plans: Mapping[CellConfig, Plan], host: HostCosts,
                        rough_scale: float = 1.0) -> float:
    """Seconds a budget holds for further rounds (``harness.analyse.stopping.Extension``):
    per cell group whose plan extends, a warm repetition of its plain loop and of its mean
    other member for every repetition between its plan's and its most. One member, not
    all: the rounds go only to readings still wider than their target (on the cpu headline
    Ignite's, not Lightning's or the A/A's); more than that runs only in time the cells left.
    """
    def seconds(cell: CellConfig, rep: int) -> float:
        e = estimate(cell, host, rep, True)
        return e.seconds * (rough_scale if rough(e) else 1.0)

    groups: dict[CellConfig, list[CellConfig]] = {}
    for cell, plan in plans.items():
        if plan.extension is not None and plan.repetitions:
            groups.setdefault(group_of(cell), []).append(cell)
    total = 0.0
    for plain, members in groups.items():
        others = [c for c in members if c.paradigm is not Paradigm.PLAIN]
        if plain not in plans or not others:
            continue
        first = max(plans[c].repetitions for c in members)
        extension = plans[others[0]].extension
        assert extension is not None
        for rep in range(first, extension.most):
            total += seconds(plain, rep) + sum(seconds(c, rep) for c in others) / len(others)
    return total


def fit_budget(plans: Mapping[CellConfig, Plan], tables: Mapping[CellConfig, Table],
               host: HostCosts, budget_min: float, run_dir: Path | None = None,
               node_rank: int = 0, studies_s: float = 0.0, strict: bool = True,
               rough_scale: float = 1.0, servers_up: bool = False, serving_s: float = 0.0
               ) -> RunPlan:
    """The plan within ``budget_min`` minutes, ``studies_s`` and ``serving_s`` of them kept
    for the run's studies and serving tables, and the further rounds' reserve
    (``extension_reserve_s``) too where the cells can give it up; where even their fewest
    repetitions do not leave it, the reserve is let go (the rounds get what the run leaves).
    First each table in cut order is lowered, one repetition at a time, until the
    estimate fits or the table is at its fewest (the repetitions its interval needs); then
    the ``optional`` tables are dropped whole, lowest priority first, until it fits: a
    question left out is named, where one answered without an interval would read as an
    answer. A table dropped early comes back (at its fewest) where a later, larger drop made
    room for it; what the drops freed then goes back to the cut tables, highest first.
    When that still does not fit, raises BudgetError (``strict``: a budget the user asked
    for) or returns the plan at its fewest with ``short_of_budget_min`` set (a suite's own
    budget, on a host slower than its author's). ``rough_scale`` multiplies the estimates
    still rough (a refit: what its first round took against them); ``servers_up``: the fork
    servers are running already (a refit), so their start-ups are not counted again."""
    reserve_s = extension_reserve_s(plans, host, rough_scale)
    run = _fit(plans, tables, host, budget_min, run_dir, node_rank, studies_s + serving_s
               + reserve_s, rough_scale, servers_up)
    if reserve_s and run.seconds > 60 * budget_min - studies_s - serving_s - reserve_s:
        reserve_s = 0.0  # the cells at their fewest need it: the rounds get what is left
        run = _fit(plans, tables, host, budget_min, run_dir, node_rank, studies_s + serving_s,
                   rough_scale, servers_up)
    run.budget_min, run.studies_s = budget_min, studies_s
    run.serving_s, run.reserve_s = serving_s, reserve_s
    if run.seconds > 60 * budget_min - run.held_s:
        smallest = max(1, math.ceil((run.seconds + run.held_s) / 60))
        if strict:
            raise BudgetError(budget_min, smallest)
        run.short_of_budget_min = smallest
    return run


def _fit(plans: Mapping[CellConfig, Plan], tables: Mapping[CellConfig, Table],
         host: HostCosts, budget_min: float, run_dir: Path | None, node_rank: int,
         held_s: float, rough_scale: float, servers_up: bool) -> RunPlan:
    """``fit_budget``'s cuts and drops within ``budget_min`` less ``held_s`` seconds."""
    budget_s = 60 * budget_min - held_s
    runs = {c: _runs(c, p, host, run_dir, node_rank, rough_scale) for c, p in plans.items()}
    current = dict(plans)
    servers = None if servers_up else host

    def fits() -> bool:
        return _select(current, runs, servers).seconds <= budget_s

    cuts: list[Cut] = []
    order = _cut_order(plans, tables)
    for table in order:
        if fits():
            break
        members = [c for c in current if tables.get(c, COMMAND_LINE) == table]
        cut = _lower(current, plans, members, table, fits)
        if cut is not None:
            cuts.append(cut)
    dropped: list[Drop] = []
    for table in [t for t in order if t.optional]:
        if fits():
            break
        members = [c for c in current if tables.get(c, COMMAND_LINE) == table]
        for c in members:
            del current[c]
        workloads = tuple(dict.fromkeys(c.workload for c in members))
        features = tuple(dict.fromkeys(f for c in members for f in c.features.active()))
        dropped.append(Drop(table, len(members), workloads, features))
    for drop in list(reversed(dropped[:-1])):  # the last drop made room: an earlier may fit
        members = [c for c in plans if tables.get(c, COMMAND_LINE) == drop.table]
        current.update({c: with_repetitions(plans[c], fewest(plans[c], drop.table))
                        for c in members})
        if fits():
            dropped.remove(drop)
        else:
            for c in members:
                del current[c]
    gone = {d.table for d in dropped}
    if dropped:  # what the drops freed goes back to the cut tables, the highest first
        for table in reversed(order):
            if table not in gone:
                _restore(current, plans, [c for c in current
                                          if tables.get(c, COMMAND_LINE) == table], fits)
    cuts = [_recount(c, current, tables) for c in cuts if c.table not in gone]
    cuts = [c for c in cuts if c.after < c.before]
    run = _select(current, runs, servers)
    run.cuts, run.dropped = cuts, dropped
    run.weakened = {c.key: (plans[c].repetitions, p.repetitions) for c, p in current.items()
                    if p.repetitions < plans[c].repetitions}
    return run
