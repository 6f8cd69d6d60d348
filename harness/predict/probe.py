"""The batch probe: the training scenario's timer and memory tracker, one step per batch.

``batch_end()`` after every predicted batch: warm-up batches first (the memory peaks are reset
when they end), then timing windows of ``window`` batches. The clock starts when the probe is
made, so the first batch's time (``first_step_s``) is the path's latency to its first
prediction: its framework objects' construction and set-up, or the artifact's load, included;
on a GPU the first batch's end waits for the device once (ONNX Runtime returns after compute,
torch once kernels are queued), outside every timed window. The NVML memory figure subtracts
the same idle baseline as a training cell's (taken before the process touched CUDA).
"""

from __future__ import annotations

import torch

from harness.config import CellConfig
from harness.measure.memory import IdleMemory, MemoryTracker
from harness.measure.timing import StepTimer


class BatchProbe:
    def __init__(self, cfg: CellConfig, device: torch.device,
                 idle: IdleMemory | None = None) -> None:
        self.cfg = cfg
        self.device = device
        self.batches = 0
        self.memory = MemoryTracker(device, idle)  # the training cells' NVML baseline
        self.timer = StepTimer(cfg.warmup, cfg.window, device)  # starts the clock

    def batch_end(self) -> None:
        self.batches += 1
        if self.batches == 1 and self.device.type == "cuda":
            # the first prediction's latency is its compute's, not the time to queue its
            # kernels: one sync, before any window's first edge (warm-up is at least a batch)
            torch.cuda.synchronize(self.device)
        if self.batches == self.cfg.warmup:  # before the clock: the reset lands in warm-up
            self.memory.reset()
        self.timer.step_end(self.batches)
        if self.batches == self.cfg.total_steps:
            self.memory.read()
