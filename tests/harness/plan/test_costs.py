"""The cost cache: versioned JSON that reads back equal, and the figures a run's records add."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness.config import CellConfig, CompileMode, Paradigm, Scenario
from harness.features import Features
from harness.plan.costs import (
    CACHE_VERSION,
    KEEP,
    CellCost,
    CostCache,
    HostCosts,
    cost_key,
    host_fingerprint,
    load_cache,
    record_run,
    save_cache,
    shape_of,
    startup_key,
    steps_in,
    update_host,
    with_changes,
)

CELL = CellConfig("mlp", Paradigm.LIGHTNING, size="tiny", batch_size=8, steps=40, warmup=10,
                  window=10)


def record(cell: CellConfig, wall: float, step: float | None, status: str = "ok",
           cold: bool = False, launch: str = "fork") -> dict:
    out = {"config": cell.to_dict(), "status": status, "process_wall_s": wall,
           "measurements": {"step_time_s": step, "flops_per_step": 1000}, "launch": launch}
    if cold:
        out["compile_cache"] = {"state": "cold"}
    return out


def test_a_cache_reads_back_equal(tmp_path):
    host = HostCosts(cells={cost_key(CELL): CellCost(shape_of(CELL), [0.01], [3.0], [20.0])},
                     startup_s={startup_key(CELL): [3.0, 3.5]}, flops={shape_of(CELL): 10},
                     flop_rate={"cpu": 1e10}, torch_import_s=2.5, fork_s=0.15,
                     probe_setup_s={shape_of(CELL): 0.2})
    cache = CostCache({"host a": host})
    path = tmp_path / "costs.json"
    save_cache(cache, path)
    assert json.loads(path.read_text())["version"] == CACHE_VERSION
    assert load_cache(path) == cache


@pytest.mark.parametrize("content", ['{"version": 999, "hosts": {}}', "not json", "[1, 2]",
                                     '{"version": 2, "hosts": {"h": {"cells": 3}}}',
                                     '{"version": 1, "hosts": {"h": {}}}'])  # before launch paths
def test_a_cache_of_another_version_or_shape_reads_as_empty(tmp_path, content):
    path = tmp_path / "costs.json"
    path.write_text(content)
    assert load_cache(path) == CostCache()


def test_a_missing_cache_reads_as_empty(tmp_path):
    assert load_cache(tmp_path / "none.json") == CostCache()


def test_overhead_is_the_wall_less_the_steps():
    host = update_host(HostCosts(), [record(CELL, wall=5.0, step=0.02)])
    cost = host.cells[cost_key(CELL, "fork")]
    assert cost.step == 0.02
    assert cost.overhead == pytest.approx(5.0 - 50 * 0.02)  # warm-up 10 + 40 steps
    assert host.startup(CELL) == pytest.approx(4.0)


def test_forked_and_spawned_processes_are_kept_apart(monkeypatch):
    """A spawned process pays the torch import a forked one does not: a plan for the one
    launch path never borrows the other's figures."""
    host = update_host(HostCosts(), [record(CELL, 5.0, 0.02, launch="spawn"),
                                     record(CELL, 2.0, 0.02)])
    assert host.cells[cost_key(CELL, "spawn")].overhead == pytest.approx(4.0)
    assert host.cells[cost_key(CELL, "fork")].overhead == pytest.approx(1.0)
    assert host.startup(CELL) == pytest.approx(1.0)
    monkeypatch.setenv("PARADIGM_BENCH_LAUNCH", "spawn")
    assert host.startup(CELL) == pytest.approx(4.0)
    old = update_host(HostCosts(), [{**record(CELL, 5.0, 0.02), "launch": None}])
    assert list(old.startup_s) == [startup_key(CELL, "spawn")]  # records before the server
    assert host.flops[shape_of(CELL)] == 1000


def test_failed_records_add_nothing():
    host = update_host(HostCosts(), [record(CELL, 5.0, 0.02, status="error"),
                                     {"status": "ok"}, {"status": "ok", "process_wall_s": 1}])
    assert host == HostCosts()


def test_a_cold_compile_is_kept_apart_and_not_a_start_up():
    cell = CELL.replace(compile=CompileMode.DEFAULT)
    host = update_host(HostCosts(), [record(cell, 30.0, 0.01, cold=True),
                                     record(cell, 6.0, 0.01)])
    assert host.cells[cost_key(cell, "fork")].cold_overhead == pytest.approx(29.5)
    assert host.cells[cost_key(cell, "fork")].overhead == pytest.approx(5.5)
    assert host.startup_s == {}  # a compiled cell's overhead is no paradigm's start-up


def test_only_plain_training_processes_count_as_start_up():
    """A validation runs outside the counted steps: a validated cell's overhead (15-25 s for
    a tiny MLP with metrics on a loaded 2-core AMD EPYC, 2026-12-06) is its own, and as its
    paradigm's it made a fresh host's first plan three times too long."""
    resumed = CELL.replace(features=Features(resume_at=20))
    predict = CELL.replace(scenario=Scenario.PREDICT)
    validated = CELL.replace(features=Features(val_every=5))
    host = update_host(HostCosts(), [record(resumed, 9.0, 0.01), record(predict, 4.0, 0.01),
                                     record(validated, 20.0, 0.01)])
    assert set(host.cells) == {cost_key(resumed, "fork"), cost_key(predict, "fork"),
                               cost_key(validated, "fork")}
    assert host.startup_s == {}
    assert steps_in(resumed) == 50 + 20  # its first leg trains to step 20 first


def test_figures_keep_the_most_recent():
    records = [record(CELL, 1.0 + i, 0.001) for i in range(KEEP + 5)]
    host = update_host(HostCosts(), records)
    kept = host.cells[cost_key(CELL, "fork")].overhead_s
    assert len(kept) == KEEP and kept[-1] == pytest.approx(KEEP + 5 - 0.05)


def test_a_run_updates_this_hosts_entry(tmp_path, monkeypatch):
    path = tmp_path / "costs.json"
    monkeypatch.setenv("PARADIGM_BENCH_COST_CACHE", str(path))
    record_run([record(CELL, 5.0, 0.02)])
    record_run([record(CELL, 7.0, 0.02)])
    host = load_cache().host(host_fingerprint())
    assert host.cells[cost_key(CELL, "fork")].overhead_s == pytest.approx([4.0, 6.0])


# Each writer adds its own cells, one run at a time; the save is slowed so that, without the
# lock, the other writer's load falls inside every window between a load and its save.
_WRITER = """
import sys, time
from pathlib import Path
from harness.plan import costs
from tests.harness.plan.test_costs import CELL, record

path, first, start_at = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
save = costs.save_cache

def slow_save(cache, p=None):
    time.sleep(0.02)
    save(cache, p)

costs.save_cache = slow_save
time.sleep(max(start_at - time.time(), 0))  # both writers start together
for batch in range(first, first + 10):
    costs.record_run([record(CELL.replace(batch_size=batch), 5.0, 0.02)], path)
"""


def test_two_runs_updating_at_once_lose_no_figures(tmp_path):
    import subprocess
    import sys
    import time

    path, start_at = tmp_path / "costs.json", time.time() + 3
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(first),
                                 str(start_at)]) for first in (1, 101)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    cells = load_cache(path).host(host_fingerprint()).cells
    wanted = {cost_key(CELL.replace(batch_size=b), "fork") for b in [*range(1, 11),
                                                                   *range(101, 111)]}
    assert set(cells) == wanted


def test_a_probe_saved_late_keeps_what_another_run_saved_meanwhile():
    other = CELL.replace(batch_size=99)
    before = HostCosts(torch_import_s=2.0)
    probed = dataclasses.replace(before, torch_import_s=2.5, flop_rate={"cpu": 1e10})
    meanwhile = update_host(before, [record(other, 5.0, 0.02)])  # saved by another run
    merged = with_changes(meanwhile, before, probed)
    assert merged.torch_import_s == 2.5 and merged.flop_rate == {"cpu": 1e10}
    assert cost_key(other, "fork") in merged.cells
