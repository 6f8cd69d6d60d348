"""What an adapter is given: the workload, the config, the shared recipe, and the step probe.

Everything that must be identical across paradigms is built here, once, so that an adapter
only translates it into its framework's idiom: seeding right before the model is built
(fairness rule 2), the data loaders (rule 3), the AMP policy (rule 7), the DDP arguments
(rule 9), the folders features write to. Adapters call ``probe.step_end(loss)`` after every
optimizer step, ``probe.resume_at(step)`` when they restored a checkpoint, and report what
their features did through ``probe.events``. A scenario beside training (a hyper-parameter
search) adds its own framework objects through ``RunContext.extensions``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from harness.config import CellConfig, CompileMode, DataPath
from harness.measure.attribution import AttributionProfiler
from harness.measure.compilation import CompileTracker
from harness.measure.disk import DiskTracker
from harness.measure.events import FeatureEvents
from harness.measure.memory import IdleMemory, MemoryTracker
from harness.measure.metric_clock import MetricClock
from harness.measure.parity import LossRecorder
from harness.measure.phases import PhaseTimer
from harness.measure.timing import StepTimer
from harness.precision import AmpPolicy, UnsupportedConfig
from harness.training.compile import check_supported, uses_cuda_graphs
from harness.training.data import build_loader, build_val_loader, device_resident, epoch_sampler
from harness.training.features.logs import missing_backends
from harness.workload import Workload, metrics_workload_problem

# Passed verbatim to torch's DistributedDataParallel by every paradigm (fairness rule 9).
DDP_KWARGS: dict[str, Any] = {
    "broadcast_buffers": True,
    "find_unused_parameters": False,
    "gradient_as_bucket_view": False,
    "bucket_cap_mb": 25,
}


def gradient_sync(net: nn.Module, sync: bool) -> contextlib.AbstractContextManager[Any]:
    """DDP's gradient all-reduce on for this backward, or off (``no_sync``) for a non-final
    micro-batch of gradient accumulation; without DDP there is nothing to sync."""
    if sync or not isinstance(net, DistributedDataParallel):
        return contextlib.nullcontext()
    return net.no_sync()


def placed(dataset: Dataset, cfg: CellConfig, device: torch.device) -> Dataset:
    """The dataset where the cell's ``data`` setting wants it: as built (``host``), or its
    tensors copied to the device once, before any clock starts (``device``)."""
    if cfg.data is DataPath.HOST:
        return dataset
    resident = device_resident(dataset, device)
    if resident is None:
        raise UnsupportedConfig(
            f"data 'device' needs a plain TensorDataset; workload {cfg.workload!r} builds a "
            f"{type(dataset).__name__}, which may compute its samples: use data 'host'")
    return resident


@dataclass
class Extensions:
    """What a scenario beside training adds to a run, in each paradigm's own idiom (empty for
    a benchmark cell): e.g. a search's pruning integration. Each adapter uses only its list.

    - ``lightning_callbacks``: ``pl.Callback`` objects, passed to the Trainer after the
      features' callbacks;
    - ``ignite_validation``: functions ``(trainer, evaluator) -> None`` that attach handlers,
      called once the validation evaluator exists;
    - ``plain_validation``: the plain loop's hand-written hooks ``(step, metrics) -> None``,
      called after each validation pass.
    """

    lightning_callbacks: list[Any] = field(default_factory=list)
    ignite_validation: list[Callable[[Any, Any], None]] = field(default_factory=list)
    plain_validation: list[Callable[[int, dict[str, float]], None]] = field(
        default_factory=list)


class StepProbe:
    """The adapters' single call into the harness: ``step_end(loss)`` after each step.

    ``step`` counts optimizer steps globally: a run resumed from a checkpoint at step N starts
    at N (``resume_at``) and still ends at ``cfg.total_steps``; warm-up and timing windows
    count the steps this process ran.
    """

    def __init__(self, cfg: CellConfig, device: torch.device, phases: PhaseTimer | None,
                 idle_memory: IdleMemory | None = None) -> None:
        self.cfg = cfg
        self.step = 0
        self.first_step = 0  # the global step this process started from
        # framework-specific per-step samples (e.g. Lightning's DDP sync), name -> seconds
        self.extras: dict[str, list[float]] = {}
        self.phases = phases
        self.events = FeatureEvents()
        self.metric_clock = MetricClock(device) if cfg.features.metrics else None
        # the last training batch's (detached logits, targets) where metrics score the steps
        self.scored_batch: tuple[Tensor, Tensor] | None = None
        self.memory = MemoryTracker(device, idle_memory)
        self.disk = DiskTracker()
        self.losses = LossRecorder(copy=uses_cuda_graphs(cfg))
        self.profiler = AttributionProfiler() if cfg.profiler else None
        self.compilation = (CompileTracker(cfg.warmup, device)
                            if cfg.compile is not CompileMode.NONE else None)
        self.timer = StepTimer(cfg.warmup, cfg.window, device)  # starts the clock

    def resume_at(self, step: int) -> None:
        """The adapter restored a checkpoint taken after global step ``step``."""
        self.step = self.first_step = self.events.first_step = step
        if self.phases is not None:
            self.phases.resume_at(step)

    @property
    def ran(self) -> int:
        """Optimizer steps this process has run."""
        return self.step - self.first_step

    def step_end(self, loss: Tensor | float) -> None:
        self.step += 1
        if self.metric_clock is not None:  # the step's metric calls, summed (train-step)
            self.metric_clock.step_end()
        self.losses.record(loss)
        if self.phases is not None:
            self.phases.step_end(self.step)
        if self.compilation is not None:  # before the clock: its readings land in warm-up
            self.compilation.step_end(self.ran)
        if self.ran == self.cfg.warmup:  # before the clock: the resets land in warm-up time
            self.memory.reset()
            self.disk.reset()
        self.timer.step_end(self.ran)
        if self.ran == self.cfg.warmup and self.profiler:
            self.profiler.start()  # after the clock: starting it costs no measured step
        if self.step == self.cfg.total_steps:  # after the clock: read before any teardown
            self.finish()

    def finish(self) -> None:
        """Read the peaks and stop the profiler (the last step, an early stop or an error)."""
        if self.profiler:
            self.profiler.stop()
        self.memory.read()
        self.disk.read()

    @property
    def done(self) -> bool:
        return self.step >= self.cfg.total_steps or self.events.stopped_at is not None


@dataclass
class RunContext:
    cfg: CellConfig
    workload: Workload
    dataset: Dataset
    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    probe: StepProbe = field(init=False)

    work_dir: Path = field(default_factory=Path.cwd)  # the cell's own folder, on a real disk
    phases: PhaseTimer | None = None
    idle_memory: IdleMemory | None = None  # NVML's view before this process touched CUDA
    train_loader: DataLoader | None = field(default=None, init=False)  # the last one built
    extensions: Extensions = field(default_factory=Extensions)
    # what the paradigm trained as its user holds it, where that is not the returned model:
    # the LightningModule (its to_torchscript / to_onnx export it; ``harness.export``)
    trained: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.amp = AmpPolicy(self.cfg.precision, self.device.type)
        self.features = self.cfg.features
        check_supported(self.cfg, self.device)  # compile: CUDA graphs on CPU, no C++ compiler
        self._check_metrics()
        missing = missing_backends(b.value for b in self.features.log)
        if missing:
            raise UnsupportedConfig(f"log={'+'.join(missing)} needs its library, which is not "
                                    "installed: pip install 'paradigm-bench[loggers]'")

    def _check_metrics(self) -> None:
        f = self.features
        if not f.metrics:
            return
        problem = metrics_workload_problem(f, type(self.workload))
        if problem:
            raise UnsupportedConfig(problem)
        if self.distributed and self.sharded_validation and (f.early_stop_patience or
                                                             f.ckpt_best_k):
            # with metrics each rank validates its own shard: the ranks' losses differ, and a
            # stop or a kept checkpoint decided on them would differ between ranks
            raise UnsupportedConfig("metrics shard validation across ranks; early stopping "
                                    "and best-k checkpoints need every rank's same loss")

    def start_clock(self) -> StepProbe:
        """Create the probe (and so start the construction-to-first-step clock)."""
        self.probe = StepProbe(self.cfg, self.device, self.phases, self.idle_memory)
        return self.probe

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """The fp16 GradScaler (None otherwise), its per-step sync timed (``time_syncs_of``)."""
        scaler = self.amp.make_scaler()
        self.time_syncs_of(scaler)
        return scaler

    def time_syncs_of(self, scaler: torch.amp.GradScaler | None) -> None:
        """Time a GradScaler's per-step ``found_inf.item()`` as the sync phase (CUDA cells):
        the harness's scaler in plain and Ignite, the precision plugin's in Lightning."""
        if self.phases is not None:
            self.phases.attach_scaler(scaler)

    def build_model(self) -> nn.Module:
        """Seed, then build: every paradigm starts from the same weights."""
        torch.manual_seed(self.cfg.seed)
        return self.workload.build_model()

    def build_loader(self) -> DataLoader:
        loader = build_loader(
            self.dataset,
            self.cfg.batch_size,
            self.cfg.seed,
            rank=self.rank,
            world_size=self.world_size,
            workers=self.cfg.workers,
            pin_memory=self.pinned,
        )
        k = self.features.accumulate
        if len(loader) % k:
            # the three disagree on the leftover micro-batches of an epoch: Lightning steps on
            # a partial accumulation, Ignite carries it into the next epoch, a plain loop that
            # restarts its count per epoch drops it; no common behaviour to compare
            raise UnsupportedConfig(
                f"{len(loader)} batches per epoch is not a multiple of accumulate={k}: "
                "Lightning would step on a partial accumulation at each epoch end and Ignite "
                "carry it into the next epoch; choose a batch size whose epoch divides by k")
        sampler = epoch_sampler(loader)
        if sampler is not None:
            sampler.clock = lambda: self.probe.step
        if self.phases is not None:
            loader.on_fetch = self.phases.data_fetched
        self.train_loader = loader
        return loader

    def build_val_loader(self) -> DataLoader:
        """The validation loader (the whole set on every rank), or ``unsupported``."""
        dataset = self.workload.build_val_dataset()
        if dataset is None:
            raise UnsupportedConfig(f"workload {self.workload.name!r} defines no validation "
                                    "dataset (build_val_dataset)")
        shard = (self.rank, self.world_size) if self.sharded_validation else None
        return build_val_loader(placed(dataset, self.cfg, self.device), self.cfg.batch_size,
                                workers=self.cfg.workers, pin_memory=self.pinned, shard=shard)

    @property
    def sharded_validation(self) -> bool:
        """Metrics on validation: each rank validates its own shard (the padded set a
        ``DistributedSampler`` gives), every sample once at world size 1, as each paradigm's
        metric stack expects."""
        return self.features.scores_validation

    @property
    def pinned(self) -> bool:
        """Host batches bound for a GPU go through pinned memory (an asynchronous copy)."""
        return self.device.type == "cuda" and self.cfg.data is DataPath.HOST

    def folder(self, name: str) -> Path:
        """A folder for what a feature writes (checkpoints, metric logs), one per rank."""
        path = self.work_dir / (name if self.rank == 0 else f"{name}-rank{self.rank}")
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def optimizer_steps(self) -> int:
        """The optimizer steps the whole run makes (what a scheduler spans)."""
        return self.cfg.total_steps

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def backend(self) -> str:
        """The process-group backend, the same for every paradigm: NCCL on GPU, gloo on CPU."""
        return "nccl" if self.device.type == "cuda" else "gloo"

    @property
    def collective_timeout(self) -> dt.timedelta:
        """Process-group timeout, passed identically to every paradigm."""
        return dt.timedelta(seconds=self.cfg.collective_timeout_s)
