"""What the harness's own trackers cost per step (pytest-benchmark; `nox -s bench-micro`).

The plain loop's step on the Linear workload (the smallest) is timed without the harness,
with ``StepProbe.step_end`` (the only call an adapter makes into the harness), and with the
phase probes as well (the timed ``loss`` call, the loss hook and autograd callbacks, the
optimizer hooks). The differences are the harness's cost per step. The training loader's
fetch is timed with and without the data-wait probe, and a tensor dataset's read a batch per
call against sample by sample. ``benchmarks/figures.py`` turns a saved run into the figures
the manual quotes; every benchmark records the machine's load average in ``extra_info``, so a
figure measured beside other work says so.
"""

from __future__ import annotations

import os

import pytest
import torch

from harness.config import CellConfig, Paradigm
from harness.measure.phases import PhaseTimer
from harness.training.context import StepProbe
from workloads.linear import Linear

STEPS_PER_ROUND = 200
READ_SAMPLES = 2048  # an MLP epoch's worth of 784-feature samples, in batches of 64


@pytest.fixture(autouse=True)
def _load_average(request):
    """The 1, 5 and 15 minute load averages when the benchmark finished."""
    yield
    benchmark = request.node.funcargs.get("benchmark")
    if benchmark is not None:
        benchmark.extra_info["loadavg"] = list(os.getloadavg())
        benchmark.extra_info["torch"] = torch.__version__


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


class _PerSample(torch.utils.data.TensorDataset):
    """A TensorDataset subclass: the loader reads it sample by sample and collates."""


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "per-sample"])
def test_tensor_dataset_read(benchmark, batched):
    """One epoch of READ_SAMPLES MLP samples through the training loader: a plain
    TensorDataset is gathered a batch per call, a subclass read and collated per sample."""
    from torch.utils.data import TensorDataset

    from harness.training.data import build_loader
    from workloads.mlp import MLP

    torch.set_num_threads(1)
    tensors = MLP(samples=READ_SAMPLES).build_dataset().tensors
    loader = build_loader((TensorDataset if batched else _PerSample)(*tensors), 64, seed=0)

    def epoch():
        for _ in loader:
            pass

    benchmark.pedantic(epoch, rounds=20, warmup_rounds=2)
