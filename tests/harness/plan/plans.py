"""Plans for the plan and budget tests: cells of every paradigm and a host that measured them."""

from __future__ import annotations

from harness.analyse.stopping import Plan
from harness.config import CellConfig, Paradigm, Scenario
from harness.plan.costs import CellCost, HostCosts, cost_key, shape_of
from harness.plan.plan import Table

PARADIGMS = Paradigm.frameworks()


def cells(workload: str, **settings) -> list[CellConfig]:
    return [CellConfig(workload, p, size="tiny", batch_size=8, steps=90, warmup=10,
                       window=10, **settings) for p in PARADIGMS]


def host_of(all_cells: list[CellConfig], seconds: float = 10.0) -> HostCosts:
    """Every cell measured: ``seconds`` a repetition (1 s of steps and the rest overhead)."""
    profiled = [c.replace(profiler=True) for c in all_cells if c.scenario is Scenario.TRAIN]
    return HostCosts(cells={cost_key(c): CellCost(shape_of(c), [0.01], [seconds - 1.0])
                            for c in all_cells + profiled})


def three_tables() -> tuple:
    """Three tables of three cells: linear (priority 1), mlp (0), gpt (5, adaptive)."""
    a, b, c = cells("linear"), cells("mlp"), cells("gpt")
    plans = {**dict.fromkeys(a, Plan(5)), **dict.fromkeys(b, Plan(5)),
             **dict.fromkeys(c, Plan(30, until_ci_pct=4, min_repetitions=8))}
    tables = {**dict.fromkeys(a, Table(1, priority=1)), **dict.fromkeys(b, Table(2)),
              **dict.fromkeys(c, Table(3, priority=5))}
    return a, b, c, plans, tables, host_of(a + b + c)

