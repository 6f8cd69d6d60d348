"""Run a matrix of cells: interleaved repetitions, adaptive stops, resume, progress, Ctrl-C.

Repetitions are interleaved (rep 0 of every cell, then rep 1, ...; within a rep the paradigms
of one config follow each other), so slow drift of the machine hits every paradigm alike. The
paradigms' order inside each round is shuffled with a seed written to the manifest (and reused
when the folder is resumed), so that no paradigm always runs first, on a cooler machine or
after a warmer page cache. Each record names its session (one execution of the matrix) and its
place in the round; the statistics pair repetitions by (session, repetition).
Each cell has a ``Plan`` (``harness.analyse.stopping``): a number of repetitions, optionally
"until the overhead interval is tight", and optionally one profiling repetition, run after the timed
ones. A run folder holds ``manifest.json`` and ``cells/<key>__r<rep>.json``; running into an
existing folder resumes it: records that are ``ok`` or ``unsupported`` are kept, everything
else (missing, error, oom, timeout, crashed, interrupted) is run again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import random
import sys
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness.analyse.stopping import Plan, StepTimes, Stop, decide, group_of, member_of
from harness.config import CellConfig, Scenario
from harness.launch.process import server_starts
from harness.launch.runner import SINGLE_NODE, Launch, run_cell
from harness.matrix.extension import FurtherRounds, cell_record
from harness.measure.environment import capture_host
from harness.plan.eta import Eta
from harness.results import (
    SCHEMA_VERSION,
    Status,
    record_path,
    write_json_atomic,
)

FINAL_STATUSES = {Status.OK.value, Status.UNSUPPORTED.value}
PROFILE_REPETITION = 0

Repetitions = int | Mapping[CellConfig, Plan | int]


def plans_of(cells: list[CellConfig], repetitions: Repetitions) -> dict[CellConfig, Plan]:
    """Every cell's plan, from one count for all or a count or plan per cell."""
    def as_plan(cell: CellConfig, value: Plan | int) -> Plan:
        out = value if isinstance(value, Plan) else Plan(int(value))
        # a profiling repetition profiles training steps: export and predict cells have none
        return out if cell.scenario is Scenario.TRAIN else dataclasses.replace(
            out, attribution=False)

    if isinstance(repetitions, int):
        return {c: Plan(repetitions) for c in cells}
    return {c: as_plan(c, repetitions[c]) for c in cells}


def plan(cells: list[CellConfig], repetitions: Repetitions) -> list[tuple[CellConfig, int]]:
    """Every (cell, repetition) that may run, repetition-major so that repetitions interleave
    (adaptive cells may stop earlier); profiling repetitions are not included."""
    plans = plans_of(cells, repetitions)
    rounds = max((p.repetitions for p in plans.values()), default=0)
    return [(cell, rep) for rep in range(rounds) for cell in cells
            if rep < plans[cell].repetitions]


def is_done(run_dir: Path, cell: CellConfig, rep: int, node_rank: int = 0) -> bool:
    record = cell_record(run_dir, cell, rep, node_rank)
    return record is not None and record["status"] in FINAL_STATUSES


def _step_times(run_dir: Path, members: list[CellConfig], rounds: int, node_rank: int
                ) -> StepTimes:
    """Each paradigm's successful step times over the first ``rounds`` repetitions, keyed by
    (session, repetition) as the statistics pair them."""
    out: StepTimes = {}
    for cell in members:
        for rep in range(rounds):
            record = cell_record(run_dir, cell, rep, node_rank)
            step = ((record or {}).get("measurements") or {}).get("step_time_s")
            if record and record["status"] == Status.OK.value and step and math.isfinite(step):
                key = (str(record.get("session") or ""), rep)
                out.setdefault(member_of(cell), {})[key] = step
    return out


def _manifest(run_dir: Path, name: str, plans: dict[CellConfig, Plan],
              stops: dict[CellConfig, Stop], environment: dict[str, Any], **extra: Any) -> None:
    def entry(cell: CellConfig, p: Plan) -> dict[str, Any]:
        stop = stops.get(group_of(cell))
        return {**cell.to_dict(), "key": cell.key, "repetitions": p.repetitions,
                "until_ci_pct": p.until_ci_pct,
                "min_repetitions": p.min_repetitions, "attribution": p.attribution,
                "stop": stop.to_dict() if stop else None}

    write_json_atomic(run_dir / "manifest.json", {
        "schema_version": SCHEMA_VERSION,
        "suite": name,
        "repetitions": max((p.repetitions for p in plans.values()), default=0),
        "cells": [entry(c, p) for c, p in plans.items() if p.repetitions],  # not those held
        "environment": environment,
        **extra,
    })


def _previous_order_seed(run_dir: Path) -> int | None:
    """The order seed of the run being resumed, so that its rounds keep their order."""
    try:
        seed = json.loads((run_dir / "manifest.json").read_text()).get("order_seed")
    except (OSError, ValueError, AttributeError):
        return None
    return seed if isinstance(seed, int) else None


def round_order(cells: list[CellConfig], seed: int, rep: int) -> list[CellConfig]:
    """``cells`` with the members of each cell group (the paradigms of one config) shuffled,
    the same way for the same seed and round; groups keep their places."""
    rng = random.Random(f"{seed}:{rep}")
    groups: dict[CellConfig, list[CellConfig]] = {}
    for cell in cells:
        groups.setdefault(group_of(cell), []).append(cell)
    out = []
    for members in groups.values():
        out += rng.sample(members, len(members))
    return out


class _Matrix:
    """The state of one execution: plans, stops, progress, counts."""

    def __init__(self, cells: list[CellConfig], run_dir: Path, plans: dict[CellConfig, Plan],
                 launch: Launch, bar: Any, order_seed: int,
                 eta: Eta[tuple[CellConfig, int]]) -> None:
        self.cells, self.run_dir, self.plans, self.launch, self.bar = cells, run_dir, plans, \
            launch, bar
        self.order_seed, self.eta = order_seed, eta
        self.session = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        self.environment = capture_host()
        self.stops: dict[CellConfig, Stop] = {}
        self.groups: dict[CellConfig, list[CellConfig]] = {}
        for cell in cells:
            self.groups.setdefault(group_of(cell), []).append(cell)
        self.walls: list[float] = []
        self.cell_walls: dict[CellConfig, list[float]] = {}
        self.extended: dict[str, dict[str, Any]] = {}
        self.skipped = 0
        self.counts = dict.fromkeys((s.value for s in Status), 0)

    def run(self, cell: CellConfig, rep: int, position: int | None = None) -> None:
        if is_done(self.run_dir, cell, rep, self.launch.node_rank):
            self.skipped += 1
            self.eta.drop((cell, rep))
            self.bar.update(processes(cell))
            return
        self.bar.set_postfix_str(f"{self.eta.text()}, {cell.workload}/{member_of(cell)} r{rep}",
                                 refresh=False)
        # a profiling repetition's figures are attribution only: warm wherever warm ones run
        plan = self.plans.get(cell.replace(profiler=False))
        warm = (plan is not None and plan.cold_repetitions is not None
                and (cell.profiler or not plan.starts_cold(rep)))
        record = run_cell(cell, self.run_dir, rep, self.environment, self.launch,
                          tags={"session": self.session, "position_in_round": position},
                          warm=warm)
        self.counts[record["status"]] += 1
        self.walls.append(record["process_wall_s"])
        self.cell_walls.setdefault(cell, []).append(record["process_wall_s"])
        self.eta.ran((cell, rep), record["process_wall_s"])
        self.bar.set_postfix_str(self.eta.text(), refresh=False)
        self.bar.update(processes(cell))
        if record["status"] != Status.OK.value:
            path = record_path(self.run_dir, cell.key, rep, self.launch.node_rank)
            self.bar.write(failure_line(cell, rep, record, path))

    def round(self, rep: int, only: Collection[CellConfig] | None = None) -> None:
        order = round_order(self.cells, self.order_seed, rep)
        for position, cell in enumerate(order):
            if rep < self.plans[cell].repetitions and group_of(cell) not in self.stops \
                    and (only is None or cell in only):
                self.run(cell, rep, position)
        for group, members in self.groups.items():
            if group in self.stops or not any(self.plans[m].repetitions for m in members):
                continue  # stopped, or held back by a budget (a refit may still raise it)
            plan = self.plans[members[0]]
            times = _step_times(self.run_dir, members, rep + 1, self.launch.node_rank)
            # a group a refit cut below this round stopped at its plan, not at this round
            stop = decide(plan, min(rep + 1, plan.repetitions), times)
            if stop:
                self.stops[group] = stop
                left = [(m, r) for m in members
                        for r in range(rep + 1, self.plans[m].repetitions)]
                for key in left:
                    self.eta.drop(key)
                self.bar.total -= sum(processes(m) for m, _ in left)
                self.bar.refresh()

    def refit(self, plans: Mapping[CellConfig, Plan], after_round: int = 0) -> None:
        """Set cells' repetitions to ``plans``: lowered, the processes dropped leave the ETA and
        the progress bar's total; raised (a budget cut on rough figures that the measured ones
        afford), the processes added join them (each estimated as the mean process so far). A
        cell ``plans`` leaves out (its table dropped by the budget) keeps only the rounds it
        has run, and no profiling repetition. A cell held back (0 repetitions: a table the
        first plan dropped) that ``plans`` gives repetitions runs its rounds up to
        ``after_round`` now, so that it stands level with the others."""
        restored = [c for c, p in plans.items() if c in self.plans
                    and not self.plans[c].repetitions and p.repetitions]
        for cell in list(self.plans):
            old = self.plans[cell]
            ran = min(old.repetitions, after_round + 1)
            new = plans.get(cell) or dataclasses.replace(
                old, repetitions=ran, min_repetitions=min(old.min_repetitions, ran),
                attribution=False)
            profiling = (cell.replace(profiler=True), PROFILE_REPETITION)
            if old.attribution and not new.attribution:
                self.eta.drop(profiling)
            elif new.attribution and not old.attribution:
                self.eta.add(profiling, 0.0)
            if old.attribution != new.attribution:
                self.bar.total += (new.attribution - old.attribution) * processes(cell)
            for rep in range(new.repetitions, old.repetitions):
                self.eta.drop((cell, rep))
            for rep in range(old.repetitions, new.repetitions):
                self.eta.add((cell, rep), 0.0)
            self.bar.total += (new.repetitions - old.repetitions) * processes(cell)
            self.plans[cell] = new
        self.bar.refresh()
        for rep in range(after_round + 1 if restored else 0):
            self.round(rep, only=restored)

    def extend(self, started: float, budget_s: float | None) -> None:
        """Lever 4's further rounds after the planned ones (``harness.matrix.extension``),
        within ``budget_s`` seconds from ``started``."""
        further = FurtherRounds(self.cells, self.plans, self.run_dir, self.launch.node_rank,
                                {g: self._rounds_run(g) for g in self.groups}, self.run,
                                self._expected_wall, str(self.order_seed))
        try:
            further.run(started, budget_s, self._count)
        finally:
            self.extended = further.stopped

    def _count(self, cells: list[CellConfig]) -> None:
        self.bar.total += sum(processes(c) for c in cells)

    def _rounds_run(self, group: CellConfig) -> int:
        """The next repetition index of a group: after its planned (or stopped) rounds."""
        stop = self.stops.get(group)
        planned = max(self.plans[m].repetitions for m in self.groups[group])
        return stop.repetitions if stop else planned

    def _expected_wall(self, cell: CellConfig) -> float:
        walls = self.cell_walls.get(cell) or self.walls or [0.0]
        return sum(walls) / len(walls)

    def profile(self) -> None:
        for cell in self.cells:
            if self.plans[cell].attribution:
                self.run(cell.replace(profiler=True), PROFILE_REPETITION)


TERMINAL_CHARS = 200


def failure_line(cell: CellConfig, rep: int, record: dict[str, Any], path: Path) -> str:
    """A failed repetition on one terminal line, between the progress bar's updates: the
    message's first line, clipped (a dynamo error's message is a 30-line traceback); the
    whole of it stays in the record (``path``) and the report's Failures section."""
    lines = str(record.get("message") or "").strip().splitlines()
    line = f"[{record['status']}] {cell.key} r{rep}: {lines[0].strip() if lines else ''}"
    if len(line) > TERMINAL_CHARS:
        line = line[:TERMINAL_CHARS - 1] + "…"
    return line + (f" (all of it in {path})" if len(lines) > 1 or line.endswith("…") else "")


def processes(cell: CellConfig) -> int:
    """Processes one repetition starts: a resumed cell's first leg, then its resume."""
    return 2 if cell.features.resume_at else 1


def execute(cells: list[CellConfig], run_dir: Path, repetitions: Repetitions,
            name: str = "adhoc", progress: bool = True, launch: Launch = SINGLE_NODE,
            order_seed: int | None = None,
            estimates: Mapping[tuple[CellConfig, int], float] | None = None,
            run_plan: dict[str, Any] | None = None,
            refit: Callable[[float], tuple[dict[CellConfig, Plan], dict[str, Any]]] | None = None,
            budget_s: float | None = None,
            ) -> dict[str, Any]:
    """Run what is not done yet; return a summary. Re-raises KeyboardInterrupt after saving.

    ``order_seed`` fixes the paradigms' order in each round (every node of a multi-node run
    must pass the same); by default a resumed folder keeps its seed and a new one draws one.
    ``estimates`` (seconds per (cell, repetition), ``harness.plan.plan``) drive the
    progress display's ETA; ``run_plan`` (the plan's estimate and a budget's cuts) goes
    into the manifest for the report's header. ``refit`` (a budget planned from rough
    figures, ``harness.plan.preflight.refitter``) is called after the first round with the
    seconds run so far, every cell then measured once here; the plans it returns lower or
    raise the repetitions still to run, and its manifest entry replaces ``run_plan``.
    ``budget_s`` (the seconds the run's cells may take) bounds the further rounds of plans
    with an ``Extension``, run after the planned ones (``harness.matrix.extension``).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if order_seed is None:
        order_seed = _previous_order_seed(run_dir)
    if order_seed is None:
        order_seed = random.SystemRandom().randrange(2**31)
    plans = plans_of(cells, repetitions)
    total = sum((p.repetitions + p.attribution) * processes(c) for c, p in plans.items())
    if estimates is None:  # no plan: every process counts as the mean of those finished
        estimates = {**{(c, r): 0.0 for c, p in plans.items() for r in range(p.repetitions)},
                     **{(c.replace(profiler=True), PROFILE_REPETITION): 0.0
                        for c, p in plans.items() if p.attribution}}
    eta = Eta(estimates)
    bar = tqdm(total=total, desc=name, unit="process", disable=not progress, file=sys.stderr,
               dynamic_ncols=True, postfix=eta.text(),
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} processes "
                          "[{elapsed}{postfix}]")
    m = _Matrix(cells, run_dir, plans, launch, bar, order_seed, eta)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    extra = {"plan": run_plan} if run_plan is not None else {}
    _manifest(run_dir, name, plans, m.stops, m.environment, started_at=started, state="running",
              order_seed=order_seed, **extra)
    servers_before = len(server_starts())
    t0, state = time.perf_counter(), "finished"
    try:
        rep = 0
        while rep < max((p.repetitions for p in plans.values()), default=0):  # a refit moves it
            m.round(rep)
            if rep == 0 and refit is not None:
                refitted, entry = refit(time.perf_counter() - t0)
                m.refit(refitted)
                extra = {"plan": entry}
            rep += 1
        m.profile()
        m.extend(t0, budget_s)
    except KeyboardInterrupt:
        state = "interrupted"
        m.counts[Status.INTERRUPTED.value] += 1
        raise
    finally:
        bar.close()
        summary = {
            "state": state,
            "ran": len(m.walls),
            "skipped_done": m.skipped,
            "statuses": {k: v for k, v in m.counts.items() if v},
            "wall_s": time.perf_counter() - t0,
            "cell_process_wall_s": m.walls,
            # fork servers this run started, outside every cell's process_wall_s
            "fork_servers": server_starts()[servers_before:],
            "extension": m.extended,
        }
        _manifest(run_dir, name, plans, m.stops, m.environment, started_at=started,
                  order_seed=order_seed, **extra, **summary)
    return summary
