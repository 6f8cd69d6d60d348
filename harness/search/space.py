"""The search space: the workload's own (``Workload.search_space``), or a default that fits
any workload, a log-uniform scale of its optimizer's learning rate.

The default cannot know how a workload builds its optimizer, so it wraps
``workload.build_optimizer``: every param group of the optimizer it returns gets its ``lr``
multiplied by the sampled scale, before any scheduler reads it. All three paradigms build
their optimizer through that one method (the plain loop and Ignite directly, Lightning from
``configure_optimizers``), so the scale reaches each of them the same way, and the rate a
trial trains with is bitwise the same in all three.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from harness.precision import UnsupportedConfig
from harness.workload import Workload

LR_SCALE = "lr_scale"
LR_SCALE_RANGE = (0.1, 10.0)  # two decades around the workload's own rate, log-uniform


def sample(workload: Workload, trial: Any) -> dict[str, Any]:
    """Sample this trial's hyper-parameters and apply them to ``workload`` (before its
    optimizer is built); returns what was sampled."""
    own = workload.search_space(trial)
    if own is not None:
        return dict(own)
    scale = trial.suggest_float(LR_SCALE, *LR_SCALE_RANGE, log=True)
    scale_learning_rate(workload, scale)
    return {LR_SCALE: scale}


def scale_learning_rate(workload: Workload, scale: float) -> None:
    """Make ``workload.build_optimizer`` return optimizers whose every param group's rate is
    ``scale`` times the workload's own."""
    build = workload.build_optimizer

    def scaled(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        optimizer = build(params)
        for group in optimizer.param_groups:
            if "lr" not in group:
                raise UnsupportedConfig(
                    f"workload {workload.name!r} builds a {type(optimizer).__name__} without a "
                    "learning rate to scale: give the workload a search_space(trial) hook")
            group["lr"] = group["lr"] * scale
        return optimizer

    workload.build_optimizer = scaled  # type: ignore[method-assign]
