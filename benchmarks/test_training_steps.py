"""Every workload (tiny size) through every paradigm for a fixed number of steps, timed by
pytest-benchmark: what a framework maintainer runs before and after a release.

    nox -s bench-micro -- -k training_steps                  # autosaved under .benchmarks/
    nox -s bench-micro -- -k training_steps --benchmark-compare --benchmark-compare-fail=mean:10%

One round is one in-process training run of ``WARMUP + STEPS`` optimizer steps through the
paradigm's own entry point (``Trainer.fit``, ``Engine.run``, the plain loop), building the
Trainer or Engine included: a release can slow its set-up as well as its steps, and a
maintainer wants to see either. pytest-benchmark runs a warm-up round first (imports, first
allocations) and gives its statistics over the rounds. The steady state, after ``WARMUP`` steps,
goes to ``extra_info`` from the harness's own probes, the same ones the suites use: the mean
step, items/s and the framework time per step (step time minus the forward + loss, backward,
optimizer step and data-wait phases (and, on CUDA cells, the host syncs a paradigm forces every
step)), plus the library versions, so a saved run says what it measured.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import pytest

from harness.analyse.aggregate import phase_figures
from harness.config import CellConfig, Paradigm
from harness.discovery import declared_names, declared_requirements, default_batch_size
from harness.launch.worker import Prepared, prepare, train

WARMUP, STEPS, WINDOW = 10, 50, 10
ROUNDS = 5


def _steady_state(prepared: Prepared) -> dict[str, float]:
    """The probes' figures of one finished round."""
    ctx = prepared.ctx
    timing = ctx.probe.timer.result()
    out = {"step_time_s": timing.step_time_s, "first_step_s": timing.first_step_s}
    if ctx.phases is not None:
        phases = ctx.phases.result(ctx.probe.first_step, ctx.cfg.warmup)
        figures = phase_figures({"phases": asdict(phases), "timing": asdict(timing)})
        out["framework_s"] = figures["framework_s"] if figures else math.nan
    items = ctx.cfg.batch_size * ctx.workload.items_per_sample()
    out["items_per_s"] = items / timing.step_time_s
    return out


# The workloads written here: the library-built real models (resnet50, gpt2, ...) take seconds
# per step even at tiny and 60 steps x 6 rounds would take minutes each; the suites run them.
TOY_WORKLOADS = [w for w in declared_names() if not declared_requirements().get(w)]


@pytest.mark.parametrize("paradigm", [p.value for p in Paradigm.frameworks()])
@pytest.mark.parametrize("workload", TOY_WORKLOADS)
def test_training_steps(benchmark, workload: str, paradigm: str, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # checkpoints and logs, if a profile writes any, land here
    cfg = CellConfig(workload, Paradigm(paradigm), size="tiny", steps=STEPS, warmup=WARMUP,
                     window=WINDOW, threads=1, batch_size=default_batch_size(workload))
    rounds: list[Prepared] = []

    def setup():  # not timed: the workload, its data and the run context
        rounds.append(prepare(cfg, rank=0, local_rank=0, world=1))
        return (rounds[-1],), {}

    benchmark.pedantic(train, setup=setup, rounds=ROUNDS, warmup_rounds=1)
    timed = [_steady_state(p) for p in rounds[-ROUNDS:]]  # the warm-up round left out
    for name in timed[0]:
        benchmark.extra_info[name] = statistics.fmean(r[name] for r in timed)
    benchmark.extra_info["steps_per_round"] = WARMUP + STEPS
    benchmark.extra_info["batch_size"] = cfg.batch_size
    benchmark.extra_info["versions"] = {name: version(name) for name in
                                        ("torch", "pytorch-lightning", "pytorch-ignite")}
    assert all(r["step_time_s"] > 0 for r in timed)
