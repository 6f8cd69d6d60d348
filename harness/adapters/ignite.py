"""PyTorch-Ignite: an Engine from ``create_supervised_trainer`` plus handlers.

Ignite's supervised trainer splits a step into ``model_fn`` (forward) and ``loss_fn``; the
workload's ``loss`` does both, so ``model_fn`` calls it and ``loss_fn`` passes it through.
``minimal`` replaces the default ``loss.item()`` output with the detached loss (no host sync);
``defaults`` keeps ``loss.item()`` and prints the loss every 50 iterations, as Ignite's
quick-start does. bf16, and fp16 on CPU, use a custom update step: Ignite's AMP step only
autocasts CUDA to fp16.
"""

from __future__ import annotations

from typing import Any

import ignite.distributed as idist
from ignite.engine import Engine, Events, create_supervised_trainer
from ignite.utils import convert_tensor
from torch import nn

from harness.adapters import LOG_EVERY
from harness.config import Precision, Profile
from harness.context import DDP_KWARGS, RunContext
from harness.data import set_loader_epoch


def _custom_amp_trainer(ctx: RunContext, net: nn.Module, optimizer: Any, output: Any) -> Engine:
    scaler = ctx.amp.make_scaler()

    def update(engine: Engine, batch: Any) -> Any:
        optimizer.zero_grad()
        net.train()
        batch = convert_tensor(batch, ctx.device, non_blocking=True)
        with ctx.amp.autocast():
            loss = ctx.workload.loss(net, batch)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        return output(None, None, None, loss)

    return Engine(update)


def _make_trainer(ctx: RunContext, net: nn.Module, optimizer: Any) -> Engine:
    defaults = ctx.cfg.profile is Profile.DEFAULTS
    output = (lambda x, y, y_pred, loss: loss.item()) if defaults else (
        lambda x, y, y_pred, loss: loss.detach()
    )
    precision, cuda = ctx.cfg.precision, ctx.device.type == "cuda"
    if precision is Precision.BF16_MIXED or (precision is Precision.FP16_MIXED and not cuda):
        return _custom_amp_trainer(ctx, net, optimizer, output)
    fp16 = precision is Precision.FP16_MIXED
    return create_supervised_trainer(
        net,
        optimizer,
        loss_fn=lambda loss, _: loss,
        device=ctx.device,
        non_blocking=True,
        prepare_batch=lambda batch, device, non_blocking: (
            convert_tensor(batch, device, non_blocking),
            None,
        ),
        model_fn=lambda model, batch: ctx.workload.loss(model, batch),
        output_transform=output,
        amp_mode="amp" if fp16 else None,
        scaler=fp16,
    )


def _train(local_rank: int, ctx: RunContext) -> nn.Module:
    model = ctx.build_model()
    if ctx.distributed:
        net = idist.auto_model(model, **DDP_KWARGS)  # moves to the device and wraps in DDP
    else:
        net = model.to(ctx.device)  # auto_model would pick DataParallel on a multi-GPU host
    optimizer = ctx.workload.build_optimizer(model.parameters())
    loader = ctx.build_loader()
    trainer = _make_trainer(ctx, net, optimizer)
    probe = ctx.probe
    trainer.add_event_handler(
        Events.EPOCH_STARTED, lambda e: set_loader_epoch(loader, e.state.epoch - 1)
    )
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: probe.step_end(e.state.output))
    if ctx.cfg.profile is Profile.DEFAULTS and ctx.rank == 0:

        @trainer.on(Events.ITERATION_COMPLETED(every=LOG_EVERY))
        def log_training_loss(engine: Engine) -> None:
            print(f"Epoch[{engine.state.epoch}] Loss: {engine.state.output:.2f}", flush=True)

    trainer.run(loader, max_iters=ctx.cfg.total_steps)
    return model


def train(ctx: RunContext) -> nn.Module:
    if not ctx.distributed:
        return _train(0, ctx)
    result: list[nn.Module] = []
    with idist.Parallel(backend=ctx.backend, timeout=ctx.collective_timeout) as parallel:
        parallel.run(lambda local_rank: result.append(_train(local_rank, ctx)))
    return result[0]
