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


def test_a_failed_cell_is_one_line_on_the_terminal(tmp_path, monkeypatch, capsys):
    """Lightning issue 21836's dynamo error: its message is a traceback. The terminal gets
    its first line; the record keeps all of it (the report's Failures section reads it)."""
    from harness.results import SCHEMA_VERSION, record_path, write_json_atomic
    from tests.reports.compile_fixtures import ISSUE_21836

    cell = tiny_cell("linear", "lightning", compile="default")

    def failing(cell, run_dir, rep, environment, launch=None, tags=None, warm=False):
        record = {"schema_version": SCHEMA_VERSION, "key": cell.key, "repetition": rep,
                  "config": cell.to_dict(), "status": "error", "process_wall_s": 1.0,
                  "message": ISSUE_21836, "traceback_tail": ISSUE_21836, **(tags or {})}
        write_json_atomic(record_path(run_dir, cell.key, rep), record)
        return record

    monkeypatch.setattr(matrix, "run_cell", failing)
    matrix.execute([cell], tmp_path, 1, progress=True)
    captured = capsys.readouterr()
    err = captured.out + captured.err  # tqdm.write goes to stdout, the bar to stderr
    [line] = [x for x in err.replace("\r", "\n").splitlines() if x.startswith("[error]")]
    assert line.startswith(f"[error] {cell.key} r0: rank 0: InternalTorchDynamoError: "
                           "AttributeError: 'method' object has no attribute '__dict__'")
    assert "from user code" not in err and "module.py" not in err
    assert line.endswith(f"(all of it in {record_path(tmp_path, cell.key, 0)})")
    [record] = load_run(tmp_path)
    assert record["message"] == ISSUE_21836
