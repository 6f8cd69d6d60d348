"""The baseline: a hand-written PyTorch loop, as the PyTorch tutorials write it.

With features on, the loop grows the way a careful engineer grows it: gradient accumulation
with ``no_sync`` on the non-final micro-batches, clipping after unscaling, the scheduler after
the optimizer, and after each step the pieces from ``harness.training.features.handwritten``
(metric logs, validation, early stopping, checkpoints). A resume restores everything a
checkpoint holds and skips the batches of the current epoch that were already trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from harness.config import Profile
from harness.training.adapters import LOG_EVERY
from harness.training.calibration import busy_wait
from harness.training.compile import model_region
from harness.training.context import DDP_KWARGS, RunContext, gradient_sync
from harness.training.data import epoch_sampler, set_loader_epoch, to_device
from harness.training.features import checkpoints
from harness.training.features.handwritten import (
    Checkpointer,
    EarlyStopping,
    MetricLogs,
    progress,
    validate,
)
from harness.training.features.metrics import HandMetrics, HandStepMetrics, as_floats, step_loss


@dataclass
class Training:
    """The objects of one run and where it stands (what a checkpoint saves)."""

    model: nn.Module
    net: nn.Module  # the model, or DDP around it
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    loader: DataLoader
    epoch: int = 0
    batches_in_epoch: int = 0  # micro-batches of the current epoch already trained on

    def state(self, step: int) -> dict[str, Any]:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "step": step, "epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch}
        if self.scheduler is not None:
            state["lr_scheduler"] = self.scheduler.state_dict()
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["lr_scheduler"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batches_in_epoch = state["epoch"], state["batches_in_epoch"]


class AfterStep:
    """Everything the loop does after an optimizer step, by hand: logs, validation, early
    stopping, checkpoints, and the calibration delay."""

    def __init__(self, ctx: RunContext, t: Training) -> None:
        self.ctx, self.t, f = ctx, t, ctx.features
        self.val_loader = ctx.build_val_loader() if f.validates else None
        self.early = (EarlyStopping(f.early_stop_patience, f.early_stop_min_delta)
                      if f.early_stop_patience else None)
        self.ckpt = (Checkpointer(ctx.folder("ckpt"), f)
                     if (f.ckpt_every or f.ckpt_best_k) and ctx.rank == 0 else None)
        self.logs = MetricLogs(ctx.folder("logs"), f.log) if f.log and ctx.rank == 0 else None
        self.metrics = (HandMetrics(f, ctx.workload.classes, ctx.device, ctx.probe.metric_clock,
                                    ctx.distributed)
                        if f.scores_validation else None)
        self.step_metrics = (HandStepMetrics(f, ctx.workload.classes, ctx.device,
                                             ctx.probe.metric_clock, ctx.distributed)
                             if f.scores_training_steps else None)
        if self.logs:
            ctx.probe.events.log_dir = str(ctx.folder("logs"))

    def __call__(self, step: int, loss: torch.Tensor, epoch_end: bool) -> None:
        f = self.ctx.features
        if f.delays(step):
            busy_wait(f.hook_delay_us)
        if self.logs and step % f.log_every == 0:
            self.logs.log(step, loss)
        if self.val_loader is not None and (
                (f.val_every and step % f.val_every == 0) or (f.val_epoch_end and epoch_end)):
            self._validate(step)
        if self.ckpt:
            self.ckpt.after_step(step, self.t.state(step))

    def _validate(self, step: int) -> None:
        ctx = self.ctx
        assert self.val_loader is not None
        metrics = validate(ctx.workload, self.t.net, self.val_loader, ctx.device,
                           ctx.amp.autocast, self.metrics.score if self.metrics else None)
        ctx.probe.events.validated(step, metrics)
        if self.metrics:
            ctx.probe.events.scored(step, self.metrics.compute())
        for hook in ctx.extensions.plain_validation:
            hook(step, metrics)
        if self.ckpt:
            self.ckpt.after_validation(step, metrics["loss"], self.t.state(step))
        if self.early and self.early.should_stop(metrics["loss"]) and not ctx.probe.done:
            ctx.probe.events.stopped_at = step

    def close(self) -> None:
        if self.logs:
            self.logs.close()
        if self.step_metrics and self.step_metrics.last:  # what the loop's user last read
            self.ctx.probe.events.step_scored(self.ctx.probe.step,
                                              as_floats(self.step_metrics.last))


def _build(ctx: RunContext) -> Training:
    model = ctx.build_model().to(ctx.device)
    net: nn.Module = model_region(ctx.cfg, model)  # torch.compile(model) in a compiled cell
    if ctx.distributed:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        net = DistributedDataParallel(net, device_ids=ids, **DDP_KWARGS)
    optimizer = ctx.workload.build_optimizer(model.parameters())
    scheduler = (ctx.workload.build_scheduler(optimizer, ctx.optimizer_steps)
                 if ctx.features.scheduler else None)
    return Training(model, net, optimizer, scheduler, ctx.make_scaler(), ctx.build_loader())


def _update(ctx: RunContext, t: Training) -> None:
    """Clip (after unscaling), step, update the scaler, step the scheduler."""
    if ctx.features.clip_norm:
        if t.scaler is not None:
            t.scaler.unscale_(t.optimizer)
        torch.nn.utils.clip_grad_norm_(t.model.parameters(), ctx.features.clip_norm)
    if t.scaler is not None:
        t.scaler.step(t.optimizer)
        t.scaler.update()
    else:
        t.optimizer.step()
    if t.scheduler is not None:
        t.scheduler.step()


def _micro_batch(ctx: RunContext, t: Training, batch: Any, first: bool, last: bool,
                 step_metrics: HandStepMetrics | None) -> torch.Tensor:
    """Forward and backward of one micro-batch; DDP syncs gradients on the last one only.
    With metrics on training steps, the forward's logits are scored after the backward."""
    k = ctx.features.accumulate
    if first:
        t.optimizer.zero_grad(set_to_none=True)
    with gradient_sync(t.net, sync=last):
        with ctx.amp.autocast():
            if step_metrics is None:
                loss = ctx.workload.loss(t.net, batch)
            else:
                loss, logits, targets = step_loss(ctx.probe, ctx.workload, t.net, batch)
        scaled = loss / k if k > 1 else loss
        if t.scaler is not None:
            t.scaler.scale(scaled).backward()
        else:
            scaled.backward()
    if step_metrics is not None:
        step_metrics.score(logits, targets)
    return loss


def _loop(ctx: RunContext, t: Training, after_step: AfterStep) -> None:
    probe, f = ctx.probe, ctx.features
    log = ctx.cfg.profile is Profile.DEFAULTS and ctx.rank == 0
    k = f.accumulate
    t.net.train()
    while not probe.done:
        set_loader_epoch(t.loader, t.epoch)
        for batch in progress(t.loader, t.epoch, f.progress_bar):
            t.batches_in_epoch += 1
            batch = to_device(batch, ctx.device)
            loss = _micro_batch(ctx, t, batch, first=t.batches_in_epoch % k == 1 or k == 1,
                                last=t.batches_in_epoch % k == 0,
                                step_metrics=after_step.step_metrics)
            if t.batches_in_epoch % k:
                continue
            _update(ctx, t)
            probe.step_end(loss)
            if log and probe.step % LOG_EVERY == 0:
                print(f"epoch {t.epoch} step {probe.step} loss {loss.item():.4f}", flush=True)
            after_step(probe.step, loss, epoch_end=t.batches_in_epoch == len(t.loader))
            if probe.done:
                return
        t.epoch, t.batches_in_epoch = t.epoch + 1, 0


def _resume(ctx: RunContext, t: Training) -> None:
    """Restore a plain checkpoint and skip what this epoch already trained on (exact resume)."""
    state = checkpoints.load(ctx.features.resume_from)
    t.restore(state)
    ctx.probe.resume_at(state["step"])
    sampler = epoch_sampler(t.loader)
    assert sampler is not None, "build_loader always gives an epoch sampler"
    sampler.skip_once(t.batches_in_epoch * ctx.cfg.batch_size)


def train(ctx: RunContext) -> nn.Module:
    if ctx.distributed:
        dist.init_process_group(ctx.backend, timeout=ctx.collective_timeout)
    t = _build(ctx)
    if ctx.features.resume_from:
        _resume(ctx, t)
    after_step = AfterStep(ctx, t)
    try:
        _loop(ctx, t, after_step)
    finally:
        after_step.close()
    if ctx.distributed:
        # Free DDP's reducer while the process group lives: destroyed afterwards, the reducer
        # would tear down gloo's threads while holding the GIL they wait for (a deadlock).
        del t.net
        dist.destroy_process_group()
    return t.model
