"""What cell processes cost on this host, measured by earlier runs and kept between them.

The plan (``harness.plan.plan``) estimates a run from these figures, never from constants:

- per cell key, the recent step times and *overheads* (a process's wall time minus the time of
  its steps, ``process_wall_s - total_steps x step_time_s``: spawn, imports, building, FLOP
  count, teardown), the first repetition of a compiled cell (a cold inductor cache) apart;
- per paradigm and world size, the overheads of every eager training cell without features
  (a cell never run here borrows its paradigm's; a validation or a checkpoint runs outside the
  counted steps, so a featured cell's overhead is its own, never its paradigm's);
- per workload shape, FLOPs per step (the records carry them; they do not depend on the host);
- the host's FLOP rate from a tiny timed matmul per device and precision, the time an
  interpreter takes to import
  torch and each paradigm's import on top of it, a fork that makes the fork server's pages its
  own, and each shape's set-up (data, model, optimizer, first steps, FLOP count): together the
  rough overhead used before any cell has run here.

Every finished (or interrupted) run adds its records (``update_from_records``), under a lock
(``locked``: ``flock`` on ``costs.json.lock`` beside the file) held from the load to the save,
so that two runs on one host (two terminals, a suite and ``nox -s hpo``, two nodes sharing a
home) never lose each other's figures. The file is
versioned JSON, one entry per host fingerprint (CPU model, cores, torch version, GPUs), at
``~/.cache/paradigm-bench/costs.json`` or where ``PARADIGM_BENCH_COST_CACHE`` says. Nothing
here imports torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import CellConfig, CompileMode, Scenario

CACHE_ENV = "PARADIGM_BENCH_COST_CACHE"
CACHE_VERSION = 2  # 2: overheads by launch path (forked, forked warm ("fork-warm"), spawned)
KEEP = 12  # samples kept per figure: recent enough to follow the host, enough for a median


def cache_path() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    return Path.home() / ".cache" / "paradigm-bench" / "costs.json"


def host_fingerprint() -> str:
    """CPU model, logical cores, torch version and GPUs: a change in any of them changes what
    a process costs, so each gets its own figures."""
    from harness.measure.environment import _cpu_model, _gpus, _version

    gpus = ",".join(sorted(str(g.get("name")) for g in _gpus()[0])) or "no GPU"
    return f"{_cpu_model()} | {os.cpu_count()} cores | torch {_version('torch')} | {gpus}"


def shape_of(cell: CellConfig) -> str:
    """What a step computes, whoever runs it: the key of FLOPs per step and of the step time
    a cell never run here borrows from one that was (same shape, any paradigm or features)."""
    return "|".join(str(v) for v in (
        cell.workload, cell.size, cell.batch_size, cell.precision.value, cell.device,
        cell.world_size, cell.threads, cell.compile.value, cell.scenario.value))


WARM_FORK = "fork-warm"  # forked from a server that has imported the paradigm: no import at all


def planned_launch(cell: CellConfig, warm: bool = False) -> str:
    """How this host will start ``cell``'s processes (``harness.launch.process``): spawned,
    forked from the bare server, or (``warm``) from its paradigm's warm server."""
    from harness.launch.process import FORK, path_for

    path = path_for(cell)
    return WARM_FORK if warm and path == FORK else path


def rate_key(cell: CellConfig) -> str:
    """The matmul rate a rough step of ``cell`` is priced at: its device's in its precision
    (a GPU multiplies bf16 and fp16 several times faster than fp32)."""
    return f"{cell.device}/{cell.precision.value}"


def startup_key(cell: CellConfig, launch: str | None = None) -> str:
    """Paradigm, world size, device and launch path: a forked process pays no torch import,
    a warm-forked one no framework import either."""
    launch = launch or planned_launch(cell)
    return f"{cell.paradigm.value}/w{cell.world_size}/{cell.device}/{launch}"


def cost_key(cell: CellConfig, launch: str | None = None) -> str:
    """A cell's figures by launch path: its overhead differs between forked and spawned."""
    return f"{cell.key}/{launch or planned_launch(cell)}"


def steps_in(cell: CellConfig) -> int:
    """The steps one repetition runs, in all its processes: warm-up and measured steps, and a
    resumed cell's first leg (to its resume point)."""
    return cell.total_steps + (cell.features.resume_at or 0)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _kept(values: list[float], new: Iterable[float]) -> list[float]:
    return [*values, *new][-KEEP:]


@dataclass(frozen=True)
class CellCost:
    """Recent figures of one cell key: step times, overheads (warm), cold-compile overheads."""

    shape: str
    step_s: list[float] = field(default_factory=list)
    overhead_s: list[float] = field(default_factory=list)
    cold_overhead_s: list[float] = field(default_factory=list)

    @property
    def step(self) -> float | None:
        return _median(self.step_s)

    @property
    def overhead(self) -> float | None:
        return _median(self.overhead_s)

    @property
    def cold_overhead(self) -> float | None:
        return _median(self.cold_overhead_s)


@dataclass(frozen=True)
class HostCosts:
    """Everything measured on one host (one fingerprint)."""

    cells: dict[str, CellCost] = field(default_factory=dict)
    startup_s: dict[str, list[float]] = field(default_factory=dict)  # startup_key -> overheads
    flops: dict[str, int] = field(default_factory=dict)  # shape -> FLOPs per step
    flop_rate: dict[str, float] = field(default_factory=dict)  # rate_key -> FLOP/s (CPU: 1 thread)
    torch_import_s: float | None = None
    framework_import_s: dict[str, float] = field(default_factory=dict)  # paradigm -> seconds
    cold_compile_s: dict[str, float] = field(default_factory=dict)  # shape -> the probe's
    probe_step_s: dict[str, float] = field(default_factory=dict)  # shape -> the probe's step
    probe_setup_s: dict[str, float] = field(default_factory=dict)  # shape -> its set-up
    fork_s: float | None = None  # a fork that makes the server's pages its own, to its exit

    def rough_startup(self, cell: CellConfig, warm: bool = False) -> float | None:
        """A process's overhead before any cell has run here, from the probe's figures: how
        it starts (spawned: the torch import, twice for a torchrun group whose launcher
        imports torch before its ranks; forked: the fork), the paradigm's framework
        import (not in a process forked ``warm``), and its shape's set-up (data, model,
        optimizer, first steps, FLOP count). A part the probe could not measure counts as 0
        (then it is a lower bound); None where neither import is known."""
        launch = planned_launch(cell, warm)
        framework = 0.0 if launch == WARM_FORK else self.framework_import_s.get(
            cell.paradigm.value)
        start = self.torch_import_s if launch == "spawn" else self.fork_s or 0.0
        if framework is None or start is None:
            return self.torch_import_s
        if launch == "spawn" and cell.world_size > 1:  # torchrun imports torch before its ranks
            start *= 2
        return start + framework + self.probe_setup_s.get(shape_of(cell), 0.0)

    def startup(self, cell: CellConfig, launch: str | None = None) -> float | None:
        """The overhead of this cell's paradigm and world size here; else any paradigm's
        started the same way (spawned, forked, or forked warm)."""
        key = startup_key(cell, launch)
        own = _median(self.startup_s.get(key, []))
        if own is not None:
            return own
        launch = key.rsplit("/", 1)[1]
        return _median([v for k, values in self.startup_s.items() if k.endswith(f"/{launch}")
                        for v in values])

    def own_step(self, cell: CellConfig) -> float | None:
        """This cell's step time here, however its processes started (a step does not depend
        on the launch path: a warm-forked repetition's figure prices a cold one, and back)."""
        return _median([s for launch in ("spawn", "fork", WARM_FORK)
                        for s in getattr(self.cells.get(cost_key(cell, launch)), "step_s", [])])

    def similar_step(self, cell: CellConfig) -> float | None:
        """The step time of a measured cell of the same shape (any paradigm, any features)."""
        shape = shape_of(cell)
        return _median([s for c in self.cells.values() if c.shape == shape for s in c.step_s])


@dataclass
class CostCache:
    """The cache file: one ``HostCosts`` per host fingerprint."""

    hosts: dict[str, HostCosts] = field(default_factory=dict)

    def host(self, fingerprint: str) -> HostCosts:
        return self.hosts.get(fingerprint) or HostCosts()

    def to_json(self) -> dict[str, Any]:
        return {"version": CACHE_VERSION,
                "hosts": {k: dataclasses.asdict(v) for k, v in self.hosts.items()}}

    @classmethod
    def from_json(cls, data: Any) -> CostCache:
        """The cache read back; anything of another version or shape reads as empty (it is a
        cache: the next run measures again)."""
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return cls()
        try:
            return cls({name: _host_from(h) for name, h in data["hosts"].items()})
        except (KeyError, TypeError, ValueError, AttributeError):
            return cls()


def _host_from(data: dict[str, Any]) -> HostCosts:
    cells = {k: CellCost(str(c["shape"]), [float(x) for x in c["step_s"]],
                         [float(x) for x in c["overhead_s"]],
                         [float(x) for x in c["cold_overhead_s"]])
             for k, c in data["cells"].items()}
    torch_import = data.get("torch_import_s")
    return HostCosts(
        framework_import_s={k: float(v) for k, v in data.get("framework_import_s", {}).items()},
        cold_compile_s={k: float(v) for k, v in data.get("cold_compile_s", {}).items()},
        probe_step_s={k: float(v) for k, v in data.get("probe_step_s", {}).items()},
        probe_setup_s={k: float(v) for k, v in data.get("probe_setup_s", {}).items()},
        fork_s=None if data.get("fork_s") is None else float(data["fork_s"]),
        cells=cells,
        startup_s={k: [float(x) for x in v] for k, v in data["startup_s"].items()},
        flops={k: int(v) for k, v in data["flops"].items()},
        flop_rate={k: float(v) for k, v in data["flop_rate"].items()},
        torch_import_s=None if torch_import is None else float(torch_import))


@contextlib.contextmanager
def locked(path: Path | None = None) -> Iterator[None]:
    """Hold the cache's lock (an exclusive ``flock`` on a file beside it) for a load, an
    update and a save. Where the lock file cannot be made (a read-only home) nothing is
    locked: the save then fails quietly too."""
    path = path or cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def update_cache(change: Callable[[CostCache], None], path: Path | None = None) -> CostCache:
    """Load the cache, ``change`` it and save it, under the lock; the cache as saved."""
    with locked(path):
        cache = load_cache(path)
        change(cache)
        save_cache(cache, path)
    return cache


def with_changes(current: HostCosts, before: HostCosts, after: HostCosts) -> HostCosts:
    """``current`` (the host's figures as the file holds them now) with what changed from
    ``before`` to ``after`` (what this process measured meanwhile): another run's figures
    saved in between are kept."""
    changed: dict[str, Any] = {}
    for name in (f.name for f in dataclasses.fields(HostCosts)):
        old, new, now = getattr(before, name), getattr(after, name), getattr(current, name)
        if isinstance(new, dict):
            changed[name] = {**now, **{k: v for k, v in new.items() if old.get(k) != v}}
        elif new != old:
            changed[name] = new
    return dataclasses.replace(current, **changed)


def load_cache(path: Path | None = None) -> CostCache:
    path = path or cache_path()
    try:
        return CostCache.from_json(json.loads(path.read_text()))
    except (OSError, ValueError):
        return CostCache()


def save_cache(cache: CostCache, path: Path | None = None) -> None:
    """Write the cache atomically; a read-only home only costs the next run its estimate."""
    from harness.results import write_json_atomic

    path = path or cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, cache.to_json())
    except OSError:
        pass


@dataclass(frozen=True)
class Sample:
    """One record's figures: its cell, step time (None for a cell without steps measured),
    overhead, and whether its compile cache was cold."""

    cell: CellConfig
    step_s: float | None
    overhead_s: float
    cold: bool
    flops: int | None
    launch: str = "spawn"  # records from before the fork server were spawned


def sample_of(record: dict[str, Any]) -> Sample | None:
    """A successful record's figures; None for a failed or unreadable one."""
    if record.get("status") != "ok" or not isinstance(record.get("process_wall_s"), int | float):
        return None
    try:
        cell = CellConfig.from_dict(record["config"])
    except (KeyError, TypeError, ValueError):
        return None
    measurements = record.get("measurements") or {}
    step = measurements.get("step_time_s")
    step = float(step) if isinstance(step, int | float) and math.isfinite(step) else None
    wall = float(record["process_wall_s"])
    overhead = max(wall - steps_in(cell) * step, 0.0) if step is not None else wall
    flops = measurements.get("flops_per_step")
    cold = (record.get("compile_cache") or {}).get("state") == "cold"
    launch = str(record.get("launch") or "spawn")
    if record.get("start") == "warm":
        launch = WARM_FORK
    return Sample(cell, step, overhead, cold, int(flops) if isinstance(flops, int) else None,
                  launch)


def update_host(host: HostCosts, records: Iterable[dict[str, Any]]) -> HostCosts:
    """``host`` with the figures of ``records`` added (the oldest dropped past ``KEEP``)."""
    cells = dict(host.cells)
    startup = {k: list(v) for k, v in host.startup_s.items()}
    flops = dict(host.flops)
    for sample in filter(None, map(sample_of, records)):
        cell = sample.cell
        key = cost_key(cell, sample.launch)
        old = cells.get(key) or CellCost(shape_of(cell))
        cells[key] = CellCost(
            old.shape,
            _kept(old.step_s, [] if sample.step_s is None else [sample.step_s]),
            _kept(old.overhead_s, [] if sample.cold else [sample.overhead_s]),
            _kept(old.cold_overhead_s, [sample.overhead_s] if sample.cold else []))
        # what any cell of this paradigm pays: no validation, checkpoint or logger in it
        plain_process = (cell.scenario is Scenario.TRAIN and cell.compile is CompileMode.NONE
                         and not cell.features.active() and not cell.profiler)
        if plain_process and sample.step_s is not None:
            key = startup_key(cell, sample.launch)
            startup[key] = _kept(startup.get(key, []), [sample.overhead_s])
        if sample.flops:
            flops[shape_of(cell)] = sample.flops
    return dataclasses.replace(host, cells=cells, startup_s=startup, flops=flops)


def record_run(records: Iterable[dict[str, Any]], path: Path | None = None) -> None:
    """Add a run's records to this host's figures in the cache file (under its lock)."""
    fingerprint, records = host_fingerprint(), list(records)

    def add(cache: CostCache) -> None:
        cache.hosts[fingerprint] = update_host(cache.host(fingerprint), records)

    update_cache(add, path)
