"""The predict cell the worker runs: build the model, run the cell's path, return the figures.

The figures mirror a training cell's where they mean the same: ``step_time_s`` is the mean
time per batch over the measured batches (so the matrix's adaptive stop and the overhead
statistics treat a predict cell group like a training one), ``items_per_s`` the throughput,
``first_batch_s`` the latency from the path's first call to its first prediction, ``memory``
the peaks after warm-up. The first batch's predictions are kept (a prefix, and a digest) so
that the paths can be checked to predict the same thing.
"""

from __future__ import annotations

import dataclasses
import os
from types import ModuleType
from typing import Any

from harness.config import CellConfig, DataPath, Paradigm
from harness.export import behaviour
from harness.export.runtimes import as_tensor
from harness.predict.context import Prediction
from harness.predict.data import prediction_loader
from harness.training.adapters import import_paradigm_module


def path_module(cfg: CellConfig) -> ModuleType:
    """The module that predicts for this cell: an artifact runtime, or the paradigm's loop."""
    if cfg.scenario.runtime:
        from harness.predict import artifacts

        return artifacts
    if cfg.paradigm is Paradigm.PLAIN:
        from harness.predict import plain

        return plain
    return import_paradigm_module(f"harness.predict.{cfg.paradigm.value}", cfg.paradigm)


def prediction(prepared: Any) -> Prediction:
    """The cell's prediction run, from the worker's prepared context (nothing trained)."""
    ctx = prepared.ctx
    cfg = ctx.cfg
    pinned = ctx.device.type == "cuda" and cfg.data is DataPath.HOST
    loader = prediction_loader(ctx.dataset, cfg.batch_size, cfg.total_steps,
                               workers=cfg.workers, pin_memory=pinned)
    return Prediction(cfg, ctx.workload, ctx.build_model().to(ctx.device), loader, ctx.device,
                      ctx.work_dir, ctx.idle_memory)


def cell_warnings(memory: Any, cfg: CellConfig) -> list[str]:
    out = []
    if memory.nvml_foreign_pids or memory.nvml_other_processes:
        out.append("another process used the GPU during this cell")
    cores = os.cpu_count()
    if cfg.device == "cpu" and cores and cfg.threads > cores:
        out.append(f"oversubscribed: {cfg.threads} thread(s) on {cores} cores")
    return out


def run(prepared: Any) -> dict[str, Any]:
    p = prediction(prepared)
    outputs = path_module(p.cfg).predict(p)
    cfg, probe = p.cfg, p.probe
    if probe.batches != cfg.total_steps or len(outputs) != cfg.total_steps:
        raise RuntimeError(f"{cfg.scenario.value} ({cfg.paradigm.value}) predicted "
                           f"{probe.batches} batches ({len(outputs)} outputs kept) of "
                           f"{cfg.total_steps}")
    timing = probe.timer.result()
    items = cfg.batch_size * p.workload.items_per_sample()
    first = as_tensor(outputs[0]).float()
    step = timing.step_time_s
    return {
        "step_time_s": step,
        "median_window_step_s": timing.median_window_step_s,
        "window_step_s": timing.window_step_s,
        "items_per_step": items,
        "item_name": p.workload.item_name,
        "items_per_s": items / step if step > 0 else float("nan"),
        "first_batch_s": timing.first_step_s,
        "memory": dataclasses.asdict(probe.memory.result),
        "predictions": {"batches": len(outputs), "first_sha256": behaviour.digest(first),
                        "first": behaviour.kept(first)},
        "path": p.cfg.scenario.runtime or p.cfg.paradigm.value,
        "warnings": cell_warnings(probe.memory.result, cfg),
    }
