"""Steady-state step timing.

Every step end gets a host timestamp (``perf_counter``). After warm-up, every ``window`` steps
a window edge is marked: on CPU the host timestamp itself (CPU work is synchronous), on CUDA a
CUDA event recorded on the current stream. Events need no host sync, so the host keeps running
ahead of the GPU exactly as it would without the harness; the only sync is at the very end.
A window's time is the time between two consecutive edges, so it covers everything a paradigm
does between steps (data loading, hooks, logging), not only the step function.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch


@dataclass
class TimingResult:
    """Raw timing samples of one process; derived figures are properties."""

    warmup: int
    window: int
    step_host_s: list[float] = field(default_factory=list)  # steady-state steps only
    window_s: list[float] = field(default_factory=list)  # per window of `window` steps
    first_step_s: float = 0.0  # from training start to end of step 1

    @property
    def step_time_s(self) -> float:
        """All measured time over the measured steps: the headline steady-state step time.
        Work done every N steps (a checkpoint, a validation pass) counts in full."""
        return sum(self.window_s) / (len(self.window_s) * self.window) if self.window_s else \
            float("nan")

    @property
    def median_window_step_s(self) -> float:
        """The median window's time per step: robust to, and blind to, rare work."""
        return statistics.median(self.window_step_s) if self.window_s else float("nan")

    @property
    def window_step_s(self) -> list[float]:
        return [w / self.window for w in self.window_s]


class StepTimer:
    """Marks step ends and window edges; ``result()`` syncs once and returns the samples."""

    def __init__(self, warmup: int, window: int, device: torch.device) -> None:
        self.warmup, self.window = warmup, window
        self._cuda = device.type == "cuda"
        self._start = time.perf_counter()
        self._host: list[float] = []
        self._edges: list[float | torch.cuda.Event] = []

    def step_end(self, step: int) -> None:
        """Called once per step with the 1-based step number, right after the step's work."""
        now = time.perf_counter()
        self._host.append(now)
        if step >= self.warmup and (step - self.warmup) % self.window == 0:
            if self._cuda:
                event = torch.cuda.Event(enable_timing=True)
                event.record()
                self._edges.append(event)
            else:
                self._edges.append(now)

    @property
    def first_step_end(self) -> float:
        """perf_counter() at the end of step 1."""
        return self._host[0]

    @property
    def step_ends(self) -> list[float]:
        """perf_counter() at the end of every step so far (a search trial's time split)."""
        return list(self._host)

    def result(self) -> TimingResult:
        steady = self._host[self.warmup - 1 :]  # from the end of the last warm-up step
        out = TimingResult(self.warmup, self.window)
        out.step_host_s = [b - a for a, b in zip(steady, steady[1:])]
        out.first_step_s = self._host[0] - self._start if self._host else float("nan")
        if self._cuda and self._edges:
            self._edges[-1].synchronize()  # type: ignore[union-attr]
            out.window_s = [
                a.elapsed_time(b) / 1e3  # type: ignore[union-attr, arg-type]
                for a, b in zip(self._edges, self._edges[1:])
            ]
        else:
            out.window_s = [b - a for a, b in zip(self._edges, self._edges[1:])]  # type: ignore[operator]
        return out
