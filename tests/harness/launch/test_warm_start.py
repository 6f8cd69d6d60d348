"""Warm and cold repetitions: steady-state repetitions fork from a server that has imported
their paradigm, the leading ones from the bare server (the start-up figures); records say which;
the plan and the cost model know a warm one skips the framework import."""

from __future__ import annotations

import json

import pytest

from harness.analyse.stopping import Plan
from harness.config import Paradigm
from harness.launch.runner import run_cell
from harness.matrix.matrix import execute
from harness.plan.costs import CellCost, HostCosts, cost_key, shape_of, update_host
from harness.plan.estimate import Source, estimate
from harness.process_env import LAUNCH_ENV
from harness.results import read_record, record_path
from tests.conftest import FIXTURES, tiny_cell
from tests.harness import gpu_cells

PROBE = f"{FIXTURES / 'fork_probe.py'}:ModuleProbe"


def test_a_plan_starts_its_leading_repetitions_cold():
    assert [Plan(5, cold_repetitions=2).starts_cold(r) for r in range(5)] == \
        [True, True, False, False, False]
    assert all(Plan(3).starts_cold(r) for r in range(3))  # the default: every one cold


def test_the_matrix_forks_repetitions_past_the_cold_ones_warm(tmp_path, fake_runs):
    cells = [tiny_cell("mlp", p) for p in Paradigm.frameworks()]
    plan = Plan(4, cold_repetitions=2, attribution=True)
    execute(cells, tmp_path, dict.fromkeys(cells, plan), progress=False)
    for cell in cells:
        starts = [read_record(record_path(tmp_path, cell.key, r))["start"] for r in range(4)]
        assert starts == ["cold", "cold", "warm", "warm"]
        profiled = cell.replace(profiler=True)
        assert read_record(record_path(tmp_path, profiled.key, 0))["start"] == "warm"


def test_a_warm_child_has_its_framework_before_its_import_and_trains_the_same(
        tmp_path, monkeypatch, shared_cells):
    monkeypatch.setenv(LAUNCH_ENV, "fork")
    out = tmp_path / "probe.json"
    monkeypatch.setenv("FORK_PROBE_OUT", str(out))
    probe = tiny_cell(PROBE, Paradigm.LIGHTNING, steps=2, warmup=1, window=1)
    warm = run_cell(probe, tmp_path / "probe", 0, environment={}, warm=True)
    assert warm["status"] == "ok", warm.get("message")
    assert warm["start"] == "warm"
    assert "pytorch_lightning" in json.loads(out.read_text())["modules"]

    # test_parity's cell, which the session runs cold and warm anyway (``shared_cells``)
    cfg = tiny_cell("mlp", Paradigm.LIGHTNING, steps=24, warmup=2, window=4)
    cold, warm = shared_cells.run(cfg, warm=False), shared_cells.run(cfg, warm=True)
    assert (cold["start"], warm["start"]) == ("cold", "warm")
    assert cold["measurements"]["weights_sha256"] == warm["measurements"]["weights_sha256"]
    assert cold["measurements"]["losses"] == warm["measurements"]["losses"]


def test_the_plan_counts_a_warm_repetition_without_its_framework_import(monkeypatch):
    monkeypatch.setenv(LAUNCH_ENV, "fork")
    cell = tiny_cell("mlp", Paradigm.LIGHTNING)
    host = HostCosts(cells={cost_key(cell): CellCost(shape_of(cell), [0.01], [4.0])},
                     framework_import_s={"lightning": 2.5})
    cold, warm = estimate(cell, host, 1), estimate(cell, host, 1, warm=True)
    assert warm.overhead is Source.LESS_IMPORT and not warm.overhead.measured
    assert cold.seconds - warm.seconds == pytest.approx(2.5)
    # once a warm repetition ran here, its own figure replaces the rough one
    record = {"status": "ok", "process_wall_s": 2.0, "config": cell.to_dict(),
              "launch": "fork", "start": "warm", "measurements": {"step_time_s": 0.01}}
    learned = update_host(host, [record])
    again = estimate(cell, learned, 1, warm=True)
    assert again.overhead is Source.PARADIGM or again.overhead is Source.CELL
    assert again.seconds < cold.seconds


@pytest.mark.gpu
def test_a_warm_cuda_child_gets_its_own_context_and_trains_as_a_cold_one(tmp_path, monkeypatch):
    """Only a GPU shows it: a framework's import in the warm server must not have created a
    CUDA context a forked child would inherit broken."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    monkeypatch.setenv(LAUNCH_ENV, "fork")
    cfg = gpu_cells.warm_start_cell()
    cold = run_cell(cfg, tmp_path / "cold", 0, environment={})
    warm = run_cell(cfg, tmp_path / "warm", 0, environment={}, warm=True)
    assert (cold["status"], warm["status"]) == ("ok", "ok"), warm.get("message")
    assert warm["start"] == "warm"
    assert cold["measurements"]["losses"] == pytest.approx(warm["measurements"]["losses"],
                                                           rel=1e-3)
