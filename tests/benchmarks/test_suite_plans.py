"""The default suites' plans, under cost caches of the size a real host measures: every Verdict
group keeps the repetitions its interval needs within the suite's budget (a whole optional
table is dropped, and named, before any is taken below that), the headline carries the A/A
check, and start-up is measured on the cold repetitions only. No cell runs here."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analyse.stopping import group_of
from harness.config import CellConfig, CompileMode, Paradigm, Scenario
from harness.matrix.suite import load_suite
from harness.plan.budget import MIN_N_MEAN, fit_budget
from harness.plan.costs import WARM_FORK, CellCost, HostCosts, cost_key, shape_of
from harness.process_env import LAUNCH_ENV

SUITES = Path(__file__).parents[2] / "benchmarks" / "suites"
# Start-up a process pays besides its steps (s): a cold one imports its framework, a warm one
# forks from a server that has (the CPU figures: the 2-core AMD EPYC run of issue 33).
CPU_COLD = {"plain": 1.0, "plain-aa": 1.0, "ignite": 1.3, "lightning": 4.1}
CPU_WARM = {"plain": 0.9, "plain-aa": 0.9, "ignite": 1.0, "lightning": 1.6}
CPU_STEP = {"linear": 2e-4, "mlp": 1.5e-3, "cnn": 0.03, "gpt": 0.05, "resnet18": 0.2,
            "bert-base": 0.5, "tabular": 1e-3}
# On one H100 (field notes' published step sizes; a CUDA process's start-up several seconds)
GPU_COLD = {"plain": 6.0, "plain-aa": 6.0, "ignite": 7.0, "lightning": 10.0}
GPU_WARM = {"plain": 4.0, "plain-aa": 4.0, "ignite": 4.0, "lightning": 4.5}
GPU_STEP = {"linear": 1e-4, "mlp": 1.2e-3, "cnn": 0.012, "gpt": 0.03, "resnet50": 0.095,
            "gpt2": 0.12, "tabular": 5e-4}


def _host(cells: list[CellConfig], step: dict[str, float], cold: dict[str, float],
          warm: dict[str, float]) -> HostCosts:
    """Every cell measured here, cold and warm, its profiling repetition too; a compiled
    cell's first repetition a minute more, a torchrun group's ranks 8 s more each."""
    figures = {}
    profiled = [c.replace(profiler=True) for c in cells if c.scenario is Scenario.TRAIN]
    for cell in cells + profiled:
        paradigm = cell.paradigm.value
        extra = 8.0 * (cell.world_size - 1)
        for launch, start in (("fork", cold), (WARM_FORK, warm), ("spawn", cold)):
            figures[cost_key(cell, launch)] = CellCost(
                shape_of(cell), [step[cell.workload]], [start[paradigm] + extra],
                [start[paradigm] + 60.0] if cell.compile is not CompileMode.NONE else [])
    return HostCosts(cells=figures, framework_import_s={"lightning": 2.5, "ignite": 0.3})


def _verdict_groups(plans: dict[CellConfig, object]) -> dict[CellConfig, list[CellConfig]]:
    """The training groups with a plain loop to hold the others against."""
    groups: dict[CellConfig, list[CellConfig]] = {}
    for cell in plans:
        if cell.scenario is Scenario.TRAIN:
            groups.setdefault(group_of(cell), []).append(cell)
    return {g: m for g, m in groups.items()
            if any(c.paradigm is Paradigm.PLAIN for c in m) and len(m) > 1}


@pytest.mark.parametrize("name, step, cold, warm", [
    ("cpu", CPU_STEP, CPU_COLD, CPU_WARM),
    ("gpu", GPU_STEP, GPU_COLD, GPU_WARM),
])
def test_every_verdict_group_keeps_its_interval_within_the_budget(
        name, step, cold, warm, monkeypatch):
    monkeypatch.setenv(LAUNCH_ENV, "fork")
    suite = load_suite(SUITES / f"{name}.toml")
    assert suite.budget_min is not None
    host = _host(suite.cells, step, cold, warm)
    run = fit_budget(suite.plans, suite.tables, host, suite.budget_min, strict=False)
    assert run.short_of_budget_min is None, run.to_manifest()
    assert run.seconds <= 60 * suite.budget_min
    for group, members in _verdict_groups(run.plans).items():
        assert min(run.plans[c].repetitions for c in members) >= MIN_N_MEAN, group.key
    kept = {suite.tables[c] for c in run.plans}
    assert not [t for t in kept if t in {d.table for d in run.dropped}]
    assert all(d.table.optional for d in run.dropped)


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_the_headline_runs_the_aa_check_and_measures_start_up_cold(name):
    suite = load_suite(SUITES / f"{name}.toml")
    top = max(t.priority for t in suite.tables.values())
    headline = [c for c, t in suite.tables.items() if t.priority == top]
    assert {c.paradigm for c in headline} == set(Paradigm)  # plain-aa among them
    cold = {suite.plans[c].cold_repetitions for c in headline}
    assert cold and min(cold) >= MIN_N_MEAN  # type: ignore[operator]
    others = [p for c, p in suite.plans.items() if c not in headline]
    assert {p.cold_repetitions for p in others} == {0}  # steady state forks warm


def test_a_tight_budget_drops_optional_tables_before_any_interval(monkeypatch):
    monkeypatch.setenv(LAUNCH_ENV, "fork")
    suite = load_suite(SUITES / "cpu.toml")
    slow = {k: 4 * v for k, v in CPU_STEP.items()}  # a host four times slower
    run = fit_budget(suite.plans, suite.tables, _host(suite.cells, slow, CPU_COLD, CPU_WARM),
                     suite.budget_min or 0, strict=False)
    assert run.dropped and all(d.table.optional for d in run.dropped)
    for group, members in _verdict_groups(run.plans).items():
        assert min(run.plans[c].repetitions for c in members) >= MIN_N_MEAN, group.key


def test_the_full_suite_holds_the_long_tail():
    default, full = load_suite(SUITES / "cpu.toml"), load_suite(SUITES / "cpu-full.toml")
    assert set(default.cells) < set(full.cells) or not set(default.cells) - set(full.cells)
    assert full.budget_min is None and full.studies
    assert {c.scenario for c in full.cells} > {c.scenario for c in default.cells}
