"""The baseline: a hand-written PyTorch loop, as the PyTorch tutorials write it."""

from __future__ import annotations

import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from harness.adapters import LOG_EVERY
from harness.config import Profile
from harness.context import DDP_KWARGS, RunContext
from harness.data import set_loader_epoch, to_device


def train(ctx: RunContext) -> nn.Module:
    if ctx.distributed:
        dist.init_process_group(ctx.backend, timeout=ctx.collective_timeout)
    model = ctx.build_model().to(ctx.device)
    net: nn.Module = model
    if ctx.distributed:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids, **DDP_KWARGS)
    optimizer = ctx.workload.build_optimizer(model.parameters())
    scaler = ctx.amp.make_scaler()
    loader = ctx.build_loader()
    probe, log = ctx.probe, ctx.cfg.profile is Profile.DEFAULTS and ctx.rank == 0

    net.train()
    epoch = 0
    while not probe.done:
        set_loader_epoch(loader, epoch)
        for batch in loader:
            batch = to_device(batch, ctx.device)
            optimizer.zero_grad(set_to_none=True)
            with ctx.amp.autocast():
                loss = ctx.workload.loss(net, batch)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            probe.step_end(loss)
            if log and probe.step % LOG_EVERY == 0:
                print(f"epoch {epoch} step {probe.step} loss {loss.item():.4f}", flush=True)
            if probe.done:
                break
        epoch += 1
    if ctx.distributed:
        # Free DDP's reducer while the process group lives: destroyed afterwards, the reducer
        # would tear down gloo's threads while holding the GIL they wait for (a deadlock).
        del net
        dist.destroy_process_group()
    return model
