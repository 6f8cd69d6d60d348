"""The matrix's round order: paradigms shuffled per round with a recorded, reusable seed, and
records that name their session and place (records are faked: no processes)."""

from __future__ import annotations

import json

from harness.matrix import matrix
from harness.results import load_run
from tests.conftest import tiny_cell

PARADIGMS = ("plain", "lightning", "ignite")


def _cells() -> list:
    return [tiny_cell(w, p) for w in ("linear", "mlp") for p in PARADIGMS]


def test_each_round_shuffles_paradigms_inside_their_group_only():
    cells = _cells()
    orders = [matrix.round_order(cells, seed=7, rep=rep) for rep in range(12)]
    for order in orders:
        assert [c.workload for c in order] == ["linear"] * 3 + ["mlp"] * 3  # groups stay put
        assert sorted(order, key=cells.index) == cells  # every cell once
    firsts = {order[0].paradigm.value for order in orders}
    assert firsts == set(PARADIGMS)  # over 12 rounds every paradigm has gone first
    assert orders == [matrix.round_order(cells, seed=7, rep=rep) for rep in range(12)]
    assert orders != [matrix.round_order(cells, seed=8, rep=rep) for rep in range(12)]


def test_the_seed_is_recorded_and_a_resume_keeps_it(tmp_path, fake_runs):
    cells = _cells()
    matrix.execute(cells, tmp_path, 3, progress=False, order_seed=1234)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["order_seed"] == 1234
    ran = [key for key, rep in fake_runs if rep == 1]
    assert ran == [c.key for c in matrix.round_order(cells, 1234, 1)]
    records = load_run(tmp_path)
    assert {r["position_in_round"] for r in records} == set(range(6))
    assert len({r["session"] for r in records}) == 1

    for path in (tmp_path / "cells").glob("*__r2.json"):
        path.unlink()  # round 2 lost: the resume re-runs it, in the same order, new session
    fake_runs.clear()
    matrix.execute(cells, tmp_path, 3, progress=False)
    assert json.loads((tmp_path / "manifest.json").read_text())["order_seed"] == 1234
    assert [key for key, _ in fake_runs] == [c.key for c in matrix.round_order(cells, 1234, 2)]
    assert len({r["session"] for r in load_run(tmp_path)}) == 2


def test_scenario_cells_get_no_profiling_repetition():
    from harness.analyse.stopping import Plan

    train, predict = tiny_cell("mlp"), tiny_cell("mlp", scenario="predict")
    plans = matrix.plans_of([train, predict], {train: Plan(2, attribution=True),
                                               predict: Plan(2, attribution=True)})
    assert plans[train].attribution and not plans[predict].attribution
