"""Where a trial's time goes, from one clock (the study process's ``perf_counter``), the same
in all three paradigms.

A trial's wall time runs from the end of the previous trial's record to the end of its own,
and splits into (each part without the Optuna calls that fall inside it):

- bookkeeping: the study's own work: ``study.ask`` (sampler, storage), ``study.tell`` and
  the storage read after it, and every Optuna call inside the objective (``suggest_*``,
  ``report``, ``should_prune``, timed by :class:`TimedTrial`);
- construction: from the objective's start to the end of optimizer step 1: building the
  workload, its data, the model, the Trainer or Engine, the first step (the harness's
  "construction to the end of the first step"), and whatever a paradigm runs before it
  (Lightning's sanity-check validation batches);
- validation: each pass during training, from the end of the step it follows to the next
  training forward (so each paradigm's own machinery around the pass counts: the evaluator
  Engine, Lightning's evaluation loop and hooks, the pruning check, the next batch's fetch);
  the pass after the last step ends at its pruning check. Plus the final evaluation that
  gives the objective its value, the same code in all three;
- training: from the end of step 1 to the end of the last step, less the validation passes;
- teardown: from the last step (or the last pass's pruning check) to the return of
  ``fit`` / ``run`` / the loop, or to the pruning exception reaching the objective.

Steps are seen through the harness's own probe (the step ends every adapter reports) and a
wrapper on ``Workload.loss`` and ``Workload.evaluate`` (training forwards and validation
batches), the same hooks in every paradigm.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the analysis reads PARTS without importing torch
    from harness.workload import Workload

PARTS = ("construction", "training", "validation", "teardown", "bookkeeping")


@dataclass
class TrialClock:
    """The timestamps of one trial (perf_counter seconds)."""

    start: float
    optuna_calls: list[tuple[float, float]] = field(default_factory=list)  # (start, end)
    forwards: list[float] = field(default_factory=list)  # training forward starts
    evaluations: list[tuple[float, float]] = field(default_factory=list)  # evaluate() calls
    checks: list[float] = field(default_factory=list)  # ends of should_prune calls
    # what the paradigm's integration reported: {"step", "value", "stored"} in call order
    reports: list[dict[str, Any]] = field(default_factory=list)
    step_ends: list[float] = field(default_factory=list)
    trained_until: float | None = None  # fit/run/the loop returned or raised
    evaluated: float | None = None  # the final evaluation (from trained_until) gave the value
    end: float | None = None
    _watching: bool = True

    def watch(self, workload: Workload) -> None:
        """Wrap the workload's loss and evaluate to see training forwards and validation."""
        import torch

        loss, evaluate = workload.loss, workload.evaluate

        def watched_loss(model: Any, batch: Any) -> torch.Tensor:
            if self._watching and torch.is_grad_enabled():
                self.forwards.append(perf_counter())
            return loss(model, batch)

        def watched_evaluate(model: Any, batch: Any) -> Any:
            start = perf_counter()
            try:
                return evaluate(model, batch)
            finally:
                if self._watching:
                    self.evaluations.append((start, perf_counter()))

        workload.loss = watched_loss  # type: ignore[method-assign]
        workload.evaluate = watched_evaluate  # type: ignore[method-assign]

    def training_ended(self, step_ends: Sequence[float]) -> None:
        if self.trained_until is None:
            self.trained_until = perf_counter()
            self.step_ends = list(step_ends)
            self._watching = False


class TimedTrial:
    """The Optuna trial as the workload and the pruning integrations see it: every call into
    Optuna is timed (the study's bookkeeping) and every report kept, in call order, with
    whether Optuna stored it (a second report at the same step is ignored)."""

    def __init__(self, trial: Any, clock: TrialClock) -> None:
        self._trial, self._clock = trial, clock
        self._steps: set[int] = set()

    def _timed(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        start = perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self._clock.optuna_calls.append((start, perf_counter()))

    def report(self, value: float, step: int) -> None:
        self._timed(self._trial.report, value, step)
        self._clock.reports.append({"step": int(step), "value": float(value),
                                    "stored": int(step) not in self._steps})
        self._steps.add(int(step))

    def should_prune(self) -> bool:
        try:
            return bool(self._timed(self._trial.should_prune))
        finally:
            self._clock.checks.append(perf_counter())

    def suggest_float(self, *args: Any, **kwargs: Any) -> float:
        return float(self._timed(self._trial.suggest_float, *args, **kwargs))

    def suggest_int(self, *args: Any, **kwargs: Any) -> int:
        return int(self._timed(self._trial.suggest_int, *args, **kwargs))

    def suggest_categorical(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed(self._trial.suggest_categorical, *args, **kwargs)

    def set_user_attr(self, key: str, value: Any) -> None:
        self._timed(self._trial.set_user_attr, key, value)

    def __getattr__(self, name: str) -> Any:  # number, params, study, ...
        return getattr(self._trial, name)


def _overlap(spans: Sequence[tuple[float, float]], lo: float, hi: float) -> float:
    return sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in spans)


def split(clock: TrialClock, ask_s: float, tell_s: float) -> dict[str, float]:
    """The trial's time by part (seconds) and its ``wall``: ``ask_s`` + the objective +
    ``tell_s``, which the parts add up to (see the module docstring for their bounds)."""
    end = clock.end if clock.end is not None else perf_counter()
    trained = clock.trained_until if clock.trained_until is not None else end
    ends = clock.step_ends
    first, last = (ends[0], ends[-1]) if ends else (trained, trained)
    passes = _validation_spans(clock, ends, trained)
    tail = passes[-1][1] if passes and passes[-1][0] >= last else last
    evaluated = clock.evaluated if clock.evaluated is not None else trained

    def net(lo: float, hi: float) -> float:  # a span without the Optuna calls inside it
        return max(hi - lo - _overlap(clock.optuna_calls, lo, hi), 0.0)

    during = [net(a, b) for a, b in passes if b <= last]
    out = {
        "construction": net(clock.start, first),
        "training": max(net(first, last) - sum(during), 0.0),
        "validation": sum(net(a, b) for a, b in passes) + net(trained, evaluated),
        "teardown": net(tail, trained),
        # ask, tell, every Optuna call inside the objective, and the harness's own recording
        # after the value is known
        "bookkeeping": ask_s + tell_s + sum(b - a for a, b in clock.optuna_calls)
        + max(end - evaluated, 0.0),
    }
    out["wall"] = ask_s + (end - clock.start) + tell_s
    return out


def _validation_spans(clock: TrialClock, ends: Sequence[float], trained: float
                      ) -> list[tuple[float, float]]:
    """(start, end) of every validation pass after a training step."""
    out = []
    for i, step_end in enumerate(ends):
        nxt = ends[i + 1] if i + 1 < len(ends) else trained
        evals = [e for e in clock.evaluations if step_end <= e[0] < nxt]
        if not evals:
            continue
        if i + 1 < len(ends):  # training goes on: the pass ends at the next training forward
            k = bisect.bisect_left(clock.forwards, evals[-1][1])
            stop = clock.forwards[k] if k < len(clock.forwards) else nxt
        else:  # after the last step: the pass ends at its pruning check
            checks = [c for c in clock.checks if evals[-1][1] <= c <= trained]
            stop = checks[-1] if checks else evals[-1][1]
        out.append((step_end, min(stop, nxt)))
    return out
