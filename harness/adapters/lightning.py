"""PyTorch Lightning: a LightningModule around the workload, driven by a Trainer.

``minimal`` is ``Trainer(barebones=True)``, Lightning's own mode for measuring Trainer
overhead. ``defaults`` is what a new user gets: the Trainer's defaults (progress bar, logger,
checkpoint at each epoch end, model summary) and ``self.log`` of the loss.
"""

from __future__ import annotations

import os
import tempfile
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
        backend = "nccl" if ctx.device.type == "cuda" else "gloo"
        strategy = DDPStrategy(process_group_backend=backend, **DDP_KWARGS)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size))
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
        trainer.fit(module, train_dataloaders=loader)
    return model
