"""One repetition's estimate: the best measured figure for each part, and its source."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

import harness.plan.estimate as est
from harness.config import CellConfig, CompileMode, Paradigm
from harness.features import Features
from harness.plan.costs import CellCost, HostCosts, cost_key, shape_of, startup_key
from harness.plan.estimate import Source, estimate, probe_missing

CELL = CellConfig("mlp", Paradigm.IGNITE, size="tiny", batch_size=8, steps=90, warmup=10,
                  window=10, threads=2)


def test_this_cells_figures_come_first():
    host = HostCosts(cells={cost_key(CELL): CellCost(shape_of(CELL), [0.01], [4.0])},
                     startup_s={startup_key(CELL): [9.0]})
    e = estimate(CELL, host)
    assert e.seconds == pytest.approx(4.0 + 100 * 0.01)
    assert (e.step, e.overhead) == (Source.CELL, Source.CELL)


def test_a_cell_never_run_borrows_its_shape_and_its_paradigm():
    other = CELL.replace(paradigm=Paradigm.PLAIN, features=Features(val_every=5))
    host = HostCosts(cells={cost_key(other): CellCost(shape_of(other), [0.02], [1.0])},
                     startup_s={startup_key(CELL): [3.0], "plain/w1/cpu": [1.0]})
    e = estimate(CELL, host)
    assert e.seconds == pytest.approx(3.0 + 100 * 0.02)
    assert (e.step, e.overhead) == (Source.SHAPE, Source.PARADIGM)


def test_without_measurements_the_estimate_is_rough():
    host = HostCosts(flops={shape_of(CELL): 10**9}, flop_rate={"cpu": 1e10},
                     torch_import_s=2.0)
    e = estimate(CELL, host)
    assert e.seconds == pytest.approx(2.0 + 100 * 10**9 / (1e10 * 2))  # two threads
    assert (e.step, e.overhead) == (Source.FLOPS, Source.TORCH_IMPORT)
    assert not e.step.measured


def test_a_rough_start_up_adds_the_framework_import_and_a_spawned_torch_import(monkeypatch):
    host = HostCosts(torch_import_s=2.0, framework_import_s={"ignite": 0.3})
    monkeypatch.setenv("PARADIGM_BENCH_LAUNCH", "fork")
    assert estimate(CELL, host).seconds == pytest.approx(0.3)  # the fork server imported torch
    ddp = CELL.replace(world_size=2)  # torchrun ranks are spawned
    assert estimate(ddp, host).seconds == pytest.approx(2.3)
    monkeypatch.setenv("PARADIGM_BENCH_LAUNCH", "spawn")
    assert estimate(CELL, host).seconds == pytest.approx(2.3)
    lightning = CELL.replace(paradigm=Paradigm.LIGHTNING)  # its import never measured: torch's
    assert estimate(lightning, host).seconds == pytest.approx(2.0)
    assert estimate(lightning, host).overhead is Source.TORCH_IMPORT


def test_a_resumed_cell_pays_two_start_ups():
    cell = CELL.replace(features=Features(resume_at=20))
    e = estimate(cell, HostCosts(startup_s={startup_key(cell): [3.0]}))
    assert e.seconds == pytest.approx(6.0) and e.step is Source.UNKNOWN


def test_nothing_known_counts_nothing():
    e = estimate(CELL, HostCosts())
    assert e.seconds == 0.0 and e.step is e.overhead is Source.UNKNOWN


def test_a_compiled_cells_first_repetition_compiles_cold(monkeypatch):
    monkeypatch.delenv("PARADIGM_BENCH_COMPILE_CACHE", raising=False)
    cell = CELL.replace(compile=CompileMode.DEFAULT)
    host = HostCosts(cells={cost_key(cell): CellCost(shape_of(cell), [0.01], [5.0], [40.0])})
    assert estimate(cell, host, 0).seconds == pytest.approx(41.0)
    assert estimate(cell, host, 1).seconds == pytest.approx(6.0)
    unknown_cold = HostCosts(cells={cost_key(cell): CellCost(shape_of(cell), [0.01], [5.0])})
    e = estimate(cell, unknown_cold, 0)
    assert e.overhead is Source.UNKNOWN and e.seconds == pytest.approx(6.0)
    probed = HostCosts(cells=unknown_cold.cells, cold_compile_s={shape_of(cell): 30.0})
    e = estimate(cell, probed, 0)  # the probe's cold compile of its shape, on the warm overhead
    assert e.overhead is Source.COLD_COMPILE and e.seconds == pytest.approx(36.0)
    assert est._needs(unknown_cold, [cell])["cold_compile"][0]["mode"] == "default"
    assert est._needs(probed, [cell])["cold_compile"] == []
    monkeypatch.setenv("PARADIGM_BENCH_COMPILE_CACHE", "/tmp/shared")  # every cache warm
    assert estimate(cell, host, 0).seconds == pytest.approx(6.0)


def test_nothing_missing_starts_no_probe(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("probe started")

    monkeypatch.setattr(subprocess, "run", refuse)
    host = HostCosts(cells={cost_key(CELL): CellCost(shape_of(CELL), [0.01], [4.0])},
                     startup_s={startup_key(CELL): [4.0]}, torch_import_s=2.0,
                     framework_import_s={"ignite": 0.3})
    assert probe_missing(host, [CELL]) is host


def test_a_failed_probe_leaves_the_figures_unknown(monkeypatch):
    def fail(*args, **kwargs):
        raise subprocess.TimeoutExpired("probe", est.PROBE_TIMEOUT_S)

    monkeypatch.setattr(subprocess, "run", fail)
    assert probe_missing(HostCosts(), [CELL]) == HostCosts()


def test_the_probe_measures_what_a_new_host_lacks():
    """One real probe process (imports torch: a few seconds): the torch import, the matmul
    rate and the FLOPs per step of a shape never run, as the cell process counts them."""
    host = probe_missing(HostCosts(), [CELL])
    assert host.torch_import_s is not None and host.torch_import_s > 0
    assert set(host.framework_import_s) == {"ignite"} and host.framework_import_s["ignite"] > 0
    assert host.flop_rate["cpu"] > 0
    from harness.discovery import resolve
    from harness.measure.flops import count_step_flops_on_meta
    from harness.training.data import build_loader

    workload = resolve("mlp").from_size("tiny")
    batch = next(iter(build_loader(workload.build_dataset(), CELL.batch_size, CELL.seed)))
    assert host.flops[shape_of(CELL)] == count_step_flops_on_meta(workload, batch)
    assert host.probe_step_s[shape_of(CELL)] > 0  # a timed eager step comes before FLOPs
    assert estimate(CELL, host).step is Source.PROBE_STEP
    without = dataclasses.replace(host, probe_step_s={})
    assert estimate(CELL, without).step is Source.FLOPS
