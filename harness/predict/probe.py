"""The batch probe: the training scenario's timer and memory tracker, one step per batch.

``batch_end()`` after every predicted batch: warm-up batches first (the memory peaks are reset
when they end), then timing windows of ``window`` batches. The clock starts when the probe is
made, so the first batch's time (``first_step_s``) is the path's latency to its first
prediction: its framework objects' construction and set-up, or the artifact's load, included.
"""

from __future__ import annotations

import torch

from harness.config import CellConfig
from harness.measure.memory import MemoryTracker
from harness.measure.timing import StepTimer


class BatchProbe:
    def __init__(self, cfg: CellConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.batches = 0
        self.memory = MemoryTracker(device)
        self.timer = StepTimer(cfg.warmup, cfg.window, device)  # starts the clock

    def batch_end(self) -> None:
        self.batches += 1
        if self.batches == self.cfg.warmup:  # before the clock: the reset lands in warm-up
            self.memory.reset()
        self.timer.step_end(self.batches)
        if self.batches == self.cfg.total_steps:
            self.memory.read()
