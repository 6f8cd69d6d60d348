"""PyTorch Lightning: a LightningModule around the workload, driven by a Trainer.

``minimal`` is ``Trainer(barebones=True)``, Lightning's own mode for measuring Trainer
overhead. ``defaults`` is what a new user gets: the Trainer's defaults (progress bar, logger,
checkpoint at each epoch end, model summary) and ``self.log`` of the loss.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.strategies import DDPStrategy
from torch import Tensor, nn

from harness.config import Precision, Profile
from harness.context import DDP_KWARGS, RunContext, StepProbe
from harness.precision import LIGHTNING_PRECISION, UnsupportedConfig
from harness.workload import Workload


class WorkloadModule(pl.LightningModule):
    def __init__(self, workload: Workload, model: nn.Module, log_loss: bool) -> None:
        super().__init__()
        self.workload, self.model, self.log_loss = workload, model, log_loss

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss = self.workload.loss(self.model, batch)
        if self.log_loss:
            self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> Any:
        return self.workload.build_optimizer(self.model.parameters())


class ProbeCallback(pl.Callback):
    def __init__(self, probe: StepProbe) -> None:
        self.probe = probe

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, outputs: Any, *_: Any) -> None:
        self.probe.step_end(outputs["loss"])


DDP_SYNC = "lightning_ddp_sync_s"


def _time_ddp_sync(trainer: pl.Trainer, sink: list[float]) -> None:
    """Time Lightning's per-step SIGTERM broadcast under DDP (>= 2.5.2; upstream issue 21487).

    Every training step Lightning broadcasts a one-element tensor from rank 0 and calls
    ``.item()`` on it: a collective plus a host-device sync that the other paradigms do not
    pay. Wrapping the method (two perf_counter calls per step) names and measures that cost.
    """
    loop = trainer.fit_loop.epoch_loop
    original = getattr(loop, "_broadcast_sigterm_tensor", None)
    if original is None:  # an older Lightning without the per-step broadcast
        return

    def timed() -> None:
        start = time.perf_counter()
        try:
            original()
        finally:
            sink.append(time.perf_counter() - start)

    loop._broadcast_sigterm_tensor = timed  # type: ignore[method-assign]


def train(ctx: RunContext) -> nn.Module:
    if ctx.cfg.precision is Precision.FP16_MIXED and ctx.device.type == "cpu":
        # Lightning would silently switch to bf16 here; refuse rather than compare unlike runs.
        raise UnsupportedConfig("Lightning runs fp16-mixed on CPU as bf16-mixed")
    defaults = ctx.cfg.profile is Profile.DEFAULTS
    model = ctx.build_model()
    module = WorkloadModule(ctx.workload, model, log_loss=defaults)
    loader = ctx.build_loader()
    strategy: Any = "auto"
    if ctx.distributed:
        strategy = DDPStrategy(process_group_backend=ctx.backend, timeout=ctx.collective_timeout,
                               **DDP_KWARGS)
    local_world = ctx.cfg.local_world_size
    with tempfile.TemporaryDirectory(prefix="pl-") as root:
        trainer = pl.Trainer(
            accelerator="gpu" if ctx.device.type == "cuda" else "cpu",
            devices=local_world,
            num_nodes=ctx.world_size // local_world,
            strategy=strategy,
            precision=LIGHTNING_PRECISION[ctx.cfg.precision],  # type: ignore[arg-type]
            max_steps=ctx.cfg.total_steps,
            max_epochs=-1,
            use_distributed_sampler=False,  # keep the shared sampler (fairness rule 3)
            callbacks=[ProbeCallback(ctx.probe)],
            default_root_dir=root,
            barebones=not defaults,
        )
        if ctx.distributed:
            _time_ddp_sync(trainer, ctx.probe.extras.setdefault(DDP_SYNC, []))
        trainer.fit(module, train_dataloaders=loader)
    return model
