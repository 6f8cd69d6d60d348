"""Further rounds where they change a reading (lever 4 of issue 33), run after a matrix's
planned rounds.

A group member whose plan has an ``Extension`` and whose framework-time excess is still a
sign wider than its target gets one more repetition paired with its group's plain loop, round
after round (the pair in a shuffled order), until its rule is met, it reaches its most
repetitions, or the budget cannot hold the next round's expected time. Why each member
stopped goes to the manifest (``extension``) and the report.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.analyse.stopping import Plan, group_of, member_of
from harness.config import CellConfig, Paradigm
from harness.results import SchemaError, Status, read_record, record_path

ExcessTimes = dict[tuple[str, int], tuple[float, float]]


def cell_record(run_dir: Path, cell: CellConfig, rep: int, node_rank: int = 0
                ) -> dict[str, Any] | None:
    """A repetition's record, None where it is missing or unreadable."""
    path = record_path(run_dir, cell.key, rep, node_rank)
    if not path.exists():
        return None
    try:
        return read_record(path)
    except SchemaError:
        return None


def excess_times(run_dir: Path, cell: CellConfig, repetitions: int, node_rank: int = 0
                 ) -> ExcessTimes:
    """(framework, compute) seconds per step of the cell's successful repetitions below
    ``repetitions``, keyed by (session, repetition) as the statistics pair them."""
    out = {}
    for rep in range(repetitions):
        record = cell_record(run_dir, cell, rep, node_rank)
        phases = ((record or {}).get("measurements") or {}).get("phases") or {}
        if not record or record["status"] != Status.OK.value or "framework_s" not in phases:
            continue
        compute = sum(phases.get(k) or 0.0 for k in ("forward", "backward", "optimizer"))
        if compute > 0:
            out[(str(record.get("session") or ""), rep)] = (phases["framework_s"], compute)
    return out


class FurtherRounds:
    """One matrix's further rounds. ``run_one(cell, rep, position)`` runs a repetition as the
    matrix does (progress, ETA, failures); ``expected_wall(cell)`` is a process's expected
    seconds; ``first_rep`` maps each group to its next repetition index."""

    def __init__(self, cells: list[CellConfig], plans: Mapping[CellConfig, Plan],
                 run_dir: Path, node_rank: int, first_rep: Mapping[CellConfig, int],
                 run_one: Callable[[CellConfig, int, int], None],
                 expected_wall: Callable[[CellConfig], float], seed: str) -> None:
        self.plans, self.run_dir, self.node_rank = plans, run_dir, node_rank
        self.run_one, self.expected_wall, self.seed = run_one, expected_wall, seed
        self.members = [c for c in cells if plans[c].extension is not None
                        and member_of(c) != Paradigm.PLAIN.value and group_of(c) in plans]
        self.next_rep = {group_of(c): first_rep[group_of(c)] for c in self.members}
        self.stopped: dict[str, dict[str, Any]] = {}  # cell key -> why (the manifest's)

    def run(self, started: float, budget_s: float | None,
            on_round: Callable[[list[CellConfig]], None] = lambda cells: None) -> None:
        """Round after round while a member needs pairs and ``budget_s`` seconds from
        ``started`` hold the next round; ``on_round`` hears each round's cells first."""
        members = self.members
        for rounds in itertools.count():
            wanted = [c for c in members if self._needs_more(c)]
            for cell in set(members) - set(wanted):
                self._stop(cell, "target" if self._pairs(cell) < self._most(cell)
                           else "most_repetitions")
            members = wanted
            if not wanted:
                return
            batch = sorted({group_of(c) for c in wanted}, key=lambda g: g.key)
            cells = [c for g in batch for c in [g, *[w for w in wanted if group_of(w) == g]]]
            if budget_s is not None and (time.perf_counter() - started
                                         + sum(self.expected_wall(c) for c in cells)) > budget_s:
                for cell in wanted:
                    self._stop(cell, "budget")
                return
            on_round(cells)
            order = random.Random(f"{self.seed}:extend:{rounds}").sample(cells, len(cells))
            for position, cell in enumerate(order):
                self.run_one(cell, self.next_rep[group_of(cell)], position)
            for group in batch:
                self.next_rep[group] += 1

    def _times(self, cell: CellConfig) -> ExcessTimes:
        return excess_times(self.run_dir, cell, self.next_rep[group_of(cell)], self.node_rank)

    def _pairs(self, cell: CellConfig) -> int:
        return len(set(self._times(cell)) & set(self._times(group_of(cell))))

    def _most(self, cell: CellConfig) -> int:
        extension = self.plans[cell].extension
        assert extension is not None
        return extension.most

    def _needs_more(self, cell: CellConfig) -> bool:
        extension = self.plans[cell].extension
        assert extension is not None
        return extension.needs_more(self._times(cell), self._times(group_of(cell)))

    def _stop(self, cell: CellConfig, reason: str) -> None:
        self.stopped[cell.key] = {"member": member_of(cell), "pairs": self._pairs(cell),
                                  "planned": self.plans[cell].repetitions,
                                  "stopped_by": reason}
