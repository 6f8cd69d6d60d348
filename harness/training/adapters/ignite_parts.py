"""The Ignite pieces of the adapter: the features as handlers attached to the trainer, the way
Ignite's documentation sets them up.

- validation: an evaluator Engine (``create_supervised_evaluator``) with an ``ignite.metrics``
  Metric over the workload's batch metrics, run from an event handler;
- metrics: ``ignite.metrics`` (``Accuracy``, ``Fbeta``, ``Precision``, ``Recall``,
  ``ConfusionMatrix``) attached to that evaluator, read from ``evaluator.state.metrics``; on
  training steps, the same metrics attached to the trainer with ``usage=BatchWise()`` (each
  iteration: reset, update, compute into ``trainer.state.metrics``);
- early stopping: ``EarlyStopping`` on the evaluator (``cumulative_delta=True``: Lightning's
  rule, an improvement must beat the best by ``min_delta``);
- checkpoints: ``Checkpoint`` + ``DiskSaver`` on iterations and on the evaluator (best k by
  score); resume with ``Checkpoint.load_objects``;
- logging: ``TensorboardLogger`` and ``MLflowLogger`` output handlers; Ignite has no CSV
  logger, so CSV is an event handler writing with the ``csv`` module;
- the scheduler: an event handler calling ``scheduler.step()`` after each optimizer step.
  Ignite's ``LRScheduler`` wrapper is not used: it sets rates from ``get_lr()`` without
  calling ``step()``, so schedulers that branch on ``_step_count`` (``CosineAnnealingLR``)
  take their closed form every time and the rates differ from torch's in the last bits
  (``tests/harness/training/test_features.py`` shows it);
- the progress bar: ``ProgressBar``.

Iterations count batches; with gradient accumulation over k batches, an optimizer step ends
every k-th iteration, and handlers that act per step fire on those.
"""

from __future__ import annotations

import csv
from typing import Any

import torch
from ignite.engine import Engine, Events, create_supervised_evaluator
from ignite.handlers import Checkpoint, DiskSaver, EarlyStopping, ProgressBar
from ignite.metrics import Metric
from ignite.utils import convert_tensor

from harness.features import LogBackend
from harness.training.context import RunContext
from harness.training.features.logs import METRIC, mlflow_tracking_uri
from harness.training.features.metrics import (
    PREFIX,
    STEP_PREFIX,
    as_floats,
    evaluate_batch,
    flatten,
    ignite_metrics,
    updated_metrics,
)

CHECKPOINT_NAME = "step={global_step:06d}.{ext}"


class BatchMeans(Metric):
    """The mean over batches of each of the workload's batch metrics (float64 sums)."""

    def __init__(self) -> None:
        # Ignite metrics take tuples, not mappings: hand the metrics dict over in a 1-tuple
        super().__init__(output_transform=lambda out: (out["means"],))

    def reset(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._batches = 0

    def update(self, output: tuple[dict[str, torch.Tensor]]) -> None:
        for name, value in output[0].items():
            v = value.detach().double()
            self._sums[name] = self._sums[name] + v if name in self._sums else v
        self._batches += 1

    def compute(self) -> dict[str, float]:
        return {name: total.item() / self._batches for name, total in self._sums.items()}


def every_step(k: int, n: int = 1) -> Any:
    """ITERATION_COMPLETED at the end of every n-th optimizer step (k batches per step)."""
    return Events.ITERATION_COMPLETED(every=k * n)


def step_of(k: int) -> Any:
    """A global_step_transform that counts optimizer steps instead of batches."""
    return lambda engine, _event=None: engine.state.iteration // k


def attach_validation(ctx: RunContext, trainer: Engine, net: torch.nn.Module,
                      to_save: dict[str, Any]) -> None:
    """Evaluator, early stopping and best-k checkpoints, run every N steps or each epoch."""
    f, k, probe = ctx.features, ctx.features.accumulate, ctx.probe
    workload, amp = ctx.workload, ctx.amp

    clock = probe.metric_clock if f.scores_validation else None

    def evaluate(model: torch.nn.Module, batch: Any) -> dict[str, Any]:
        with amp.autocast():
            if clock is None:
                return {"means": dict(workload.evaluate(model, batch))}
            means, logits, targets = evaluate_batch(workload, model, batch)
        clock.batch()
        return {"means": means, "logits": logits, "y": targets}

    evaluator = create_supervised_evaluator(
        net, metrics={"val": BatchMeans()}, device=ctx.device, non_blocking=True,
        prepare_batch=lambda batch, device, non_blocking: (
            convert_tensor(batch, device, non_blocking), None),
        model_fn=evaluate, output_transform=lambda x, y, y_pred: y_pred)
    if f.early_stop_patience:
        evaluator.add_event_handler(Events.COMPLETED, EarlyStopping(
            patience=f.early_stop_patience, min_delta=f.early_stop_min_delta,
            score_function=lambda e: -e.state.metrics["loss"], trainer=trainer,
            cumulative_delta=True))
    if f.ckpt_best_k:
        evaluator.add_event_handler(Events.COMPLETED, Checkpoint(
            to_save, DiskSaver(str(ctx.folder("ckpt") / "best"), require_empty=False),
            n_saved=f.ckpt_best_k, score_function=lambda e: -e.state.metrics["loss"],
            score_name="neg_val_loss", filename_pattern=CHECKPOINT_NAME,
            global_step_transform=lambda *_: trainer.state.iteration // k))
    for attach in ctx.extensions.ignite_validation:
        attach(trainer, evaluator)
    if clock is not None:
        _attach_metrics(ctx, evaluator, clock)
    loader = ctx.build_val_loader()

    def run_validation(engine: Engine) -> None:
        evaluator.run(loader)
        metrics = {n: v for n, v in evaluator.state.metrics.items()
                   if n != "val" and not n.startswith(PREFIX)}
        step = engine.state.iteration // k
        probe.events.validated(step, metrics)
        if clock is not None:
            clock.pass_end()
            probe.events.scored(step, as_floats(flatten(
                {n.removeprefix(PREFIX): v for n, v in evaluator.state.metrics.items()
                 if n.startswith(PREFIX)})))
        if engine.should_terminate and not probe.done:
            probe.events.stopped_at = step

    event = Events.EPOCH_COMPLETED if f.val_epoch_end else every_step(k, f.val_every)
    trainer.add_event_handler(event, run_validation)


def _attach_metrics(ctx: RunContext, evaluator: Engine, clock: Any) -> None:
    """The cell's ``ignite.metrics`` on the evaluator, each call timed by the metric clock."""
    metrics = ignite_metrics(ctx.features, ctx.workload.classes, ctx.device, ctx.distributed)
    for metric in updated_metrics(metrics):
        metric.iteration_completed = clock.timed("update", metric.iteration_completed)
    for name, metric in metrics.items():
        metric.completed = clock.timed("compute", metric.completed)
        metric.attach(evaluator, PREFIX + name)


def attach_step_metrics(ctx: RunContext, trainer: Engine) -> None:
    """The cell's ``ignite.metrics`` on the trainer, per iteration (``BatchWise``), reading the
    trainer's ``{"loss", "logits", "y"}`` output; every call timed as the step's metric work."""
    from ignite.metrics import BatchWise

    clock = ctx.probe.metric_clock
    assert clock is not None, "the probe has a metric clock wherever metrics are on"
    metrics = ignite_metrics(ctx.features, ctx.workload.classes, ctx.device, ctx.distributed)
    for metric in updated_metrics(metrics):
        metric.started = clock.timed("step", metric.started)
        metric.iteration_completed = clock.timed("step", metric.iteration_completed)
    for name, metric in metrics.items():
        metric.completed = clock.timed("step", metric.completed)
        metric.attach(trainer, STEP_PREFIX + name, usage=BatchWise())


def step_values(trainer: Engine) -> dict[str, float]:
    """The trainer's metrics for its last iteration, by the feature's flat names."""
    return as_floats(flatten({n.removeprefix(STEP_PREFIX): v for n, v in
                              trainer.state.metrics.items() if n.startswith(STEP_PREFIX)}))


def loss_of(output: Any) -> Any:
    """The loss in a trainer's output: the output itself, or its ``"loss"`` where the output
    also carries the logits and targets for metrics on training steps."""
    return output["loss"] if isinstance(output, dict) else output


def attach_checkpoints(ctx: RunContext, trainer: Engine, to_save: dict[str, Any]) -> None:
    k = ctx.features.accumulate
    trainer.add_event_handler(every_step(k, ctx.features.ckpt_every), Checkpoint(
        to_save, DiskSaver(str(ctx.folder("ckpt") / "periodic"), require_empty=False),
        n_saved=None, filename_pattern=CHECKPOINT_NAME, global_step_transform=step_of(k)))


def attach_scheduler(ctx: RunContext, trainer: Engine, scheduler: Any) -> None:
    trainer.add_event_handler(every_step(ctx.features.accumulate), lambda _: scheduler.step())


def attach_loggers(ctx: RunContext, trainer: Engine) -> list[Any]:
    """Ignite's logger handlers (and a csv handler); returns what must be closed at the end."""
    f, k = ctx.features, ctx.features.accumulate
    folder = ctx.folder("logs")
    ctx.probe.events.log_dir = str(folder)
    event, step = every_step(k, f.log_every), step_of(k)
    opened: list[Any] = []
    for backend in f.log:
        if backend is LogBackend.TENSORBOARD:
            from ignite.handlers.tensorboard_logger import TensorboardLogger

            logger: Any = TensorboardLogger(log_dir=str(folder / "tensorboard"))
        elif backend is LogBackend.MLFLOW:
            from ignite.handlers.mlflow_logger import MLflowLogger

            logger = MLflowLogger(tracking_uri=mlflow_tracking_uri(folder))
        else:
            opened.append(_attach_csv(trainer, event, step, folder / "csv"))
            continue
        logger.attach_output_handler(trainer, event_name=event, tag="train",
                                     output_transform=lambda out: {"loss": loss_of(out)},
                                     global_step_transform=step)
        opened.append(logger)
    return opened


def _attach_csv(trainer: Engine, event: Any, step: Any, folder: Any) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    out = open(folder / "metrics.csv", "w", newline="")  # noqa: SIM115 - closed by the caller
    writer = csv.writer(out)
    writer.writerow(["step", METRIC])

    @trainer.on(event)
    def write_row(engine: Engine) -> None:
        loss: Any = loss_of(engine.state.output)  # the detached loss tensor
        writer.writerow([step(engine), repr(loss.item())])

    return out


def attach_progress_bar(trainer: Engine) -> None:
    ProgressBar().attach(trainer)
