"""The worker's handling of what an adapter returns."""

from __future__ import annotations

import torch
from torch import nn

from harness.worker import on_device


def test_the_flop_count_gets_the_model_back_on_the_cells_device():
    # Lightning's teardown leaves the module on the CPU after fit() on a GPU; the FLOP count's
    # batch is on the cell's device. "meta" stands in for the GPU on a CPU-only machine.
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    moved = on_device(model, torch.device("meta"))
    assert moved is model
    assert {t.device.type for t in [*model.parameters(), *model.buffers()]} == {"meta"}
