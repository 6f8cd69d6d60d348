"""What a prediction path is given: the config, the workload, the model and the loader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from harness.config import CellConfig
from harness.measure.memory import IdleMemory
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
    idle_memory: IdleMemory | None = None  # NVML before any CUDA context, as training cells
    probe: BatchProbe = field(init=False)

    def start_clock(self) -> BatchProbe:
        self.probe = BatchProbe(self.cfg, self.device, self.idle_memory)
        return self.probe


def to_host(output: Any) -> Any:
    """A batch's predictions in host memory (a blocking copy from a GPU), as
    ``trainer.predict`` keeps them: every path does this to every batch inside its timed
    window, before the batch's end, so that no path is timed without the copy."""
    if isinstance(output, Tensor):
        return output.cpu()
    if isinstance(output, Mapping):
        moved = {k: to_host(v) for k, v in output.items()}
        return moved if type(output) is dict else type(output)(**moved)
    if isinstance(output, tuple | list):
        return type(output)(to_host(v) for v in output)
    return output  # already on the host (ONNX Runtime's numpy arrays)
