"""Where a step's host time goes: forward + loss, backward, the optimizer step, the data wait,
and the rest.

The same probes in every paradigm, built only from hooks torch provides, so that no
framework-specific code decides what counts as compute:

- forward + loss: the harness's own call around ``Workload.loss`` (training calls only: under
  ``no_grad``/inference mode, e.g. validation, the call is not counted). Under torch.compile
  the probes stay outside the compiled region: the model's region is called from inside the
  loss, and where Lightning's documented compile puts the loss itself inside its compiled
  training step, that step's call is timed instead (``PhaseTimer.timed``);
- backward: a hook on the loss's autograd node fires as soon as the backward has passed
  through it (the loss's own gradient, a few microseconds in); the end is an autograd final
  callback queued from a final callback, so it runs after every callback queued during the
  backward (DDP's gradient reduction finalisation among them);
- optimizer: the optimizer's step pre- and post-hooks. Lightning calls ``optimizer.step`` with
  a closure that runs forward and backward *inside* the step, so the pre-hook wraps the closure
  and the update is timed from the closure's return;
- data wait: each ``next()`` on the training loader's own iterator
  (``harness.training.data.TimedLoader``): fetching a batch in the process, or waiting for a
  worker's. The loader is the same object in every paradigm; what a framework wraps around it
  (Lightning's fetchers, Ignite's event dispatch) is outside the call and stays framework time.
  Each paradigm fetches a step's batch inside that step: Lightning prefetches only from a
  loader without a length (its ``_PrefetchDataFetcher`` ignores ``prefetch_batches`` when the
  length is known, as it is for every training loader here), and so do the other two
  (``tests/harness/measure/test_phases.py`` traces it).
- sync (CUDA cells only): the host-device synchronisations a paradigm forces on every step outside
  the phases above, timed where they happen: GradScaler's ``found_inf.item()`` under fp16 (the
  same scaler method in all three) and Lightning's per-step DDP broadcast ``.item()``. Each waits
  for every kernel queued before it, so its host time is the GPU's backlog, not the framework's
  work; on a CPU there is no backlog and such calls stay framework time.

Everything else in a step (the framework's loop, hooks, event dispatch, logging,
``zero_grad``, GradScaler's unscale/update, gradient clipping, the harness's probe) is the
*framework time*: step time minus the five phases. On a GPU these are the times the host
sees: kernel launches, not kernel execution; the host's launch and dispatch work is exactly
what a framework adds.

Only a pseudo-random quarter of the steady-state steps is probed (a fixed, seeded draw per
step, so nothing periodic such as epochs or logging lines up with it): the autograd hook is a
Python call from inside the autograd engine, by far the dearest part of the probes (the
manual's tracker figures give the cost of a probed step, from
``benchmarks/test_tracker_overhead.py``), and probing every step would lengthen the shortest
steps by several percent. The hook's
cost lands in the backward phase of the probed steps, never in their framework time, so the
framework time of a probed step is exact and the probed steps stand for all of them.
``benchmarks/test_tracker_overhead.py`` measures the cost; a suite's ``phases = [true, false]``
cells show what it does to step time.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from types import CodeType
from typing import Any

import torch

from harness.workload import Workload

PHASES = ("forward", "backward", "optimizer", "data", "sync")
PROBED_FRACTION = 0.25


def probed(step: int, fraction: float = PROBED_FRACTION) -> bool:
    """Whether optimizer step ``step`` (1-based, global) is probed: a fixed pseudo-random
    ``fraction`` of all steps (a multiplicative hash, not the calibration's)."""
    return fraction >= 1 or ((step * 2246822519) % 2**32) / 2**32 < fraction
_ENGINE = torch.autograd.Variable._execution_engine


@dataclass
class PhaseResult:
    """Per probed steady-state step: its index into ``step_host_s`` and seconds per phase."""

    index: list[int] = field(default_factory=list)
    forward_s: list[float] = field(default_factory=list)
    backward_s: list[float] = field(default_factory=list)
    optimizer_s: list[float] = field(default_factory=list)
    data_s: list[float] = field(default_factory=list)
    sync_s: list[float] = field(default_factory=list)


FORWARD, BACKWARD, OPTIMIZER, DATA, SYNC = range(len(PHASES))


class PhaseTimer:
    """Attach to a workload before training; ``step_end()`` closes each optimizer step.

    ``timed_syncs`` (CUDA cells): the host-device synchronisations a paradigm forces on every
    step outside the other phases (GradScaler's ``found_inf.item()``, Lightning's DDP
    broadcast ``.item()``) are timed as their own phase, so the GPU's backlog they wait for is
    not charged to framework time.
    """

    def __init__(self, fraction: float = PROBED_FRACTION, timed_syncs: bool = False) -> None:
        self.fraction = fraction  # 1.0 probes every step (calibration cells)
        self.timed_syncs = timed_syncs
        self._acc = [0.0] * len(PHASES)
        # (global step, seconds per phase in PHASES order) of every probed step, warm-up
        # included
        self.steps: list[tuple[int, list[float]]] = []
        self.step = 0  # optimizer steps completed (global)
        self.active = probed(1, fraction)
        self._backward_start = 0.0
        self._update_start = 0.0
        self._sync_start: float | None = None  # a GradScaler sync in progress
        self.optimizer_step_code: CodeType | None = None  # for the profiler's attribution

    def attach(self, workload: Workload) -> None:
        """Time ``workload.loss`` and hook the optimizer ``workload.build_optimizer`` returns."""
        build_optimizer = workload.build_optimizer

        def hooked_optimizer(params: Any) -> torch.optim.Optimizer:
            optimizer = build_optimizer(params)
            optimizer.register_step_pre_hook(self._update_pre)
            optimizer.register_step_post_hook(self._update_post)
            self.optimizer_step_code = inspect.unwrap(type(optimizer).step).__code__
            return optimizer

        workload.loss = self.timed(workload.loss)  # type: ignore[method-assign]
        workload.build_optimizer = hooked_optimizer  # type: ignore[method-assign]

    def timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` (forward + loss, returning the loss) timed as a probed step's forward, its
        loss's autograd node hooked for the backward.

        Traced by torch.compile (Lightning's documented compile puts its training step, and so
        the workload's loss, inside the compiled region) the call passes straight through:
        no probe enters a compiled graph, and the adapter times the compiled region's call
        with this same wrapper from outside instead.
        """
        acc, backward_started = self._acc, self._backward_started

        def timed_loss(*args: Any, **kwargs: Any) -> Any:  # the name attribution knows
            if torch.compiler.is_compiling() or not (self.active and torch.is_grad_enabled()):
                return fn(*args, **kwargs)
            start = perf_counter()
            out = fn(*args, **kwargs)
            acc[FORWARD] += perf_counter() - start
            grad_fn = getattr(out, "grad_fn", None)  # a loss tensor (Lightning: a step output)
            if grad_fn is not None:
                grad_fn.register_hook(backward_started)
            return out

        return timed_loss

    # ---- backward: loss hook -> final callback -> final callback
    def _backward_started(self, grad_inputs: Any, grad_outputs: Any) -> None:
        self._backward_start = perf_counter()
        _ENGINE.queue_callback(self._backward_finishing)

    def _backward_finishing(self) -> None:
        _ENGINE.queue_callback(self._backward_finished)  # after callbacks queued meanwhile

    def _backward_finished(self) -> None:
        self._acc[BACKWARD] += perf_counter() - self._backward_start

    # ---- optimizer: pre/post hooks, closure-aware
    def _update_pre(self, optimizer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if not self.active:
            return None
        self._update_start = perf_counter()
        self._end_sync(self._update_start)  # GradScaler's sync ends where its step begins
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
        if self.active:
            self._acc[OPTIMIZER] += perf_counter() - self._update_start

    # ---- data: the training loader reports each fetch (TimedLoader.on_fetch)
    def data_fetched(self, seconds: float) -> None:
        if self.active:
            self._acc[DATA] += seconds

    # ---- forced host-device syncs (CUDA cells only; see the class docstring)
    def attach_scaler(self, scaler: torch.amp.GradScaler | None) -> None:
        """Time the ``found_inf.item()`` that ``scaler.step`` runs before the optimizer step:
        from GradScaler's ``_maybe_opt_step`` to the optimizer's pre-hook (or its return,
        when the step is skipped). The same scaler method in all three paradigms."""
        maybe_step = getattr(scaler, "_maybe_opt_step", None)
        if scaler is None or not self.timed_syncs or maybe_step is None:
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return maybe_step(*args, **kwargs)
            self._sync_start = perf_counter()
            try:
                return maybe_step(*args, **kwargs)
            finally:
                self._end_sync(perf_counter())  # a skipped step: no pre-hook ended it

        scaler._maybe_opt_step = timed  # type: ignore[method-assign]

    def timed_sync(self, call: Callable[[], Any]) -> Callable[[], Any]:
        """``call`` (a framework's per-step sync, e.g. Lightning's DDP broadcast) timed as the
        sync phase on CUDA cells; returned unchanged elsewhere."""
        if not self.timed_syncs:
            return call

        def timed() -> Any:
            if not self.active:
                return call()
            self._sync_start = perf_counter()
            try:
                return call()
            finally:
                self._end_sync(perf_counter())

        return timed

    def _end_sync(self, now: float) -> None:
        if self._sync_start is not None:
            self._acc[SYNC] += now - self._sync_start
            self._sync_start = None

    def step_end(self, step: int) -> None:
        """Close global optimizer step ``step``: a probed step's sums become one sample."""
        if self.active:
            self.steps.append((step, list(self._acc)))
            self._acc[:] = [0.0] * len(PHASES)
        self.step = step
        self.active = probed(step + 1, self.fraction)

    def resume_at(self, step: int) -> None:
        """A run restored at global step ``step``: the next step is ``step + 1``."""
        self.step, self.active = step, probed(step + 1, self.fraction)

    def result(self, first_step: int, warmup: int) -> PhaseResult:
        """Probed steps after warm-up, each with its index into the timer's ``step_host_s``
        (whose sample j is the interval that ends at step first_step + warmup + 1 + j)."""
        out = PhaseResult()
        for step, seconds in self.steps:
            j = step - first_step - warmup - 1
            if j >= 0:
                out.index.append(j)
                for name, value in zip(PHASES, seconds):
                    getattr(out, f"{name}_s").append(value)
        return out
