"""How long one cell repetition will take here, and where each part of the figure came from.

A repetition costs its overhead (spawn to exit, less its steps) plus its steps times the
expected step. Each part comes from the best figure the cost cache (``harness.plan.costs``)
holds, in this order:

- step: this cell measured here; else a cell of the same shape (another paradigm, other
  features) measured here; else, roughly, the probe's timed eager step of its shape (CPU);
  else its FLOPs per step over this host's matmul rate in the cell's precision (which ignores
  everything a small model's step spends outside its arithmetic);
- overhead: this cell measured here (a compiled cell's cold first repetition: its cold figure,
  else, roughly, the warm overhead plus the probe's cold compile of its shape); else its
  paradigm's eager cells without features measured here (a process forked warm, never
  measured so: at least its cold figure less the framework import); else, roughly, how the
  process starts (spawned: the time this host takes to import torch in a fresh interpreter;
  forked: the probe's fork, the fork server having imported torch), plus the paradigm's
  framework import (none where forked warm), plus the probe's set-up of its shape (data,
  model, optimizer, the first steps' excess, the FLOP count).

``probe_missing`` measures what a plan lacks (the torch and framework imports, the matmul rate,
FLOPs per step of shapes never run here) in one child process (``harness.plan.probe``), so
that the command line itself never imports torch; the figures go into the cache.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from harness.config import CellConfig, CompileMode
from harness.plan.costs import (
    WARM_FORK,
    HostCosts,
    cost_key,
    planned_launch,
    rate_key,
    shape_of,
    startup_key,
    steps_in,
)
from harness.process_env import SPAWN_TIME_ENV

SHARED_COMPILE_CACHE_ENV = "PARADIGM_BENCH_COMPILE_CACHE"  # as harness.launch.runner
PROBE_TIMEOUT_S = 600.0


class Source(Enum):
    """Where a part of an estimate came from, best first."""

    CELL = "measured here (this cell)"
    SHAPE = "measured here (a cell of the same shape)"
    PARADIGM = "measured here (this paradigm's cells)"
    PROBE_STEP = "rough (the probe's timed eager step of this shape)"
    FLOPS = "rough (FLOPs per step / this host's matmul rate)"
    TORCH_IMPORT = "rough (the probe's start, imports and set-up of this shape)"
    LESS_IMPORT = "rough (this paradigm's cold figure less its framework import)"
    COLD_COMPILE = "rough (the probe's cold compile of this shape)"
    UNKNOWN = "unknown (not counted)"

    @property
    def measured(self) -> bool:
        return self in (Source.CELL, Source.SHAPE, Source.PARADIGM)


@dataclass(frozen=True)
class Estimate:
    """One repetition's expected wall time, and where its two parts came from."""

    seconds: float
    step: Source
    overhead: Source


def _step(cell: CellConfig, host: HostCosts) -> tuple[float | None, Source]:
    own = host.own_step(cell)
    if own is not None:
        return own, Source.CELL
    similar = host.similar_step(cell)
    if similar is not None:
        return similar, Source.SHAPE
    probed = host.probe_step_s.get(shape_of(cell))
    if probed is not None:
        return probed, Source.PROBE_STEP
    flops, rate = host.flops.get(shape_of(cell)), host.flop_rate.get(rate_key(cell))
    if flops and rate:
        threads = 1 if cell.device == "cuda" else cell.threads
        return flops / (rate * threads), Source.FLOPS
    return None, Source.UNKNOWN


def _overhead(cell: CellConfig, host: HostCosts, cold: bool, warm: bool = False
              ) -> tuple[float | None, Source]:
    """``cold``: a compiled cell's empty inductor cache; ``warm``: forked from the server
    that has imported the paradigm (no framework import in the process)."""
    launch = planned_launch(cell, warm)
    own = host.cells.get(cost_key(cell, launch))
    figure = None if own is None else own.cold_overhead if cold else own.overhead
    if figure is not None:
        return figure, Source.CELL
    if cold:  # a cold compile costs tens of seconds: only a timed compile stands in for it
        compile_s = host.cold_compile_s.get(shape_of(cell))
        warm_cache = _overhead(cell, host, cold=False, warm=warm)[0]
        if compile_s is None or warm_cache is None:
            return None, Source.UNKNOWN
        return warm_cache + compile_s, Source.COLD_COMPILE
    legs = 2 if cell.features.resume_at else 1
    paradigm = host.startup(cell, launch)
    if paradigm is not None:
        return paradigm * legs, Source.PARADIGM
    rough = host.rough_startup(cell, warm)
    if launch == WARM_FORK:
        figure, source = _overhead(cell, host, cold=False)
        if source.measured and figure is not None:  # at least the cold one less its import
            imported = host.framework_import_s.get(cell.paradigm.value, 0.0)
            return max(figure - imported * legs, (rough or 0.0) * legs), Source.LESS_IMPORT
    if rough is not None:
        return rough * legs, Source.TORCH_IMPORT
    return None, Source.UNKNOWN


def compiles_cold(cell: CellConfig, repetition: int) -> bool:
    """Whether this repetition finds its inductor cache empty: the first one of a compiled
    cell, unless every cell shares one cache folder (``PARADIGM_BENCH_COMPILE_CACHE``)."""
    return (cell.compile is not CompileMode.NONE and repetition == 0 and not cell.profiler
            and not os.environ.get(SHARED_COMPILE_CACHE_ENV))


def estimate(cell: CellConfig, host: HostCosts, repetition: int = 1, warm: bool = False
             ) -> Estimate:
    """Repetition ``repetition`` of ``cell`` on this host (a missing part counts as 0 s);
    ``warm``: forked from its paradigm's warm server."""
    step, step_source = _step(cell, host)
    overhead, overhead_source = _overhead(cell, host, compiles_cold(cell, repetition), warm)
    if overhead is None and compiles_cold(cell, repetition):
        # without a cold figure, the warm one still counts (the compile itself is unknown)
        overhead = _overhead(cell, host, cold=False, warm=warm)[0]
    seconds = (overhead or 0.0) + steps_in(cell) * (step or 0.0)
    return Estimate(seconds, step_source, overhead_source)


def study_seconds(study: Any, host: HostCosts) -> float:
    """One ``[[hpo]]`` study (``harness.search``), roughly: the start-up of its study
    processes (spawned side by side: the torch and the framework import), then each process's
    share of the trials in turn, each as long as one repetition's steps of the study's cell."""
    steps = steps_in(study.cell) * (_step(study.cell, host)[0] or 0.0)
    framework = host.framework_import_s.get(study.cell.paradigm.value, 0.0)
    spawned = host.startup_s.get(startup_key(study.cell, "spawn"))
    overhead = (statistics.median(spawned) if spawned
                else (host.torch_import_s or 0.0) + framework)
    return overhead + math.ceil(study.trials / study.workers) * steps


def _shape_request(shape: str, cell: CellConfig) -> dict[str, object]:
    return {"shape": shape, "workload": cell.workload, "size": cell.size, "device": cell.device,
            "threads": cell.threads, "batch_size": cell.batch_size, "seed": cell.seed,
            "precision": cell.precision.value}


def _needs(host: HostCosts, cells: Iterable[CellConfig]) -> dict[str, object]:
    cells = list(cells)
    no_step = [c for c in cells if _step(c, host)[1] is Source.UNKNOWN]
    shapes = {shape_of(c): c for c in no_step if shape_of(c) not in host.flops}
    cold = {shape_of(c): c for c in cells  # compiled cells on a CPU never timed cold here
            if compiles_cold(c, 0) and c.device == "cpu" and _overhead(c, host, True)[0] is None
            and shape_of(c) not in host.cold_compile_s}
    # the set-up (and a fork) of the cells whose processes' overhead was never measured here
    unmeasured = [c for c in cells if not _overhead(c, host, False)[1].measured]
    setup = {shape_of(c): c for c in unmeasured
             if shape_of(c) not in host.probe_setup_s and shape_of(c) not in shapes}
    # once per host (seconds, then cached): the rough start-up, and a study process's
    paradigms = {c.paradigm.value for c in cells} - set(host.framework_import_s)
    return {
        "torch_import": host.torch_import_s is None,
        "framework_import": sorted(paradigms),
        "fork": host.fork_s is None and any(planned_launch(c) != "spawn" for c in unmeasured),
        "flop_rate": sorted({rate_key(c) for c in no_step} - set(host.flop_rate)),
        "flops": [_shape_request(s, c) for s, c in shapes.items()],
        "setup": [_shape_request(s, c) for s, c in setup.items()],
        "cold_compile": [{"shape": s, "workload": c.workload, "size": c.size,
                          "batch_size": c.batch_size, "seed": c.seed, "mode": c.compile.value}
                         for s, c in cold.items()],
    }


def probe_missing(host: HostCosts, cells: Iterable[CellConfig]) -> HostCosts:
    """``host`` with what its figures lack for ``cells`` measured now, in a child process.

    A probe that fails (a workload that cannot build, a timeout) leaves the parts it could
    not measure unknown; the plan says so."""
    needs = _needs(host, cells)
    if not any(needs.values()):
        return host
    try:
        env = {**os.environ, SPAWN_TIME_ENV: repr(time.time())}
        proc = subprocess.run([sys.executable, "-m", "harness.plan.probe"],
                              input=json.dumps(needs), capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, env=env)
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return host
    return dataclasses.replace(
        host,
        torch_import_s=found.get("torch_import_s") or host.torch_import_s,
        framework_import_s={**host.framework_import_s, **found.get("framework_import_s", {})},
        cold_compile_s={**host.cold_compile_s, **found.get("cold_compile_s", {})},
        probe_step_s={**host.probe_step_s, **found.get("step_s", {})},
        probe_setup_s={**host.probe_setup_s, **found.get("setup_s", {})},
        fork_s=found.get("fork_s") or host.fork_s,
        flop_rate={**host.flop_rate, **found.get("flop_rate", {})},
        flops={**host.flops, **found.get("flops", {})},
    )
