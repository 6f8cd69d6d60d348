"""The ``fault`` feature: a workload bug, raised from inside the step at a chosen step.

The exception is raised from within the workload's ``loss`` call, where a real bug in a
model's forward would be, so each framework sees it exactly as it would see the user's own
exception. The record must show this type and message, not a framework's wrapper.
"""

from __future__ import annotations

from typing import Any

import torch

from harness.workload import Workload


class InjectedWorkloadBug(RuntimeError):
    """The workload bug the ``fault`` feature raises."""


def inject_bug(workload: Workload, step: int, accumulate: int) -> None:
    """Make ``workload.loss`` raise in the first micro-batch of optimizer step ``step``."""
    loss = workload.loss
    raise_on = (step - 1) * accumulate + 1
    calls = 0

    def faulty_loss(model: Any, batch: Any) -> torch.Tensor:
        nonlocal calls
        if torch.is_grad_enabled():  # training calls only, as a forward bug would surface
            calls += 1
            if calls == raise_on:
                raise InjectedWorkloadBug(f"injected workload bug at step {step}")
        return loss(model, batch)

    workload.loss = faulty_loss  # type: ignore[method-assign]
