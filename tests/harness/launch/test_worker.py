"""The worker's handling of what an adapter returns."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.launch.worker import configure_process, on_device
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
    from harness.training.adapters import lightning_parts
    from harness.training.context import RunContext
    from harness.training.features import Features

    ctx = RunContext.__new__(RunContext)  # callbacks() reads only the features
    object.__setattr__(ctx, "features", Features())
    assert lightning_parts.callbacks(ctx) == []
