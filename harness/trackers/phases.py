"""Where a step's host time goes: forward + loss, backward, the optimizer step, and the rest.

The same probes in every paradigm, built only from hooks torch provides, so that no
framework-specific code decides what counts as compute:

- forward + loss: the harness's own call around ``Workload.loss`` (training calls only: under
  ``no_grad``/inference mode, e.g. validation, the call is not counted);
- backward: a hook on the returned loss fires when autograd reaches it, which is the first
  thing a backward does; the end is an autograd final callback queued from a final callback,
  so it runs after every callback queued during the backward (DDP's gradient reduction
  finalisation among them);
- optimizer: the optimizer's step pre- and post-hooks. Lightning calls ``optimizer.step`` with
  a closure that runs forward and backward *inside* the step, so the pre-hook wraps the closure
  and the update is timed from the closure's return.

Everything else in a step (the framework's loop, hooks, event dispatch, logging, data fetch,
``zero_grad``, GradScaler's unscale/update, gradient clipping, the harness's probe) is the
*framework time*: step time minus the three phases. On a GPU these are the times the host
sees: kernel launches, not kernel execution; the host's launch and dispatch work is exactly
what a framework adds.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from time import perf_counter
from types import CodeType
from typing import Any

import torch
from torch import Tensor

from harness.workload import Workload

PHASES = ("forward", "backward", "optimizer")
_ENGINE = torch.autograd.Variable._execution_engine


@dataclass
class PhaseResult:
    """Per steady-state step, seconds in each phase (aligned with ``step_host_s``)."""

    forward_s: list[float] = field(default_factory=list)
    backward_s: list[float] = field(default_factory=list)
    optimizer_s: list[float] = field(default_factory=list)


class PhaseTimer:
    """Attach to a workload before training; ``step_end()`` closes each optimizer step."""

    def __init__(self) -> None:
        self._acc = [0.0, 0.0, 0.0]
        self.steps: list[tuple[float, float, float]] = []  # one per step, warm-up included
        self._backward_start = 0.0
        self._update_start = 0.0
        self.optimizer_step_code: CodeType | None = None  # for the profiler's attribution

    def attach(self, workload: Workload) -> None:
        """Time ``workload.loss`` and hook the optimizer ``workload.build_optimizer`` returns."""
        loss, build_optimizer = workload.loss, workload.build_optimizer
        acc, backward_started = self._acc, self._backward_started

        def timed_loss(model: Any, batch: Any) -> Tensor:
            if not torch.is_grad_enabled():
                return loss(model, batch)
            start = perf_counter()
            out = loss(model, batch)
            acc[0] += perf_counter() - start
            if out.requires_grad:
                out.register_hook(backward_started)
            return out

        def hooked_optimizer(params: Any) -> torch.optim.Optimizer:
            optimizer = build_optimizer(params)
            optimizer.register_step_pre_hook(self._update_pre)
            optimizer.register_step_post_hook(self._update_post)
            self.optimizer_step_code = inspect.unwrap(type(optimizer).step).__code__
            return optimizer

        workload.loss = timed_loss  # type: ignore[method-assign]
        workload.build_optimizer = hooked_optimizer  # type: ignore[method-assign]

    # ---- backward: loss hook -> final callback -> final callback
    def _backward_started(self, grad: Tensor) -> None:
        self._backward_start = perf_counter()
        _ENGINE.queue_callback(self._backward_finishing)

    def _backward_finishing(self) -> None:
        _ENGINE.queue_callback(self._backward_finished)  # after callbacks queued meanwhile

    def _backward_finished(self) -> None:
        self._acc[1] += perf_counter() - self._backward_start

    # ---- optimizer: pre/post hooks, closure-aware
    def _update_pre(self, optimizer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        self._update_start = perf_counter()
        # torch passes the wrapped call's arguments: args[0] is the optimizer itself
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)
        if closure is None:
            return None

        def timed_closure() -> Any:
            try:
                return closure()
            finally:
                self._update_start = perf_counter()

        if "closure" in kwargs:
            return args, {**kwargs, "closure": timed_closure}
        return (args[0], timed_closure, *args[2:]), kwargs

    def _update_post(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._acc[2] += perf_counter() - self._update_start

    def step_end(self) -> None:
        """Close the step: its phase sums become one sample."""
        self.steps.append((self._acc[0], self._acc[1], self._acc[2]))
        self._acc[0] = self._acc[1] = self._acc[2] = 0.0

    def result(self, first: int) -> PhaseResult:
        """The samples of steps ``first``, ``first + 1``, ... (0-based: skip warm-up)."""
        kept = self.steps[first:]
        return PhaseResult([s[0] for s in kept], [s[1] for s in kept], [s[2] for s in kept])
