"""The run plan: processes left to run, what a run records of its plan, and the refit after
its first round (the budget's cuts and drops: test_budget.py)."""

from __future__ import annotations

import dataclasses

import pytest

from harness.analyse.stopping import Plan
from harness.config import Scenario
from harness.features import Features
from harness.plan.budget import fit_budget
from harness.plan.costs import HostCosts
from harness.plan.plan import Table, build_plan
from harness.results import SCHEMA_VERSION, record_path, write_json_atomic
from tests.harness.plan.plans import cells, host_of


def test_the_plan_counts_timed_and_profiling_repetitions():
    train = cells("mlp")
    predict = cells("tabular", scenario=Scenario.PREDICT)
    plans = {**dict.fromkeys(train, Plan(3, attribution=True)),
             **dict.fromkeys(predict, Plan(2, attribution=True))}
    run = build_plan(plans, host_of(train + predict))
    assert len(run.processes) == 3 * 4 + 3 * 2  # no profiling repetition without training
    assert sum(p.cell.profiler for p in run.processes) == 3
    assert run.seconds == pytest.approx(10.0 * len(run.processes))


def test_a_resumed_folder_plans_only_what_is_left(tmp_path):
    mlp = cells("mlp")
    for cell in mlp:
        for rep, status in ((0, "ok"), (1, "error")):  # an error is run again
            write_json_atomic(record_path(tmp_path, cell.key, rep),
                              {"schema_version": SCHEMA_VERSION, "status": status})
    run = build_plan(dict.fromkeys(mlp, Plan(3)), host_of(mlp), tmp_path)
    assert run.skipped_done == 3
    assert sorted({p.repetition for p in run.processes}) == [1, 2]
    assert run.seconds == pytest.approx(6 * 10.0)


def test_a_resumed_cell_starts_two_processes_a_repetition():
    resumed = cells("mlp", features=Features(resume_at=20))
    run = build_plan(dict.fromkeys(resumed, Plan(1)), host_of(resumed))
    assert sum(p.launches for p in run.processes) == 6


def test_the_run_line_says_what_is_rough_and_when_nothing_is_known():
    from harness.plan.plan_text import one_line

    mlp = cells("mlp")
    plans = dict.fromkeys(mlp, Plan(2))
    measured = build_plan(plans, host_of(mlp))
    assert one_line(measured, 3) == ("plan: 3 cells, 6 cell processes; estimated 1 min 00 s "
                                     "(every figure measured here)")
    bare = build_plan(plans, HostCosts())
    assert "no estimate: nothing measured on this host yet" in one_line(bare, 3)
    borrowed = build_plan(plans, HostCosts(startup_s={"plain/w1/cpu": [2.0]},
                                           torch_import_s=1.0))
    assert "6 of 6 processes estimated roughly, 6 with a part not measured yet" in \
        one_line(borrowed, 3)


def test_a_run_records_its_plan_in_the_manifest(tmp_path, fake_runs):
    import json

    from harness.matrix.matrix import execute

    mlp = cells("mlp")
    plans = dict.fromkeys(mlp, Plan(2))
    run = fit_budget(plans, dict.fromkeys(mlp, Table()), host_of(mlp), 100)
    execute(mlp, tmp_path, run.plans, progress=False, estimates=run.estimates(),
            run_plan=run.to_manifest())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["plan"] == {"estimate_s": 60.0, "processes": 6, "skipped_done": 0,
                                "budget_min": 100, "cuts": [], "rough": 0, "studies_s": 0.0,
                                "short_of_budget_min": None, "dropped": [], "dropped_tables": [],
                                "weakened": {}, "servers_s": 0.0, "serving_s": 0.0,
                                "reserve_s": 0.0}
    assert len(fake_runs) == 6


def test_a_budget_planned_from_rough_figures_is_fitted_again_after_the_first_round(
        tmp_path, fake_runs, monkeypatch):
    """A new host: the plan's start-up is the torch import (0.01 s) and nothing is cut; the
    first round measures 1 s a process, so the second plan cuts what the budget cannot hold."""
    import json

    from harness.matrix.matrix import execute
    from harness.plan.preflight import refitter

    monkeypatch.setenv("PARADIGM_BENCH_COST_CACHE", str(tmp_path / "costs.json"))
    monkeypatch.setenv("PARADIGM_BENCH_LAUNCH", "spawn")  # as the fake records say
    mlp = cells("mlp")
    plans, tables = dict.fromkeys(mlp, Plan(6)), dict.fromkeys(mlp, Table(min_repetitions=2))
    rough = HostCosts(torch_import_s=0.01)
    run = fit_budget(plans, tables, rough, 0.11)  # 6.6 s; 18 processes of 0.01 s fit
    assert run.cuts == [] and len(run.processes) == 18
    out = tmp_path / "run"
    refit = refitter(run, plans, tables, out, since=0.0)
    assert refit is not None
    execute(mlp, out, run.plans, progress=False, estimates=run.estimates(),
            run_plan=run.to_manifest(), refit=refit)
    assert len(fake_runs) == 9  # 3 after the first round, then 2 more rounds fit the 6.6 s left
    plan = json.loads((out / "manifest.json").read_text())["plan"]
    assert plan["refit"]["cuts"] == ["[[matrix]] #1 (priority 0, 3 cells): repetitions 6 -> 3"]
    assert refitter(fit_budget(plans, tables, host_of(mlp), 100), plans, tables, out, 0.0) \
        is None  # measured figures: nothing to fit again


def test_repetitions_a_rough_plan_cut_come_back_when_the_first_round_measures_less(
        tmp_path, fake_runs, monkeypatch):
    """A new host whose rough start-up (a 5 s torch import) makes the budget cut every cell to
    its fewest; the first round measures 1 s a process, so the refit restores them all."""
    import json

    from harness.matrix.matrix import execute
    from harness.plan.preflight import refitter

    monkeypatch.setenv("PARADIGM_BENCH_COST_CACHE", str(tmp_path / "costs.json"))
    monkeypatch.setenv("PARADIGM_BENCH_LAUNCH", "spawn")  # as the fake records say
    mlp = cells("mlp")
    plans, tables = dict.fromkeys(mlp, Plan(6)), dict.fromkeys(mlp, Table(min_repetitions=2))
    run = fit_budget(plans, tables, HostCosts(torch_import_s=5.0), 0.5)  # 30 s: 6 processes
    assert [c.text() for c in run.cuts] == ["[[matrix]] #1 (priority 0, 3 cells): "
                                            "repetitions 6 -> 2"]
    out = tmp_path / "run"
    refit = refitter(run, plans, tables, out, since=0.0)
    execute(mlp, out, run.plans, progress=False, estimates=run.estimates(),
            run_plan=run.to_manifest(), refit=refit)
    assert len(fake_runs) == 18  # 15 measured seconds left after the first round: all fit
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["plan"]["refit"]["cuts"] == []
    assert [c["repetitions"] for c in manifest["cells"]] == [6, 6, 6]


def test_the_listing_counts_cold_and_warm_repetitions():
    from harness.plan.plan_text import plan_text

    mlp = cells("mlp")
    run = build_plan(dict.fromkeys(mlp, Plan(5, cold_repetitions=2)), host_of(mlp))
    assert [p.warm for p in run.processes if p.cell == mlp[0]] == [False] * 2 + [True] * 3
    assert "6 cold (paying their framework's import), 9 forked from their paradigm's warm " \
        "server" in plan_text(run, host_of(mlp), {})


def test_a_refit_that_drops_a_table_keeps_only_the_round_its_cells_ran(tmp_path, fake_runs):
    from harness.matrix.matrix import execute

    mlp, linear = cells("mlp"), cells("linear")
    plans = dict.fromkeys(mlp + linear, Plan(3, attribution=True))
    execute(mlp + linear, tmp_path, plans, progress=False,
            refit=lambda _: ({c: p for c, p in plans.items() if c in mlp}, {}))
    ran = {(key.split("_")[0], rep) for key, rep in fake_runs}
    assert {rep for w, rep in ran if w == "linear"} == {0}
    assert {rep for w, rep in ran if w == "mlp"} == {0, 1, 2}
    profiled = {key.split("_")[0] for key, _ in fake_runs if "profil" in key}
    assert profiled == {"mlp"}  # a dropped table's cells get no profiling repetition
    import json

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    stops = {c["workload"]: c["stop"]["repetitions"] for c in manifest["cells"]}
    assert stops == {"mlp": 3, "linear": 1}  # the records it left, so none reads as missing


@pytest.mark.parametrize("wall, restored", [(1.0, True), (5.0, False)])
def test_a_table_the_rough_plan_dropped_comes_back_when_the_first_round_finds_room(
        tmp_path, fake_runs, monkeypatch, capsys, wall, restored):
    """A new host: the rough start-up (a 5 s torch import) leaves no room for the optional
    table, so the first plan drops it and the matrix holds its cells at 0 repetitions. The
    first round measures ``wall`` a process: at 1 s (a fifth of the rough figure) the
    refit, pricing the held table at its rough estimate times that fifth, brings it back
    whole, profiling included; at 5 s it stays out. The refit's count of processes is the
    run's, and the report's header says what ran and what stayed out."""
    import json

    from harness.cli import held_back
    from harness.matrix import matrix
    from harness.plan.preflight import refitter
    from reports.meta import plan_facts

    monkeypatch.setenv("PARADIGM_BENCH_COST_CACHE", str(tmp_path / "costs.json"))
    monkeypatch.setenv("PARADIGM_BENCH_LAUNCH", "spawn")  # as the fake records say
    fake = matrix.run_cell

    def taking_wall(cell, run_dir, rep, *args, **kwargs):
        record = {**fake(cell, run_dir, rep, *args, **kwargs), "process_wall_s": wall}
        write_json_atomic(record_path(run_dir, cell.key, rep), record)
        return record

    monkeypatch.setattr(matrix, "run_cell", taking_wall)
    mlp, linear = cells("mlp"), cells("linear")
    plans = {**dict.fromkeys(mlp, Plan(4)), **dict.fromkeys(linear, Plan(3, attribution=True))}
    tables = {**dict.fromkeys(mlp, Table(1, priority=5, min_repetitions=2)),
              **dict.fromkeys(linear, Table(2, priority=1, optional=True))}
    run = fit_budget(plans, tables, HostCosts(torch_import_s=5.0), 1.0)  # 60 s: 12 processes
    assert [d.table.index for d in run.dropped] == [2] and set(run.plans) == set(mlp)
    held = held_back(run, plans)
    assert set(held) == set(linear) and {p.repetitions for p in held.values()} == {0}
    out = tmp_path / "run"
    summary = matrix.execute(mlp + linear, out, {**held, **run.plans}, progress=False,
                             estimates=run.estimates(), run_plan=run.to_manifest(),
                             refit=refitter(run, plans, tables, out, since=0.0))
    ran_linear = {(key, rep) for key, rep in fake_runs if key.startswith("linear")}
    manifest = json.loads((out / "manifest.json").read_text())
    refit, header = manifest["plan"]["refit"], plan_facts(manifest)
    counted = [line for line in capsys.readouterr().err.splitlines() if "re-planned" in line]
    assert f"({summary['ran']} in all)" in counted[0]  # the refit counts what the run ran
    assert refit["rough_ratio"] == pytest.approx(wall / 5.0)
    if restored:
        assert len(ran_linear) == 3 * 3 + 3  # every repetition and the profiling ones
        assert refit["dropped"] == [] and header["dropped"] == []
        assert header["restored"] == ["[[matrix]] #2 (priority 1, 3 cells: linear): restored"]
        assert {c["workload"]: c["repetitions"] for c in manifest["cells"]}["linear"] == 3
    else:
        assert ran_linear == set()
        assert header["dropped"] == ["[[matrix]] #2 (priority 1, 3 cells: linear): dropped"]
        assert header["restored"] == []
        assert {c["workload"] for c in manifest["cells"]} == {"mlp"}  # held ones: not listed
    assert summary["ran"] == len(fake_runs) == sum(1 for _ in (out / "cells").glob("*.json"))


def test_the_fork_servers_start_ups_count_once_a_run(monkeypatch):
    """Outside every process's wall time: one bare server per thread count and one warm one
    per paradigm, each the probe's torch import (and its paradigm's); a refit, the servers
    running already, counts none."""
    monkeypatch.setenv("PARADIGM_BENCH_LAUNCH", "fork")
    mlp = cells("mlp", threads=1)
    imports = {"plain": 0.0, "lightning": 3.0, "ignite": 0.5}
    host = dataclasses.replace(host_of(mlp), torch_import_s=2.0, framework_import_s=imports)
    plans = dict.fromkeys(mlp, Plan(4, cold_repetitions=1))
    run = build_plan(plans, host)
    assert run.servers_s == pytest.approx(2.0 + 3 * 2.0 + 3.5)  # bare, then three warm
    assert run.to_manifest()["servers_s"] == run.servers_s
    tables = dict.fromkeys(mlp, Table())
    refit = fit_budget(plans, tables, host, 100, servers_up=True)
    assert refit.servers_s == 0.0


