"""What a prediction path is given: the config, the workload, the model and the loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from harness.config import CellConfig
from harness.predict.probe import BatchProbe
from harness.workload import Workload


@dataclass
class Prediction:
    """One prediction run. ``model`` is on the device, as built (training mode): each path
    puts it in eval mode its own way. ``start_clock()`` right before the path's first call."""

    cfg: CellConfig
    workload: Workload
    model: nn.Module
    loader: DataLoader
    device: torch.device
    work_dir: Path
    probe: BatchProbe = field(init=False)

    def start_clock(self) -> BatchProbe:
        self.probe = BatchProbe(self.cfg, self.device)
        return self.probe
