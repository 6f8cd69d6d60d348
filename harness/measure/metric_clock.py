"""The host time of each metric update and compute call, and on CUDA the host syncs in them.

Each paradigm's metric stack is wrapped where it is called (torchmetrics' ``update`` and
``compute``, Ignite's ``iteration_completed`` and ``completed``), so the figures are the
library's own work plus the framework's plumbing around it, the same way in all three. On a
GPU an update that never syncs returns once its kernels are queued: its host time is the
launch cost, and an update that syncs (torchmetrics' argument checks, a copy of the state to the
CPU) waits for the queue. The syncs are counted with torch's sync debug mode, during the first
validation pass only (its warnings cost host time), whose calls are then left out of the times.

Metrics on training steps (``metrics_where=train-step``) are timed the same way, as kind
``step``: every call inside one optimizer step is summed into that step's figure when the probe
ends the step (``step_end``); on CUDA the first step counts syncs instead and is left out.
The same path runs on the CPU, where nothing is counted.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

KINDS = ("update", "compute", "step")


@dataclass
class MetricCosts:
    """Per call: host seconds (timed passes) and host syncs (the counted pass, CUDA only)."""

    update_s: list[float] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    update_syncs: list[int] = field(default_factory=list)
    compute_syncs: list[int] = field(default_factory=list)
    batches: int = 0  # validation batches seen in the timed passes
    counted_batches: int = 0  # validation batches of the counted pass
    passes: int = 0  # validation passes (compute rounds) ended
    step_s: list[float] = field(default_factory=list)  # per training step, its calls summed
    step_syncs: list[int] = field(default_factory=list)  # per counted training step (CUDA)


class MetricClock:
    """Wraps metric calls; ``batch()`` once per validation batch, ``pass_end()`` after each
    pass."""

    def __init__(self, device: torch.device) -> None:
        self.costs = MetricCosts()
        self.counting = device.type == "cuda"  # the first pass counts syncs instead
        self.paused = False  # a pass outside training (Lightning's sanity check): not recorded
        self.counting_step = self.counting  # the first training step counts syncs (CUDA)
        self._step_s, self._step_syncs, self._step_calls = 0.0, 0, 0

    def timed(self, kind: str, call: Callable[..., Any]) -> Callable[..., Any]:
        assert kind in KINDS

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if self.paused:
                return call(*args, **kwargs)
            if kind == "step":
                return self._step_call(call, args, kwargs)
            if self.counting:
                result, syncs = _count_syncs(call, args, kwargs)
                getattr(self.costs, f"{kind}_syncs").append(syncs)
                return result
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                getattr(self.costs, f"{kind}_s").append(time.perf_counter() - start)

        return wrapped

    def _step_call(self, call: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        self._step_calls += 1
        if self.counting_step:
            result, syncs = _count_syncs(call, args, kwargs)
            self._step_syncs += syncs
            return result
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self._step_s += time.perf_counter() - start

    def step_end(self) -> None:
        """An optimizer step ended: its metric calls (all micro-batches') become one figure."""
        if not self._step_calls:
            return
        if self.counting_step:
            self.costs.step_syncs.append(self._step_syncs)
            self.counting_step = False
        else:
            self.costs.step_s.append(self._step_s)
        self._step_s, self._step_syncs, self._step_calls = 0.0, 0, 0

    def batch(self) -> None:
        if self.paused:
            return
        if self.counting:
            self.costs.counted_batches += 1
        else:
            self.costs.batches += 1

    def pass_end(self) -> None:
        if self.paused:
            return
        self.costs.passes += 1
        self.counting = False


def _count_syncs(call: Callable[..., Any], args: Any, kwargs: Any) -> tuple[Any, int]:
    """Run ``call`` under torch's sync debug mode "warn" and count the warnings it gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            result = call(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode(before)
    return result, sum("synchroniz" in str(w.message) for w in caught)
