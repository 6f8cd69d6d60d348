"""What a cell's probe and trackers measured, read out as plain data for its rank file: after
training (``measurements``), or after a failure (``partial``: nothing measured before it is
lost). Called by ``harness.launch.worker`` inside the cell's process; the heavier modules are
imported where they are used, so that the fork server's preloaded set stays what it was.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from collections.abc import Callable
from typing import Any

import torch


def measurements(ctx: Any, model: torch.nn.Module,
                 on_flops_counted: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Everything the probe and its trackers gathered, after training, as plain data
    (``on_flops_counted``: the worker's lifecycle mark, once the FLOP count is done)."""
    from harness.measure.environment import capture_runtime
    cfg, probe = ctx.cfg, ctx.probe
    timing = probe.timer.result()
    parity = probe.losses.result(model)  # before a FLOP count's extra step touches buffers
    if cfg.features.metrics:
        metric_evidence(ctx, model)  # before the FLOP count too: eval mode reads the buffers
    compiled = probe.compilation.result() if probe.compilation is not None else None
    flops, flops_on = step_flops(ctx, model)
    on_flops_counted()
    out = {
        "timing": dataclasses.asdict(timing),
        "memory": dataclasses.asdict(probe.memory.result),
        "disk": dataclasses.asdict(probe.disk.result),
        "parity": dataclasses.asdict(parity),
        "flops_per_step": flops,  # this rank's per-process batch, forward + backward
        "flops_counted_on": flops_on,  # "meta", or the device where meta could not run
        "extras": {k: v[-cfg.steps:] for k, v in probe.extras.items()},  # steady state only
        "events": _events(ctx),
        "items_per_sample": ctx.workload.items_per_sample(),
        "item_name": ctx.workload.item_name,
        "runtime": capture_runtime(),
        "compile": dataclasses.asdict(compiled) if compiled is not None else None,
    }
    if ctx.phases is not None:
        out["phases"] = dataclasses.asdict(
            ctx.phases.result(probe.first_step, cfg.warmup))
    if cfg.features.hook_delay_us:
        from harness.training.calibration import WAITED_S

        out["hook_delays"] = {"calls": len(WAITED_S),
                              "mean_s": statistics.fmean(WAITED_S) if WAITED_S else None}
    if probe.profiler is not None:
        code = ctx.phases.optimizer_step_code if ctx.phases else None
        steps = max(probe.ran - cfg.warmup, 0)
        out["attribution"] = dataclasses.asdict(probe.profiler.result(steps, code))
    return out


def metric_evidence(ctx: Any, model: torch.nn.Module) -> None:
    """The metric calls' costs, the last scored training batch's predictions, and (rank 0) the
    trained model's predictions on every rank's validation shard: what the reference values
    are computed from, after the run."""
    from harness.training.features.metrics import final_predictions

    events, cfg = ctx.probe.events, ctx.cfg
    events.metric_costs = dataclasses.asdict(ctx.probe.metric_clock.costs)
    if ctx.probe.scored_batch is not None:  # the last training batch the step metrics scored
        logits, targets = ctx.probe.scored_batch
        events.step_predictions = {"pred": logits.argmax(dim=-1).tolist(),
                                   "target": targets.tolist()}
    if ctx.rank == 0 and cfg.features.scores_validation:
        events.metric_predictions = final_predictions(
            ctx.workload, on_device(model, ctx.device), ctx.workload.build_val_dataset(),
            cfg.batch_size, ctx.world_size, ctx.device, ctx.amp.autocast)


def step_flops(ctx: Any, model: torch.nn.Module) -> tuple[int, str]:
    """FLOPs of one step on one per-process batch, and where they were counted: on the meta
    device where the workload runs there, else on the trained model and a real batch."""
    from harness.measure.flops import count_step_flops, count_step_flops_on_meta
    from harness.training.data import build_loader, to_device

    # one batch for the FLOP count: no worker processes needed for it
    batch = next(iter(build_loader(ctx.dataset, ctx.cfg.batch_size, ctx.cfg.seed)))
    try:
        return count_step_flops_on_meta(ctx.workload, batch), "meta"
    except Exception as exc:  # an op without a meta kernel, a data-dependent .item(), ...
        print(f"[harness] FLOPs counted on the real model: meta failed ({exc!r:.200})",
              file=sys.stderr)
    batch = to_device(batch, ctx.device)
    model = on_device(model, ctx.device)
    return count_step_flops(ctx.workload, model, batch, ctx.amp), ctx.device.type


def on_device(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The trained model back on the cell's device: Lightning's strategy teardown moves the
    module to the CPU after ``fit()`` on a GPU, and the FLOP count's batch is on the GPU."""
    return model.to(device)  # a no-op where it already is


def _events(ctx: Any) -> dict[str, Any]:
    from harness.measure.events import checkpoint_files
    from harness.training.data import data_passes

    events = ctx.probe.events
    events.checkpoints = checkpoint_files(ctx.work_dir / "ckpt")
    if ctx.train_loader is not None:
        events.data_passes = data_passes(ctx.train_loader)
        events.batches_per_epoch = len(ctx.train_loader)
    return dataclasses.asdict(events)


def partial(ctx: Any) -> dict[str, Any]:
    """What a failed run measured before it failed: steps, timing windows, losses, events."""
    probe = ctx.probe
    try:
        probe.finish()
    except Exception as exc:  # a broken device must not hide what was measured before
        print(f"[harness] reading peaks after the failure failed: {exc}", file=sys.stderr)
    out = {"steps_done": probe.step, "timing": dataclasses.asdict(probe.timer.result()),
           "losses": probe.losses.values(), "memory": dataclasses.asdict(probe.memory.result),
           "events": dataclasses.asdict(probe.events)}
    if ctx.phases is not None:
        out["phases"] = dataclasses.asdict(
            ctx.phases.result(probe.first_step, ctx.cfg.warmup))
    if probe.compilation is not None:  # a compile that failed still says what it had done
        out["compile"] = dataclasses.asdict(probe.compilation.result())
    return out
