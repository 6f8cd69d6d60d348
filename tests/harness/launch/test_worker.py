"""The worker's handling of what an adapter returns."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.launch.readout import on_device
from harness.launch.worker import configure_process
from tests.conftest import tiny_cell


def test_the_flop_count_gets_the_model_back_on_the_cells_device():
    # Lightning's teardown leaves the module on the CPU after fit() on a GPU; the FLOP count's
    # batch is on the cell's device. "meta" stands in for the GPU on a CPU-only machine.
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    moved = on_device(model, torch.device("meta"))
    assert moved is model
    assert {t.device.type for t in [*model.parameters(), *model.buffers()]} == {"meta"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a host without CUDA")
def test_a_cuda_cell_without_cuda_is_an_error_that_a_resume_runs_again():
    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        configure_process(tiny_cell("linear", "plain", device="cuda"), 0)


def test_lightning_has_no_harness_callback_to_dispatch_to():
    # a pl.Callback probe would make Lightning dispatch every per-step callback hook to it
    from harness.features import Features
    from harness.training.adapters import lightning_parts
    from harness.training.context import Extensions, RunContext

    ctx = RunContext.__new__(RunContext)  # callbacks() reads only these two
    object.__setattr__(ctx, "features", Features())
    object.__setattr__(ctx, "extensions", Extensions())
    assert lightning_parts.callbacks(ctx) == []


def test_a_loss_that_cannot_run_on_meta_is_counted_on_the_real_model(capsys):
    """A data-dependent ``.item()`` has no meaning on the meta device: the FLOP count falls
    back to one real step on the trained model, and says where it counted."""
    from types import SimpleNamespace

    from harness.config import Precision
    from harness.launch.readout import step_flops
    from harness.precision import AmpPolicy
    from workloads.linear import Linear

    class ItemInLoss(Linear):
        def loss(self, model, batch):
            loss = super().loss(model, batch)
            return loss * (1.0 if loss.item() > 0 else 2.0)

    workload = ItemInLoss(features=8, samples=64)
    torch.manual_seed(0)
    model = workload.build_model()
    ctx = SimpleNamespace(workload=workload, dataset=workload.build_dataset(),
                          cfg=SimpleNamespace(batch_size=8, seed=0), device=torch.device("cpu"),
                          amp=AmpPolicy(Precision.FP32, "cpu"))
    flops, where = step_flops(ctx, model)
    assert (flops, where) == (2 * (2 * 8 * 8 * 2), "cpu")
    assert "meta failed" in capsys.readouterr().err
    ctx.workload = Linear(features=8, samples=64)
    assert step_flops(ctx, model) == (2 * (2 * 8 * 8 * 2), "meta")
