"""One trial: a short training run through the paradigm's adapter, inside the study's process,
as users run ``study.optimize``.

The trial reuses the benchmark's own in-process path (``harness.launch.worker.prepare`` and
``train``, as the pytest-benchmark suite does): the same workload, data recipe, seeding and
adapter as a benchmark cell, with validation every ``val_every`` steps and the paradigm's
pruning integration attached (``harness.search.pruning``). The objective's value is the
validation loss of the trained model, computed after training by one piece of code for all
three paradigms (the plain loop's float64 mean over the validation set), so that the three
studies' values can be held to each other bit for bit: each paradigm's own validation
averages differently (Lightning in float32).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import optuna

from harness.config import CellConfig
from harness.launch.readout import on_device
from harness.launch.worker import prepare, train
from harness.search import pruning, space
from harness.search.clock import TimedTrial, TrialClock
from harness.search.spec import METRIC
from harness.training.features.handwritten import validate


@dataclass
class Interrupts:
    """Ctrl-C (SIGINT, or SIGTERM from the harness) in a study process: inside a trial it
    ends the trial at once; between trials (while Optuna asks or tells) it waits for the
    study's bookkeeping to finish, so that no trial is left half-written in the storage."""

    seen: bool = False
    pending: bool = False
    in_trial: bool = False

    def signal(self) -> None:
        """Called by the signal handler."""
        self.seen = True
        if self.in_trial:
            raise KeyboardInterrupt
        self.pending = True

    def raise_pending(self) -> None:
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


class Objective:
    """``study.optimize``'s objective; keeps each trial's measurements in ``records`` (by
    trial number) for the callback that runs after Optuna has told the storage."""

    def __init__(self, cell: CellConfig, scratch: Path, interrupts: Interrupts,
                 restore_signals: Any) -> None:
        self.cell, self.scratch, self.interrupts = cell, scratch, interrupts
        self.restore_signals = restore_signals
        self.records: dict[int, dict[str, Any]] = {}

    def __call__(self, trial: optuna.Trial) -> float:
        clock = TrialClock(perf_counter())
        timed = TimedTrial(trial, clock)
        record = self.records[trial.number] = {"number": trial.number, "clock": clock}
        self.interrupts.in_trial = True
        try:
            self.interrupts.raise_pending()
            return self._run(timed, clock, record)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            self._interrupted(timed, record)
            raise
        except SystemExit:
            # Lightning turns Ctrl-C inside fit() into sys.exit(1) (after its own teardown),
            # which Optuna would not catch, leaving the trial RUNNING in the storage forever
            if not self.interrupts.seen:
                raise
            self._interrupted(timed, record)
            raise KeyboardInterrupt from None
        except Exception as exc:
            record.update(error_type=type(exc).__name__, message=str(exc)[:2000],
                          unsupported=isinstance(exc, NotImplementedError))
            timed.set_user_attr("error_type", type(exc).__name__)
            timed.set_user_attr("error", str(exc)[:2000])
            raise
        finally:
            self.interrupts.in_trial = False
            self.restore_signals()  # Lightning sets SIGINT to "ignore" when it sees one
            # what features wrote (checkpoints, logs): one folder per trial, not kept
            shutil.rmtree(self.scratch / f"trial-{trial.number}", ignore_errors=True)
            clock.end = perf_counter()

    def _interrupted(self, trial: TimedTrial, record: dict[str, Any]) -> None:
        record["interrupted"] = True
        try:
            trial.set_user_attr("interrupted", True)
        except Exception:  # the storage itself may be what was interrupted
            pass

    def _run(self, trial: TimedTrial, clock: TrialClock, record: dict[str, Any]) -> float:
        prepared = prepare(self.cell, rank=0, local_rank=0, world=1)
        ctx = prepared.ctx
        ctx.work_dir = self.scratch / f"trial-{trial.number}"  # what features write, if any
        record["params"] = space.sample(ctx.workload, trial)
        clock.watch(ctx.workload)
        ctx.extensions = pruning.extensions(self.cell.paradigm, trial)
        try:
            model = train(prepared)
        finally:
            probe = getattr(ctx, "probe", None)
            clock.training_ended(probe.timer.step_ends if probe is not None else [])
            record["steps"] = probe.step if probe is not None else 0
            stop_sampler(probe)
        value = final_value(ctx, model)
        clock.evaluated = perf_counter()
        record["final_value"] = value
        return value


def stop_sampler(probe: Any) -> None:
    """Stop the probe's NVML sampler thread (CUDA only): the probe stops it at the last step,
    so a trial pruned or failed before it would leave one thread behind per trial."""
    sampler = getattr(getattr(probe, "memory", None), "nvml", None)
    if sampler is not None and sampler.is_alive():
        sampler.stop()


def final_value(ctx: Any, model: Any) -> float:
    """The objective: the trained model's validation loss, the same code in every paradigm
    (NaN when training diverged: Optuna records such a trial as failed)."""
    metrics = validate(ctx.workload, on_device(model, ctx.device), ctx.build_val_loader(),
                       ctx.device, ctx.amp.autocast)
    value = float(metrics[METRIC])
    return value if math.isfinite(value) else math.nan
