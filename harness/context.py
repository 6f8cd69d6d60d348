"""What an adapter is given: the workload, the config, the shared recipe, and the step probe.

Everything that must be identical across paradigms is built here, once, so that an adapter
only translates it into its framework's idiom: seeding right before the model is built
(fairness rule 2), the data loader (rule 3), the AMP policy (rule 7), the DDP arguments
(rule 9). Adapters call ``probe.step_end(loss)`` after every optimizer step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from harness.config import CellConfig
from harness.data import build_loader
from harness.precision import AmpPolicy
from harness.trackers.memory import MemoryTracker
from harness.trackers.parity import LossRecorder
from harness.trackers.timing import StepTimer
from harness.workload import Workload

# Passed verbatim to torch's DistributedDataParallel by every paradigm (fairness rule 9).
DDP_KWARGS: dict[str, Any] = {
    "broadcast_buffers": True,
    "find_unused_parameters": False,
    "gradient_as_bucket_view": False,
    "bucket_cap_mb": 25,
}


class StepProbe:
    """The adapters' single call into the harness: ``step_end(loss)`` after each step."""

    def __init__(self, cfg: CellConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.step = 0
        # framework-specific per-step samples (e.g. Lightning's DDP sync), name -> seconds
        self.extras: dict[str, list[float]] = {}
        self.memory = MemoryTracker(device)
        self.losses = LossRecorder()
        self.timer = StepTimer(cfg.warmup, cfg.window, device)  # starts the clock

    def step_end(self, loss: Tensor | float) -> None:
        self.step += 1
        self.losses.record(loss)
        if self.step == self.cfg.warmup:  # before the clock: the reset lands in warm-up time
            self.memory.reset()
        self.timer.step_end(self.step)
        if self.step == self.cfg.total_steps:  # after the clock: read before any teardown
            self.memory.read()

    @property
    def done(self) -> bool:
        return self.step >= self.cfg.total_steps


@dataclass
class RunContext:
    cfg: CellConfig
    workload: Workload
    dataset: Dataset
    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    probe: StepProbe = field(init=False)

    def __post_init__(self) -> None:
        self.amp = AmpPolicy(self.cfg.precision, self.device.type)

    def start_clock(self) -> StepProbe:
        """Create the probe (and so start the construction-to-first-step clock)."""
        self.probe = StepProbe(self.cfg, self.device)
        return self.probe

    def build_model(self) -> nn.Module:
        """Seed, then build: every paradigm starts from the same weights."""
        torch.manual_seed(self.cfg.seed)
        return self.workload.build_model()

    def build_loader(self) -> DataLoader:
        return build_loader(
            self.dataset,
            self.cfg.batch_size,
            self.cfg.seed,
            rank=self.rank,
            world_size=self.world_size,
            workers=self.cfg.workers,
            pin_memory=self.device.type == "cuda",
        )

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def backend(self) -> str:
        """The process-group backend, the same for every paradigm: NCCL on GPU, gloo on CPU."""
        return "nccl" if self.device.type == "cuda" else "gloo"

    @property
    def collective_timeout(self) -> dt.timedelta:
        """Process-group timeout, passed identically to every paradigm."""
        return dt.timedelta(seconds=self.cfg.collective_timeout_s)
