"""What the harness's own trackers cost per step (pytest-benchmark; `nox -s bench-micro`).

The plain loop's step on the Linear workload (the smallest, ~0.5 ms on one CPU thread) is
timed with and without ``StepProbe.step_end`` — the only call an adapter makes into the
harness. Compare the two means: the difference is the harness's cost per step.
"""

from __future__ import annotations

import pytest
import torch

from harness.config import CellConfig, Paradigm
from harness.context import StepProbe
from workloads.linear import Linear

STEPS_PER_ROUND = 200


@pytest.fixture
def step():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    workload = Linear()
    model = workload.build_model()
    optimizer = workload.build_optimizer(model.parameters())
    x, y = workload.build_dataset()[:32]

    def one_step():
        optimizer.zero_grad(set_to_none=True)
        loss = workload.loss(model, (x, y))
        loss.backward()
        optimizer.step()
        return loss

    return one_step


def _probe(rounds: int) -> StepProbe:
    total = STEPS_PER_ROUND * (rounds + 2)
    cfg = CellConfig("linear", Paradigm.PLAIN, steps=total, warmup=STEPS_PER_ROUND, window=1)
    return StepProbe(cfg, torch.device("cpu"))


def test_plain_step_without_trackers(benchmark, step):
    def run():
        for _ in range(STEPS_PER_ROUND):
            step()

    benchmark.pedantic(run, rounds=30, warmup_rounds=2)


def test_plain_step_with_trackers(benchmark, step):
    probe = _probe(rounds=32)

    def run():
        for _ in range(STEPS_PER_ROUND):
            probe.step_end(step())

    benchmark.pedantic(run, rounds=30, warmup_rounds=2)


def test_probe_call_alone(benchmark):
    probe, loss = _probe(rounds=1000), torch.tensor(1.0)

    def run():
        for _ in range(STEPS_PER_ROUND):
            probe.step_end(loss)

    benchmark.pedantic(run, rounds=100, warmup_rounds=2)
