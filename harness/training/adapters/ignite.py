"""PyTorch-Ignite: an Engine from ``create_supervised_trainer`` plus handlers.

Ignite's supervised trainer splits a step into ``model_fn`` (forward) and ``loss_fn``; the
workload's ``loss`` does both, so ``model_fn`` calls it and ``loss_fn`` passes it through.
``minimal`` replaces the default ``loss.item()`` output with the detached loss (no host sync);
``defaults`` keeps ``loss.item()`` and prints the loss every 50 iterations, as Ignite's
quick-start does. Gradient accumulation uses the supervised trainer's own
``gradient_accumulation_steps`` on one process.

Mixed precision stays on the supervised trainer, so that an AMP speedup compares one step
implementation with itself: ``model_fn`` runs the workload's loss inside the harness's shared
autocast policy (bf16, or fp16 with the weight-cast cache off); fp16 adds Ignite's own
``amp_mode="amp"`` with the harness's GradScaler, whose outer fp16 autocast the inner policy
overrides for the whole forward. Where the supervised trainer cannot do what the cell asks, the
adapter writes its own update function, which is what Ignite's documentation recommends for
anything custom: gradient clipping (no argument for it) and accumulation under DDP (the
supervised trainer does not skip the gradient all-reduce on non-final micro-batches).
Features are handlers (``harness.training.adapters.ignite_parts``). With metrics on training
steps, ``model_fn`` returns the workload's ``loss_with_logits`` (one forward), ``loss_fn``
takes its loss, and the output is ``{"loss", "logits", "y"}`` for the metrics attached to the
trainer (``parts.loss_of`` reads the loss back for the other handlers).
"""

from __future__ import annotations

import math
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events, create_supervised_trainer
from ignite.handlers import Checkpoint
from ignite.utils import convert_tensor
from torch import nn

from harness.config import Precision, Profile
from harness.training.adapters import LOG_EVERY
from harness.training.adapters import ignite_parts as parts
from harness.training.calibration import busy_wait
from harness.training.compile import model_region
from harness.training.context import DDP_KWARGS, RunContext, gradient_sync
from harness.training.data import set_loader_epoch
from harness.training.features.metrics import step_loss
from harness.workload import LossWithLogits


def _custom_update(ctx: RunContext, net: nn.Module, model: nn.Module, optimizer: Any,
                   scaler: torch.amp.GradScaler | None, output: Any) -> Engine:
    """The supervised step written out: clipping, accumulation with no_sync (and the AMP
    policy, the same as the supervised trainer's)."""
    f = ctx.features
    k = f.accumulate
    forward = _forward(ctx)

    def update(engine: Engine, batch: Any) -> Any:
        first, last = (engine.state.iteration - 1) % k == 0, engine.state.iteration % k == 0
        if first:
            optimizer.zero_grad()
        net.train()
        batch = convert_tensor(batch, ctx.device, non_blocking=True)
        with gradient_sync(net, sync=last):
            with ctx.amp.autocast():
                y_pred = forward(net, batch)
            loss = _loss_in(y_pred)
            scaled = loss / k if k > 1 else loss
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
        if last:
            if f.clip_norm:
                if scaler is not None:
                    scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), f.clip_norm)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
        return output(None, None, y_pred, loss)

    return Engine(update)


def _needs_custom_update(ctx: RunContext) -> bool:
    f = ctx.features
    return bool(f.clip_norm) or (f.accumulate > 1 and ctx.distributed)


def _forward(ctx: RunContext) -> Any:
    """``model_fn``: the workload's loss, or with metrics on training steps its loss with the
    logits (``step_loss``: one forward)."""
    if not ctx.features.scores_training_steps:
        return lambda model, batch: ctx.workload.loss(model, batch)
    return lambda model, batch: step_loss(ctx.probe, ctx.workload, model, batch)


def _loss_in(y_pred: Any) -> torch.Tensor:
    """The loss in what ``model_fn`` returned (the loss itself, or the loss with logits)."""
    return y_pred.loss if isinstance(y_pred, LossWithLogits) else y_pred


def _output(ctx: RunContext) -> Any:
    """The trainer's output: the loss (``loss.item()`` in ``defaults``, else detached), with
    the logits and targets for the trainer's metrics when they score training steps. y_pred is
    what ``model_fn`` returned: the workload's own loss, before any accumulation scaling."""
    defaults = ctx.cfg.profile is Profile.DEFAULTS
    if not ctx.features.scores_training_steps:  # one call per step, as a user writes it
        return (lambda x, y, y_pred, loss: y_pred.item()) if defaults else (
            lambda x, y, y_pred, loss: y_pred.detach())
    read = (lambda loss: loss.item()) if defaults else (lambda loss: loss.detach())
    return lambda x, y, y_pred, loss: {"loss": read(y_pred.loss), "logits": y_pred.logits,
                                       "y": y_pred.targets}


def _make_trainer(ctx: RunContext, net: nn.Module, model: nn.Module, optimizer: Any,
                  scaler: torch.amp.GradScaler | None) -> Engine:
    output = _output(ctx)
    if _needs_custom_update(ctx):
        return _custom_update(ctx, net, model, optimizer, scaler, output)
    forward = _forward(ctx)

    def mixed_loss(model: nn.Module, batch: Any) -> Any:
        with ctx.amp.autocast():
            return forward(model, batch)

    mixed = ctx.cfg.precision is not Precision.FP32
    return create_supervised_trainer(
        net,
        optimizer,
        # the bare cell's loss_fn as before: the loss passes through, unchecked
        loss_fn=(lambda y_pred, _: y_pred.loss) if ctx.features.scores_training_steps else (
            lambda loss, _: loss),
        device=ctx.device,
        non_blocking=True,
        prepare_batch=lambda batch, device, non_blocking: (
            convert_tensor(batch, device, non_blocking),
            None,
        ),
        model_fn=mixed_loss if mixed else forward,
        output_transform=output,
        gradient_accumulation_steps=ctx.features.accumulate,
        amp_mode="amp" if scaler is not None else None,  # fp16: Ignite's scaler path
        scaler=scaler if scaler is not None else False,
    )


def _attach_features(ctx: RunContext, trainer: Engine, net: nn.Module,
                     to_save: dict[str, Any], scheduler: Any) -> list[Any]:
    """Every feature handler the cell asks for; returns the loggers to close at the end."""
    f = ctx.features
    if scheduler is not None:
        parts.attach_scheduler(ctx, trainer, scheduler)
    if f.validates:
        parts.attach_validation(ctx, trainer, net, to_save)
    if f.ckpt_every:
        parts.attach_checkpoints(ctx, trainer, to_save)
    if f.progress_bar and ctx.rank == 0:
        parts.attach_progress_bar(trainer)
    return parts.attach_loggers(ctx, trainer) if f.log and ctx.rank == 0 else []


def _attach_probe(ctx: RunContext, trainer: Engine, loader: Any) -> None:
    probe, k, f = ctx.probe, ctx.features.accumulate, ctx.features
    per_epoch, last = len(loader), ctx.cfg.total_steps
    trainer.add_event_handler(
        Events.EPOCH_STARTED, lambda e: set_loader_epoch(loader, e.state.epoch - 1)
    )

    def step_end(engine: Engine) -> None:
        probe.step_end(parts.loss_of(engine.state.output))
        # The probe's handler ends the run, the same way on every release (``_run``): a last
        # step that falls mid-epoch terminates it there, as ``max_iters`` would; one at an
        # epoch end is the last epoch's (EPOCH_COMPLETED fires, as it does under max_iters).
        if probe.step >= last and engine.state.iteration % per_epoch:
            engine.terminate()

    trainer.add_event_handler(parts.every_step(k), step_end)
    if f.hook_delay_us:
        trainer.add_event_handler(parts.every_step(k), lambda e: (
            busy_wait(f.hook_delay_us) if f.delays(probe.step) else None))
    if ctx.cfg.profile is Profile.DEFAULTS and ctx.rank == 0:

        @trainer.on(Events.ITERATION_COMPLETED(every=LOG_EVERY))
        def log_training_loss(engine: Engine) -> None:
            print(f"Epoch[{engine.state.epoch}] Loss: {parts.loss_of(engine.state.output):.2f}",
                  flush=True)


def _run(trainer: Engine, loader: Any, iterations: int) -> None:
    """``trainer.run`` for exactly ``iterations`` iterations: enough whole epochs, ended after
    the last step by the probe's handler (``_attach_probe``). Not ``max_iters``, which only
    Ignite 0.5.4 and later have: older releases would need an extra terminating handler,
    which Ignite evaluates on every iteration (about 4.5 us each on a bare engine), and
    `nox -s versions` would time that harness code as a difference between releases."""
    trainer.run(loader, max_epochs=math.ceil(iterations / len(loader)))


def _train(local_rank: int, ctx: RunContext) -> nn.Module:
    f = ctx.features
    model = ctx.build_model()
    region = model_region(ctx.cfg, model)  # torch.compile(model) in a compiled cell
    if ctx.distributed:
        net = idist.auto_model(region, **DDP_KWARGS)  # moves to the device and wraps in DDP
    else:
        net = region.to(ctx.device)  # auto_model would pick DataParallel on a multi-GPU host
    optimizer = ctx.workload.build_optimizer(model.parameters())
    scheduler = (ctx.workload.build_scheduler(optimizer, ctx.optimizer_steps)
                 if f.scheduler else None)
    scaler = ctx.make_scaler()
    loader = ctx.build_loader()
    trainer = _make_trainer(ctx, net, model, optimizer, scaler)
    to_save: dict[str, Any] = {"model": model, "optimizer": optimizer, "trainer": trainer}
    to_save.update({name: obj for name, obj in
                    (("lr_scheduler", scheduler), ("scaler", scaler)) if obj is not None})
    if f.scores_training_steps:  # before the probe's handler: inside the step it times
        parts.attach_step_metrics(ctx, trainer)
    _attach_probe(ctx, trainer, loader)
    opened = _attach_features(ctx, trainer, net, to_save, scheduler)
    if f.resume_from:
        Checkpoint.load_objects(to_load=to_save, checkpoint=f.resume_from)
        ctx.probe.resume_at(trainer.state.iteration // f.accumulate)
    try:
        _run(trainer, loader, ctx.cfg.total_steps * f.accumulate)
    finally:
        for handle in opened:
            handle.close()
    if f.scores_training_steps:  # what Ignite computed for the last training batch
        ctx.probe.events.step_scored(ctx.probe.step, parts.step_values(trainer))
    return model


def train(ctx: RunContext) -> nn.Module:
    if not ctx.distributed:
        return _train(0, ctx)
    result: list[nn.Module] = []
    with idist.Parallel(backend=ctx.backend, timeout=ctx.collective_timeout) as parallel:
        parallel.run(lambda local_rank: result.append(_train(local_rank, ctx)))
    return result[0]
