"""A run's plan fitted to a wall-time budget: cuts, drops, and what the budget holds aside.

``fit_budget`` shrinks a plan by lowering repetitions table by table (``Table.priority``: the
lowest is cut first; among equals, the later table), never below the fewest its statistic
needs (``fewest``), then drops whole ``optional`` tables, and holds the studies', the serving
tables' and the further rounds' seconds aside. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from harness.analyse.ranks import MIN_N_MEDIAN
from harness.analyse.stopping import Plan, group_of
from harness.config import CellConfig, Paradigm
from harness.plan.costs import HostCosts
from harness.plan.estimate import estimate
from harness.plan.plan import (
    COMMAND_LINE,
    Cut,
    Drop,
    RunPlan,
    Table,
    cell_runs,
    rough,
    select_processes,
    with_repetitions,
)

MIN_N_MEAN = 3  # as harness.analyse.stats: the fewest with a t interval of a mean difference


class BudgetError(ValueError):
    """A budget that cannot hold the fewest repetitions of every cell; names the smallest."""

    def __init__(self, budget_min: float, smallest_min: int) -> None:
        super().__init__(
            f"a budget of {budget_min:g} min cannot hold the fewest repetitions every cell "
            f"needs: the smallest budget that can is {smallest_min} min (--budget "
            f"{smallest_min}), or lift the budget with --rigorous")
        self.smallest_min = smallest_min


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
    runs = {c: cell_runs(c, p, host, run_dir, node_rank, rough_scale) for c, p in plans.items()}
    current = dict(plans)
    servers = None if servers_up else host

    def fits() -> bool:
        return select_processes(current, runs, servers).seconds <= budget_s

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
    run = select_processes(current, runs, servers)
    run.cuts, run.dropped = cuts, dropped
    run.weakened = {c.key: (plans[c].repetitions, p.repetitions) for c, p in current.items()
                    if p.repetitions < plans[c].repetitions}
    return run
