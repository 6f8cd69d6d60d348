"""The LightningModule a Lightning user serves: the workload's model inside, ``forward`` calls
it (the export scenario's Lightning calls and the serving paths both use it)."""

from __future__ import annotations

import pytorch_lightning as pl
from torch import Tensor, nn


class ServedModule(pl.LightningModule):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
