"""The Lightning pieces of the adapter: the LightningModule (which also carries the harness's
probe), and the callbacks and loggers Lightning's documentation recommends for each feature.

The probe lives in the module's own hooks, not in a ``pl.Callback``: Lightning dispatches every
callback hook of every step to every callback, so a probe callback would charge Lightning for
a dozen calls per step (about 8 us) that a user without callbacks never pays. The module's
hooks are called on every step anyway (as no-ops), so the probe adds only its own work, as in
the plain loop and in Ignite's one event handler.

- validation: ``validation_step`` logging the workload's metrics with ``self.log_dict`` (on
  epoch, weighted by batch size), run by ``val_check_interval``;
- metrics: a torchmetrics ``MetricCollection`` (a child module, so on the model's device)
  updated in ``validation_step``, computed, logged with ``self.log_dict`` and reset in
  ``on_validation_epoch_end``, as torchmetrics' Lightning page shows (``sync_dist`` from
  ``metrics_sync``); on training steps, a second collection called in ``training_step`` on
  the step's own logits, its batch values logged with ``self.log_dict(on_step=True,
  on_epoch=False)``;
- early stopping: ``EarlyStopping(monitor="val_loss")``;
- checkpoints: ``ModelCheckpoint(every_n_train_steps=N, save_top_k=-1)`` and
  ``ModelCheckpoint(monitor="val_loss", save_top_k=k)``; resume through ``fit(ckpt_path=...)``;
- logging: ``TensorBoardLogger``, ``CSVLogger``, ``MLFlowLogger`` fed by ``self.log``;
- the scheduler: ``configure_optimizers`` returning it with ``interval="step"``.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch import Tensor, nn

from harness.features import LogBackend
from harness.metric_choices import MetricSync
from harness.training.calibration import busy_wait
from harness.training.context import RunContext
from harness.training.features.logs import mlflow_tracking_uri
from harness.training.features.metrics import (
    PREFIX,
    STEP_PREFIX,
    as_floats,
    evaluate_batch,
    flatten,
    step_loss,
    torchmetrics_collection,
)

VAL_PREFIX = "val_"


class WorkloadModule(pl.LightningModule):
    def __init__(self, ctx: RunContext, model: nn.Module, log_name: str | None) -> None:
        super().__init__()
        self.ctx, self.workload, self.model, self.log_name = ctx, ctx.workload, model, log_name
        self.last_loss: Tensor | None = None  # the workload's loss, before Lightning divides it
        self.probe_hooks = ProbeHooks(ctx)
        f = ctx.features
        self.val_metrics = (torchmetrics_collection(f, ctx.workload.classes)
                            if f.scores_validation else None)
        self.step_metrics = (torchmetrics_collection(f, ctx.workload.classes, per_step=True)
                             if f.scores_training_steps else None)
        self.sync_dist = f.metrics_sync is MetricSync.SYNC_DIST
        self.metric_clock = clock = ctx.probe.metric_clock
        if clock is not None and self.val_metrics is not None:
            self.val_metrics.update = clock.timed("update", self.val_metrics.update)
            self.report_metrics = clock.timed(  # type: ignore[method-assign]
                "compute", self.report_metrics)
        if clock is not None and self.step_metrics is not None:
            self.log_step_metrics = clock.timed(  # type: ignore[method-assign]
                "step", self.log_step_metrics)

    def forward(self, x: Tensor) -> Tensor:
        """The workload's model on its input: what ``to_torchscript`` and ``to_onnx`` export
        (training calls the workload's ``loss`` instead, so this changes no training step)."""
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        if self.step_metrics is None:
            loss = self.workload.loss(self.model, batch)
        else:
            loss, logits, targets = step_loss(self.ctx.probe, self.workload, self.model, batch)
            self.log_step_metrics(logits, targets)
        self.last_loss = loss.detach()
        if self.log_name:
            self.log(self.log_name, loss)
        return loss

    def log_step_metrics(self, logits: Tensor, targets: Tensor) -> None:
        """The batch's values (the collection's forward) logged per step, as torchmetrics'
        Lightning page logs a training metric (values, not the Metric objects: a per-class
        vector is logged one scalar each)."""
        assert self.step_metrics is not None
        values = flatten(self.step_metrics(logits, targets))
        self.log_dict({STEP_PREFIX + k: v for k, v in values.items()}, on_step=True,
                      on_epoch=False, sync_dist=self.sync_dist,
                      batch_size=self.ctx.cfg.batch_size)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.val_metrics is None:
            metrics = dict(self.workload.evaluate(self.model, batch))
        else:
            metrics, logits, targets = evaluate_batch(self.workload, self.model, batch)
            self.metric_clock.batch()  # type: ignore[union-attr]  # set with val_metrics
            self.val_metrics.update(logits, targets)
        self.log_dict({VAL_PREFIX + k: v for k, v in metrics.items()},
                      batch_size=self.ctx.cfg.batch_size)

    def on_validation_epoch_start(self) -> None:
        if self.metric_clock is not None:  # the sanity check runs before training: not timed
            self.metric_clock.paused = self.trainer.sanity_checking

    def on_validation_epoch_end(self) -> None:
        if self.val_metrics is not None:
            self.report_metrics()
        if self.metric_clock is not None:  # after the sanity check: the steps are timed
            self.metric_clock.paused = False

    def report_metrics(self) -> None:
        """compute, log_dict, reset: the epoch end of torchmetrics' Lightning page."""
        assert self.val_metrics is not None
        values = flatten(self.val_metrics.compute())
        self.log_dict({PREFIX + k: v for k, v in values.items()}, sync_dist=self.sync_dist)
        self.val_metrics.reset()
        self.metric_clock.pass_end()  # type: ignore[union-attr]  # set with val_metrics

    # the probe: Lightning calls a module hook after the callbacks' (EarlyStopping included)
    def on_train_start(self) -> None:
        self.probe_hooks.train_start(self.trainer)

    def on_train_batch_end(self, *_: Any) -> None:
        self.probe_hooks.batch_end(self.trainer, self)

    def on_validation_end(self) -> None:
        self.probe_hooks.validation_end(self.trainer)

    def configure_optimizers(self) -> Any:
        optimizer = self.workload.build_optimizer(self.model.parameters())
        if not self.ctx.features.scheduler:
            return optimizer
        scheduler = self.workload.build_scheduler(optimizer, self.ctx.optimizer_steps)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}


class ProbeHooks:
    """Tells the probe about optimizer steps, validations and an early stop (called from the
    LightningModule's hooks; deliberately not a ``pl.Callback``)."""

    def __init__(self, ctx: RunContext) -> None:
        self.probe, self.features = ctx.probe, ctx.features
        self._steps = 0

    def train_start(self, trainer: pl.Trainer) -> None:
        self._steps = trainer.global_step
        if trainer.global_step:  # restored from a checkpoint
            self.probe.resume_at(trainer.global_step)

    def batch_end(self, trainer: pl.Trainer, module: WorkloadModule) -> None:
        if trainer.global_step == self._steps:
            return  # a micro-batch of gradient accumulation: no optimizer step yet
        self._steps = trainer.global_step
        assert module.last_loss is not None  # training_step ran before its batch ended
        self.probe.step_end(module.last_loss)
        if self.features.delays(self.probe.step):
            busy_wait(self.features.hook_delay_us)

    def validation_end(self, trainer: pl.Trainer) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k.removeprefix(VAL_PREFIX): float(v)
                   for k, v in trainer.callback_metrics.items() if k.startswith(VAL_PREFIX)}
        self.probe.events.validated(trainer.global_step, metrics)
        if self.features.scores_validation:
            self.probe.events.scored(trainer.global_step, as_floats(
                {k.removeprefix(PREFIX): v for k, v in trainer.callback_metrics.items()
                 if k.startswith(PREFIX)}))
        if trainer.should_stop and self.probe.step < self.probe.cfg.total_steps:
            self.probe.events.stopped_at = trainer.global_step


def callbacks(ctx: RunContext) -> list[pl.Callback]:
    """The features' callbacks, as Lightning's documentation sets them up (none for a bare
    cell), then a scenario's own (``ctx.extensions``). Lightning moves ModelCheckpoint
    callbacks behind all others itself."""
    f = ctx.features
    out: list[pl.Callback] = []
    if f.early_stop_patience:
        # checked on validation end (not at train-epoch end): the same moment in every paradigm
        out.append(EarlyStopping(monitor="val_loss", mode="min", patience=f.early_stop_patience,
                                 min_delta=f.early_stop_min_delta,
                                 check_on_train_epoch_end=False))
    if f.ckpt_every or f.ckpt_best_k:
        folder = ctx.folder("ckpt")
        if f.ckpt_every:
            out.append(ModelCheckpoint(dirpath=folder / "periodic", filename="{step:06d}",
                                       every_n_train_steps=f.ckpt_every, save_top_k=-1))
        if f.ckpt_best_k:
            out.append(ModelCheckpoint(dirpath=folder / "best", filename="{step:06d}",
                                       monitor="val_loss", mode="min",
                                       save_top_k=f.ckpt_best_k))
    out.extend(ctx.extensions.lightning_callbacks)
    return out


def feature_loggers(ctx: RunContext) -> list[Any]:
    """Lightning's own loggers for the backends the cell asks for."""
    from pytorch_lightning import loggers

    folder = ctx.folder("logs")
    out: list[Any] = []
    for backend in ctx.features.log:
        if backend is LogBackend.TENSORBOARD:
            out.append(loggers.TensorBoardLogger(str(folder), name="tensorboard", version=""))
        elif backend is LogBackend.CSV:
            out.append(loggers.CSVLogger(str(folder), name="csv", version=""))
        elif backend is LogBackend.MLFLOW:
            out.append(loggers.MLFlowLogger(experiment_name="paradigm-bench",
                                            tracking_uri=mlflow_tracking_uri(folder)))
    if out:
        ctx.probe.events.log_dir = str(folder)
    return out
