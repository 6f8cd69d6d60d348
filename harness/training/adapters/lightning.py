"""PyTorch Lightning: a LightningModule around the workload, driven by a Trainer.

``minimal`` is ``Trainer(barebones=True)``, Lightning's own mode for measuring Trainer
overhead. ``defaults`` is what a new user gets: the Trainer's defaults (progress bar, logger,
checkpoint at each epoch end, model summary) and ``self.log`` of the loss. Features need a
Trainer that is not barebones (barebones refuses checkpointing and ``self.log``), so a feature
cell switches each of barebones' conveniences off by hand (the same Trainer: barebones only
sets those flags and forbids ``self.log``) and then turns on what the cell asks for, through
Trainer flags and callbacks (``harness.training.adapters.lightning_parts``).
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.strategies import DDPStrategy
from torch import nn

from harness.config import Precision, Profile
from harness.measure.phases import PhaseTimer
from harness.precision import LIGHTNING_PRECISION, UnsupportedConfig
from harness.training.adapters.lightning_parts import WorkloadModule, callbacks, feature_loggers
from harness.training.compile import compiled, compiles_lightning_module, model_region
from harness.training.context import DDP_KWARGS, RunContext
from harness.training.features.logs import METRIC
from harness.training.features.metrics import STEP_PREFIX, as_floats

DDP_SYNC = "lightning_ddp_sync_s"


def _time_ddp_sync(trainer: pl.Trainer, ctx: RunContext) -> None:
    """Time Lightning's per-step SIGTERM broadcast under DDP (>= 2.5.2; upstream issue 21487).

    Every training step Lightning broadcasts a one-element tensor from rank 0 and calls
    ``.item()`` on it: a collective plus a host-device sync that the other paradigms do not
    pay. Wrapping the method (two perf_counter calls per step) names and measures that cost.
    On CPU it is framework work, and its host time is recorded per step as
    ``lightning_ddp_sync_s``. On CUDA the ``.item()`` waits for every kernel queued before it,
    so its host time is the GPU's backlog (the lost host/GPU overlap), not the broadcast: there
    it is timed as the sync phase (``PhaseTimer.timed_sync``), out of framework time.
    """
    loop = trainer.fit_loop.epoch_loop
    original = getattr(loop, "_broadcast_sigterm_tensor", None)
    if original is None:  # an older Lightning without the per-step broadcast
        return
    if ctx.device.type == "cuda":
        if ctx.phases is not None:
            loop._broadcast_sigterm_tensor = ctx.phases.timed_sync(original)  # type: ignore[method-assign]
        return
    sink = ctx.probe.extras.setdefault(DDP_SYNC, [])

    def timed() -> None:
        start = time.perf_counter()
        try:
            original()
        finally:
            sink.append(time.perf_counter() - start)

    loop._broadcast_sigterm_tensor = timed  # type: ignore[method-assign]


def _time_compiled_step(trainer: pl.Trainer, phases: PhaseTimer) -> None:
    """Lightning's documented compile puts the training step (the workload's loss in it)
    inside the compiled region, where no probe may go: time the strategy's call of that step
    from outside instead. The module's own ``training_step`` stays what ``fit`` made it, so
    that Lightning inspects, and fails on, exactly what a user's run does."""
    strategy = trainer.strategy
    strategy.training_step = phases.timed(strategy.training_step)  # type: ignore[method-assign]


def _feature_flags(ctx: RunContext) -> dict[str, Any]:
    """Trainer flags of a feature cell: barebones' switches off, then the cell's features."""
    f = ctx.features
    loggers = feature_loggers(ctx)
    flags: dict[str, Any] = dict(
        enable_checkpointing=bool(f.ckpt_every or f.ckpt_best_k), logger=loggers or False,
        enable_progress_bar=f.progress_bar, enable_model_summary=False,
        log_every_n_steps=f.log_every if loggers else 0,
        accumulate_grad_batches=f.accumulate,
    )
    if not f.validates:
        flags["num_sanity_val_steps"] = 0
    if f.clip_norm:
        flags.update(gradient_clip_val=f.clip_norm, gradient_clip_algorithm="norm")
    if f.val_every:  # counted in batches, globally (not per epoch): N optimizer steps
        flags.update(val_check_interval=f.val_every * f.accumulate, check_val_every_n_epoch=None)
    return flags


def _trainer(ctx: RunContext, root: str) -> pl.Trainer:
    strategy: Any = "auto"
    if ctx.distributed:
        strategy = DDPStrategy(process_group_backend=ctx.backend, timeout=ctx.collective_timeout,
                               **DDP_KWARGS)
    if ctx.cfg.profile is Profile.DEFAULTS:
        mode: dict[str, Any] = {}
    elif ctx.features.active():
        mode = _feature_flags(ctx)
    else:
        mode = {"barebones": True}
    local_world = ctx.cfg.local_world_size
    return pl.Trainer(
        accelerator="gpu" if ctx.device.type == "cuda" else "cpu",
        devices=local_world,
        num_nodes=ctx.world_size // local_world,
        strategy=strategy,
        precision=LIGHTNING_PRECISION[ctx.cfg.precision],  # type: ignore[arg-type]
        max_steps=ctx.cfg.total_steps,
        max_epochs=-1,
        use_distributed_sampler=False,  # keep the shared sampler (fairness rule 3)
        callbacks=callbacks(ctx),
        default_root_dir=root,
        **mode,
    )


def train(ctx: RunContext) -> nn.Module:
    if ctx.cfg.precision is Precision.FP16_MIXED and ctx.device.type == "cpu":
        # Lightning would silently switch to bf16 here; refuse rather than compare unlike runs.
        raise UnsupportedConfig("Lightning runs fp16-mixed on CPU as bf16-mixed")
    f = ctx.features
    model = ctx.build_model()
    log_name = METRIC if (ctx.cfg.profile is Profile.DEFAULTS or f.log) else None
    # a compiled cell: the model compiled inside the module (the fair region), or the whole
    # module compiled before fit (Lightning's documented way; fit unwraps it)
    module = WorkloadModule(ctx, model_region(ctx.cfg, model), log_name)
    ctx.trained = module
    fitted = compiled(ctx.cfg, module) if compiles_lightning_module(ctx.cfg) else module
    loader = ctx.build_loader()
    val_loader = ctx.build_val_loader() if f.validates else None
    trainer = _trainer(ctx, str(ctx.folder("lightning")))
    if compiles_lightning_module(ctx.cfg) and ctx.phases is not None:
        _time_compiled_step(trainer, ctx.phases)
    if ctx.distributed:
        _time_ddp_sync(trainer, ctx)
    ctx.time_syncs_of(getattr(trainer.precision_plugin, "scaler", None))  # fp16's GradScaler
    trainer.fit(fitted, train_dataloaders=loader, val_dataloaders=val_loader,
                ckpt_path=f.resume_from or None)
    if module.step_metrics is not None:  # what Lightning logged for the last training batch
        ctx.probe.events.step_scored(trainer.global_step, as_floats(
            {k.removeprefix(STEP_PREFIX): v for k, v in trainer.callback_metrics.items()
             if k.startswith(STEP_PREFIX)}))
    return model
