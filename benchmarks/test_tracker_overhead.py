"""What the harness's own trackers cost per step (pytest-benchmark; `nox -s bench-micro`).

The plain loop's step on the Linear workload (the smallest, ~0.5 ms on one CPU thread) is
timed without the harness, with ``StepProbe.step_end`` (the only call an adapter makes into
the harness), and with the phase probes as well (the timed ``loss`` call, the loss hook and
autograd callbacks, the optimizer hooks). Compare the means: the differences are the harness's
cost per step. The training loader's fetch is timed with and without the data-wait probe.
"""

from __future__ import annotations

import pytest
import torch

from harness.config import CellConfig, Paradigm
from harness.measure.phases import PhaseTimer
from harness.training.context import StepProbe
from workloads.linear import Linear

STEPS_PER_ROUND = 200


def _step(phases: PhaseTimer | None = None):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    workload = Linear()
    if phases is not None:
        phases.attach(workload)
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


@pytest.fixture
def step():
    return _step()


def _probe(rounds: int, phases: PhaseTimer | None = None) -> StepProbe:
    total = STEPS_PER_ROUND * (rounds + 2)
    cfg = CellConfig("linear", Paradigm.PLAIN, steps=total, warmup=STEPS_PER_ROUND, window=1)
    return StepProbe(cfg, torch.device("cpu"), phases)


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


def test_plain_step_with_trackers_and_phase_probes(benchmark):
    phases = PhaseTimer()
    step, probe = _step(phases), _probe(rounds=32, phases=phases)

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


@pytest.mark.parametrize("timed", [False, True], ids=["untimed", "timed"])
def test_loader_fetch(benchmark, timed):
    """The data-wait probe: one epoch of 32-sample batches with and without ``on_fetch``; the
    difference over the batch count is its cost per fetch (every step pays it, probed or not)."""
    from torch.utils.data import TensorDataset

    from harness.training.data import build_loader

    loader = build_loader(TensorDataset(torch.randn(STEPS_PER_ROUND * 32, 16)), 32, seed=0)
    if timed:
        loader.on_fetch = PhaseTimer().data_fetched

    def epoch():
        for _ in loader:
            pass

    benchmark.pedantic(epoch, rounds=30, warmup_rounds=2)
