"""Fabricated run folders, in the shape harness.launch.runner and harness.matrix.matrix write them.

Nothing here trains: records are built from a few numbers with a seeded generator, so tests
that render reports stay fast and deterministic. ``fake_record`` mirrors
``runner.run_cell`` + ``aggregate.aggregate``; ``write_run`` mirrors ``matrix.execute``.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.analyse.aggregate import warnings_for
from harness.config import CellConfig, Paradigm
from harness.results import SCHEMA_VERSION, record_path, write_json_atomic

HOSTILE = "</script><img src=x onerror=alert(1)>"
HOSTILE_WARNING = '<script>alert("warned")</script> check & compare'
ITEMS_PER_SAMPLE = {"gpt": 128}
ITEM_NAME = {"gpt": "tokens"}
IMPORT_FRAMEWORK_S = {"plain": 0.002, "lightning": 0.75, "ignite": 0.3}

ENVIRONMENT: dict[str, Any] = {
    "python": "3.11.9",
    "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
    "hostname": "bench-host",
    "cpu": "AMD EPYC 7B13",
    "cpu_count": 4,
    "cpu_count_physical": 2,
    "memory_bytes": 16 * 2**30,
    "packages": {"torch": "2.5.1", "pytorch-lightning": "2.5.0", "pytorch-ignite": "0.5.1",
                 "numpy": "2.1.3", "nvidia-ml-py": None},
    "git_commit": "8c37af9d6a1e4b4f0c2b1e1f3d6a7b8c9d0e1f2a",
    "git_dirty": True,
    "gpus": [],
    "driver": None,
    "env": {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "0"},
}


def cell(workload: str = "mlp", paradigm: str = "plain", **overrides: Any) -> CellConfig:
    """A CPU cell config with small, valid settings (enum fields may be given as strings)."""
    settings: dict[str, Any] = dict(workload=workload, paradigm=paradigm, size="tiny",
                                    batch_size=32, steps=40, warmup=4, window=10, threads=1)
    settings.update(overrides)
    return CellConfig.from_dict(settings)


def _rng(cfg: CellConfig, repetition: int, salt: str = "") -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{cfg.key}/{repetition}/{salt}".encode()))


def fake_losses(cfg: CellConfig, perturb: float = 0.0) -> list[float]:
    """A decaying loss curve that depends on the workload and seed only, not the paradigm."""
    group = cfg.replace(paradigm=Paradigm.PLAIN)
    noise = _rng(group, 0, "loss").normal(0, 0.03, cfg.total_steps)
    base = [2.3 * math.exp(-i / 25) + 0.2 + n for i, n in enumerate(noise)]
    return [v * (1 + perturb * math.sin(i)) for i, v in enumerate(base)]


def fake_record(
    cfg: CellConfig,
    repetition: int = 0,
    step_time_s: float = 0.005,
    *,
    noise: float = 0.02,
    status: str = "ok",
    message: str | None = None,
    loss_perturb: float = 0.0,
    cuda_memory: bool = False,
    flops_per_step: float | None = None,
    peak_flops: float | None = None,
    energy_per_item_j: float | None = None,
    lightning_sync_s: float | None = None,
    extra_warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """One record as ``runner.run_cell`` writes it; failures carry a traceback and log tail.

    ``peak_flops`` stands for the device peak ``aggregate`` looks up (None: unknown device);
    warnings are ``aggregate.warnings_for``'s, for ``ENVIRONMENT``, plus ``extra_warnings``.
    """
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "key": cfg.key,
        "repetition": repetition,
        "node_rank": 0,
        "config": cfg.to_dict(),
        "environment": ENVIRONMENT,
        "started_at": "2025-01-01T12:00:00+00:00",
        "ranks": [],
    }
    rng = _rng(cfg, repetition)
    if status != "ok":
        record.update(
            status=status, process_wall_s=3.0 + rng.uniform(0, 1), failed_rank=0,
            error_type="RuntimeError", message=message or "rank 0: RuntimeError: boom",
            traceback_tail=("Traceback (most recent call last):\n  File \"worker.py\", line 9, "
                            f"in run\nRuntimeError: {message or 'boom'}"),
            log_tail=f"[harness] rank 0: RuntimeError: {message or 'boom'}",
        )
        return record
    n_windows = cfg.steps // cfg.window
    windows = list(step_time_s * (1 + rng.normal(0, noise, n_windows)))
    step = statistics.fmean(windows)
    items = cfg.batch_size * cfg.world_size * ITEMS_PER_SAMPLE.get(cfg.workload, 1)
    startup = {
        "import_torch_s": 1.1 + rng.uniform(0, 0.1),
        "import_framework_s": IMPORT_FRAMEWORK_S.get(cfg.paradigm.value, 0.1) * rng.uniform(1, 1.1),
        "to_first_step_s": 0.2 + (0.4 if cfg.paradigm is Paradigm.LIGHTNING else 0.05),
    }
    startup["spawn_to_first_step_s"] = sum(startup.values()) + 0.15
    memory: dict[str, Any] = {
        "host_rss_bytes": int(400e6), "host_peak_rss_bytes": int(420e6 + 30e6 * rng.random()),
        "host_peak_is_steady": True, "cuda_max_allocated_bytes": None,
        "cuda_max_reserved_bytes": None, "nvml_used_peak_bytes": None, "nvml_used_samples": [],
        "nvml_foreign_pids": [], "power_w_samples": [], "energy_j": None,
    }
    if cuda_memory:
        memory.update(cuda_max_allocated_bytes=int(1.5e9), cuda_max_reserved_bytes=int(2e9),
                      nvml_used_peak_bytes=int(2.4e9))
    losses = fake_losses(cfg, loss_perturb)
    digest = hashlib.sha256(repr(losses).encode()).hexdigest()
    achieved = flops_per_step / step if flops_per_step else None
    sync = {"lightning_ddp_sync_s": lightning_sync_s} if lightning_sync_s is not None else {}
    record.update(
        status="ok",
        process_wall_s=startup["spawn_to_first_step_s"] + step * cfg.total_steps + 0.4,
        measurements={
            "world_size": cfg.world_size,
            "ranks_here": list(range(cfg.local_world_size)),
            "step_time_s": step,
            "median_window_step_s": statistics.median(windows),
            "window_step_s": windows,
            "step_host_s": list(step * (1 + rng.normal(0, noise, cfg.steps))),
            "items_per_step": items,
            "item_name": ITEM_NAME.get(cfg.workload, "samples"),
            "items_per_s": items / step,
            "flops_per_step": flops_per_step,
            "achieved_flops": achieved,
            "peak_flops": peak_flops,
            "mfu": achieved / peak_flops if achieved and peak_flops else None,
            "energy_per_item_j": energy_per_item_j,
            "framework_sync_s": sync,
            "startup": startup,
            "memory": {k: memory[k] for k in ("host_peak_rss_bytes", "cuda_max_allocated_bytes",
                                              "cuda_max_reserved_bytes", "nvml_used_peak_bytes",
                                              "energy_j")},
            "memory_per_rank": [memory],
            "losses": losses,
            "weights_sha256": digest,
            "ranks_agree": True,
            "foreign_gpu_pids": [],
            "runtime": {"torch": "2.5.1", "cuda": None, "cudnn": None, "threads": cfg.threads,
                        "cuda_available": False},
        },
    )
    record["warnings"] = [*warnings_for(record["measurements"], cfg, ENVIRONMENT),
                          *extra_warnings]
    return record


def write_run(
    run_dir: Path,
    records: Iterable[dict[str, Any]],
    manifest: bool | dict[str, Any] = True,
    suite: str = "fixture",
) -> Path:
    """Write records into ``run_dir/cells`` and, unless ``manifest`` is False, a manifest.

    A dict ``manifest`` is written as given (to fabricate partial or odd manifests).
    """
    records = list(records)
    for r in records:
        write_json_atomic(record_path(run_dir, r["key"], r["repetition"]), r)
    if manifest is True:
        statuses: dict[str, int] = {}
        for r in records:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        cells = {r["key"]: r["config"] for r in records}
        manifest = {
            "schema_version": SCHEMA_VERSION, "suite": suite,
            "repetitions": 1 + max((r["repetition"] for r in records), default=0),
            "cells": list(cells.values()), "environment": ENVIRONMENT,
            "started_at": "2025-01-01T12:00:00+00:00", "state": "finished",
            "ran": len(records), "skipped_done": 0, "statuses": statuses,
            "wall_s": sum(r["process_wall_s"] for r in records) + 1.5,
            "cell_process_wall_s": [r["process_wall_s"] for r in records],
        }
    if manifest:
        write_json_atomic(run_dir / "manifest.json", manifest)
    return run_dir


# Step time per paradigm as a multiple of the plain loop's, by workload: Lightning's loop
# overhead shows most on tiny models.
OVERHEAD = {"plain": 1.0, "lightning": 1.6, "ignite": 1.03}


def standard_records(
    workloads: Sequence[str] = ("mlp", "gpt"),
    repetitions: int = 3,
    paradigms: Sequence[str] = ("plain", "lightning", "ignite"),
    base_step_s: float = 0.001,
    **cell_overrides: Any,
) -> list[dict[str, Any]]:
    """Every (workload, paradigm, repetition): Lightning slower, Ignite close to plain, all
    three bitwise-identical in training."""
    out = []
    for w_i, workload in enumerate(workloads):
        for rep in range(repetitions):
            for paradigm in paradigms:
                cfg = cell(workload, paradigm, **cell_overrides)
                step = base_step_s * (1 + 5 * w_i) * OVERHEAD[paradigm]
                out.append(fake_record(cfg, rep, step))
    return out


def standard_run(run_dir: Path, **kwargs: Any) -> Path:
    """A finished run: two workloads, three paradigms, three repetitions, all ok."""
    return write_run(run_dir, standard_records(**kwargs))


def amp_records(
    fp32_step_s: float,
    mixed_step_s: dict[str, float],
    repetitions: int = 2,
    precision: str = "bf16-mixed",
    workload: str = "mlp",
    **cell_overrides: Any,
) -> list[dict[str, Any]]:
    """fp32 and mixed-precision cells of one config, without timing noise, so that each
    paradigm's speedup is exactly ``fp32_step_s / mixed_step_s[paradigm]``. Mixed-precision
    losses drift a little from the plain loop's (well within the bf16/fp16 tolerance)."""
    out = []
    for rep in range(repetitions):
        for paradigm, mixed in mixed_step_s.items():
            out.append(fake_record(cell(workload, paradigm, **cell_overrides), rep,
                                   fp32_step_s, noise=0.0))
            cfg = cell(workload, paradigm, precision=precision, **cell_overrides)
            out.append(fake_record(cfg, rep, mixed, noise=0.0,
                                   loss_perturb=0.0 if paradigm == "plain" else 1e-3))
    return out


def ddp_records(
    step_s: tuple[float, float] = (0.001, 0.00125),
    threads: tuple[int, int] = (2, 3),
    repetitions: int = 2,
    lightning_sync_s: float = 4e-4,
    paradigms: Sequence[str] = ("plain", "lightning", "ignite"),
    workload: str = "mlp",
    noise: float = 0.0,
    **cell_overrides: Any,
) -> list[dict[str, Any]]:
    """World sizes 1 and 2 of one config, without timing noise by default. A world-2 step
    covers twice the items, so every paradigm's efficiency is exactly ``step_s[0] / step_s[1]``
    (80% by default). Lightning reports its per-step DDP sync at world size 2; 2 processes x 3
    threads on the fixture's 4 cores is oversubscribed, and ``warnings_for`` says so."""
    out = []
    for rep in range(repetitions):
        for world, step, n_threads in zip((1, 2), step_s, threads):
            for paradigm in paradigms:
                cfg = cell(workload, paradigm, world_size=world, threads=n_threads,
                           **cell_overrides)
                sync = lightning_sync_s if paradigm == "lightning" and world > 1 else None
                out.append(fake_record(cfg, rep, step * OVERHEAD[paradigm], noise=noise,
                                       lightning_sync_s=sync))
    return out


# An H100 SXM's dense peaks (harness.measure.flops) and a plausible GPT step's FLOPs.
H100_PEAK = {"fp32": 67e12, "bf16-mixed": 989.4e12}
GPT_FLOPS_PER_STEP = 4e12


def showcase_records(repetitions: int = 5) -> list[dict[str, Any]]:
    """A varied run for looking at: bitwise, close and differing parity, an unstable cell,
    a paradigm that failed everywhere, a hostile workload name and warning, GPU cells with
    MFU and energy in fp32 and bf16 (a mixed-precision speedup), and a DDP world-size pair."""
    out = standard_records(("mlp",), repetitions, base_step_s=0.0009)
    out += ddp_records(step_s=(0.0009, 0.00115), repetitions=repetitions, noise=0.02,
                       batch_size=64)
    gpu = dict(device="cuda", steps=20, window=5)
    for rep in range(repetitions):
        # Lightning's bf16 repetitions drift apart (unstable); bf16 losses agree within
        # tolerance, fp32 ones within the GPU fp32 tolerance or bitwise.
        for paradigm, factor, perturb in (("plain", 1.0, 0.0),
                                          ("lightning", 1.12 + 0.2 * (rep % 3 - 1), 2e-3),
                                          ("ignite", 1.01, 1e-4)):
            for precision, step in (("bf16-mixed", 0.04 * factor),
                                    ("fp32", 0.092 * (1.12 if paradigm == "lightning"
                                                      else factor))):
                cfg = cell("gpt", paradigm, precision=precision, **gpu)
                out.append(fake_record(
                    cfg, rep, step, cuda_memory=True, flops_per_step=GPT_FLOPS_PER_STEP,
                    peak_flops=H100_PEAK[precision], energy_per_item_j=step * 520 / 4096,
                    loss_perturb=perturb if precision != "fp32" else perturb / 4))
        for paradigm in ("plain", "ignite"):
            cfg = cell(HOSTILE, paradigm, size="default")
            out.append(fake_record(cfg, rep, 0.0005 * (1.1 if paradigm == "ignite" else 1),
                                   loss_perturb=1e-5 if paradigm == "ignite" else 0.0,
                                   extra_warnings=[HOSTILE_WARNING] if paradigm == "ignite"
                                   else ()))
        out.append(fake_record(cell(HOSTILE, "lightning", size="default"), rep, status="error",
                               message=f"rank 0: ValueError: bad name {HOSTILE}"))
    return out
