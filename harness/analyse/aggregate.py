"""From per-rank measurements to one cell's figures, by written-down rules.

- step time: per timing window, the slowest rank's window time (a step is done when every rank
  is done); the cell's step time is the mean over windows (all measured time over all measured
  steps, so work done every N steps counts in full); the median window is kept beside it.
- throughput: global items per step (per-process batch x world size x items per sample) over
  that step time.
- memory: per rank, and the maximum over ranks.
- start-up: the slowest rank.
- MFU: one rank's FLOPs per step over the step time and the device peak (every rank does the
  same work); omitted for devices without a known peak.
- energy per item: the sum over this node's GPUs of NVML's energy counter over the measured
  steps, over the items those GPUs processed.
- framework syncs (Lightning's per-step DDP broadcast): per rank the median, then the maximum.
- parity: rank 0's losses and weight digest; every rank must hold the same parameters
  (buffers such as BatchNorm running statistics stay rank-local under DDP).
- phases and framework time: rank 0's host times, each a mean over the probed measured steps;
  framework time = mean host step time - forward - backward - optimizer - data wait
  - forced host syncs (the sync phase, CUDA cells).
- disk: bytes written during the measured steps, summed over this node's ranks.
- feature events and the attribution profile: rank 0's.
- compilation (graphs, breaks, recompiles, compile time, cache hits): rank 0's.
"""

from __future__ import annotations

import statistics
from typing import Any

from harness.config import CellConfig
from harness.measure.flops import peak_flops
from harness.measure.phases import PHASES

MEMORY_FIELDS = ("host_peak_rss_bytes", "cuda_max_allocated_bytes", "cuda_max_reserved_bytes",
                 "nvml_used_peak_bytes", "energy_j")


def _max_or_none(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _energy_per_item(ranks: list[dict[str, Any]], cfg: CellConfig, items_per_rank_step: int
                     ) -> float | None:
    energies = [r["memory"].get("energy_j") for r in ranks]
    if not energies or any(e is None for e in energies):
        return None
    return sum(energies) / (items_per_rank_step * len(ranks) * cfg.steps)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def framework_per_step(rank: dict[str, Any]) -> list[tuple[int, float]]:
    """(index into step_host_s, framework seconds) of every probed steady-state step."""
    phases, steps = rank.get("phases"), rank["timing"]["step_host_s"]
    if not phases:
        return []
    # records from before the data wait (or the sync phase) was timed count it as framework
    # time
    zeros = [0.0] * len(phases["index"])
    data, sync = phases.get("data_s") or zeros, phases.get("sync_s") or zeros
    return [(j, steps[j] - f - b - o - d - s) for j, f, b, o, d, s in
            zip(phases["index"], phases["forward_s"], phases["backward_s"],
                phases["optimizer_s"], data, sync) if j < len(steps)]


def phase_figures(rank: dict[str, Any]) -> dict[str, float] | None:
    """Mean seconds in each phase and in the framework over the probed steps (one rank)."""
    phases, steps = rank.get("phases"), rank["timing"]["step_host_s"]
    if not phases or not phases["index"] or not steps:
        return None
    out = {name: _mean(phases[f"{name}_s"]) for name in PHASES if f"{name}_s" in phases}
    probed = [steps[j] for j in phases["index"] if j < len(steps)]
    out["step_host_s"] = _mean(probed)
    out["framework_s"] = _mean([fw for _, fw in framework_per_step(rank)])
    out["probed_steps"] = float(len(probed))
    return out


def _shift(a: list[float], b: list[float]) -> float:
    """The Hodges-Lehmann shift of ``a`` over ``b``: the median of all pairwise differences."""
    import numpy as np

    return float(np.median(np.subtract.outer(np.asarray(a, float), np.asarray(b, float))))


def calibration(rank: dict[str, Any], cfg: CellConfig) -> dict[str, Any] | None:
    """For a cell whose hook delays a random part of the steps: how much more framework time
    the steps after a delay take than the others, in the same process (one rank).

    A shift of the bulk (Hodges-Lehmann), not a difference of means: a delayed step is longer,
    so on a shared machine it is more often the one the scheduler preempts, and any mean (a
    10%-trimmed one too) reads that as hook time (+50% and more with other work running).
    The rest of a step after a 200 us spin runs a few percent slower than after none (colder
    caches), a real cost of the hook that the reading includes; ``compute_shift_s`` is the
    same shift of the step's four phases, which hold no delay, to size it by.
    """
    f = cfg.features
    if not f.hook_delay_us or f.hook_delay_every < 2:
        return None
    framework = framework_per_step(rank)
    steps = rank["timing"]["step_host_s"]
    # a delay after step s lands in the interval that ends at step s + 1; sample j ends at
    # step first + warmup + 1 + j (first: where this process started)
    first = cfg.warmup + (rank.get("events") or {}).get("first_step", 0)
    delayed = [(j, x) for j, x in framework if f.delays(first + j)]
    other = [(j, x) for j, x in framework if not f.delays(first + j)]
    if len(delayed) < 2 or len(other) < 2:
        return None

    def phases(pairs: list[tuple[int, float]]) -> list[float]:
        return [steps[j] - x for j, x in pairs]

    return {"injected_s": f.hook_delay_us * 1e-6, "delayed_steps": len(delayed),
            "framework_s": _shift([x for _, x in delayed], [x for _, x in other]),
            "compute_shift_s": _shift(phases(delayed), phases(other)),
            "framework_undelayed_s": statistics.median(x for _, x in other),
            "compute_undelayed_s": statistics.median(phases(other)),
            # what the busy-waits really took (preemption at their end included), warm-up too
            "waited_s": (rank.get("hook_delays") or {}).get("mean_s")}


def _disk(ranks: list[dict[str, Any]]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for key in ("write_chars", "write_bytes"):
        values = [(r.get("disk") or {}).get(key) for r in ranks]
        present = [int(v) for v in values if v is not None]
        out[key] = sum(present) if len(present) == len(values) else None
    return out


def aggregate(ranks: list[dict[str, Any]], cfg: CellConfig) -> dict[str, Any]:
    """Merge this node's successful per-rank measurements (sorted by rank) into cell figures."""
    window = cfg.window
    per_window = [max(ws) / window for ws in zip(*(r["timing"]["window_s"] for r in ranks))]
    # the mean over all measured steps: work done every N steps (a checkpoint, a flush, the
    # DataLoader's restart) counts in full; the median window is kept as a robust second view
    step_time = _mean(per_window)
    items_per_rank_step = cfg.batch_size * ranks[0]["items_per_sample"]
    items_per_step = items_per_rank_step * cfg.world_size
    runtime = ranks[0]["runtime"]
    # a CPU cell on a GPU host is measured against no peak: the device name is the GPU's
    peak = peak_flops(runtime.get("device_name"), cfg.precision, runtime.get("sm_count")) \
        if cfg.device == "cuda" else None
    flops = ranks[0].get("flops_per_step")
    achieved = flops / step_time if flops and step_time > 0 else None
    extras = {name: max(statistics.median(r["extras"][name]) for r in ranks
                        if r.get("extras", {}).get(name))
              for name in {n for r in ranks for n, v in r.get("extras", {}).items() if v}}
    return {
        "world_size": cfg.world_size,
        "ranks_here": [r["rank"] for r in ranks],
        "step_time_s": step_time,
        "median_window_step_s": statistics.median(per_window) if per_window else float("nan"),
        "window_step_s": per_window,
        "phases": phase_figures(ranks[0]),
        "calibration": calibration(ranks[0], cfg),
        "disk": _disk(ranks),
        "events": ranks[0].get("events") or {},
        "attribution": ranks[0].get("attribution"),
        "step_host_s": ranks[0]["timing"]["step_host_s"],
        "items_per_step": items_per_step,
        "item_name": ranks[0]["item_name"],
        "items_per_s": items_per_step / step_time if step_time > 0 else float("nan"),
        "flops_per_step": flops,
        "flops_counted_on": ranks[0].get("flops_counted_on"),  # "meta", or the cell's device
        "achieved_flops": achieved,
        "peak_flops": peak,
        "mfu": achieved / peak if achieved and peak else None,
        "energy_per_item_j": _energy_per_item(ranks, cfg, items_per_rank_step),
        "framework_sync_s": extras,
        "startup": {k: max(r["startup"][k] for r in ranks) for k in ranks[0]["startup"]},
        "memory": {k: _max_or_none([r["memory"].get(k) for r in ranks]) for k in MEMORY_FIELDS},
        "memory_per_rank": [r["memory"] for r in ranks],
        "losses": ranks[0]["parity"]["losses"],
        "weights_sha256": ranks[0]["parity"]["weights_sha256"],
        "ranks_agree": len({r["parity"]["params_sha256"] for r in ranks}) == 1,
        "foreign_gpu_pids": sorted({p for r in ranks for p in r["memory"]["nvml_foreign_pids"]}),
        "other_gpu_processes": max(r["memory"].get("nvml_other_processes", 0) for r in ranks),
        "runtime": runtime,
        "compile": ranks[0].get("compile"),  # rank 0's dynamo counters (compiled cells)
    }


def partial_summary(ranks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the failed ranks measured before failing (rank 0's view, or the first rank's)."""
    with_partial = [r for r in ranks if r.get("partial")]
    if not with_partial:
        return None
    p = with_partial[0]["partial"]
    window = p["timing"]["window"]
    windows = [w / window for w in p["timing"]["window_s"]]
    return {"rank": with_partial[0]["rank"], "steps_done": p["steps_done"],
            "windows": len(windows),
            "step_time_s": _mean(windows) if windows else None,
            "losses": p["losses"], "events": p.get("events") or {},
            "compile": p.get("compile")}


def warnings_for(measurements: dict[str, Any], cfg: CellConfig,
                 environment: dict[str, Any]) -> list[str]:
    """What a reader must know before trusting this cell's numbers."""
    out = []
    if measurements["foreign_gpu_pids"]:
        pids = ", ".join(map(str, measurements["foreign_gpu_pids"]))
        out.append(f"another process used the GPU during this cell (pid {pids})")
    elif measurements.get("other_gpu_processes"):
        out.append(f"{measurements['other_gpu_processes']} other process(es) used the GPU during "
                   "this cell (NVML's PIDs are from another PID namespace: a container)")
    if not measurements["ranks_agree"]:
        out.append("ranks ended with different parameters: DDP did not keep them in sync")
    cores = environment.get("cpu_count")
    if cfg.device == "cpu" and cores and cfg.threads * cfg.local_world_size > cores:
        out.append(f"oversubscribed: {cfg.local_world_size} process(es) x {cfg.threads} "
                   f"thread(s) on {cores} cores")
    if not all(m.get("host_peak_is_steady", True) for m in measurements["memory_per_rank"]):
        out.append("host peak RSS covers the whole process (the post-warm-up reset failed)")
    out += compile_warnings(measurements.get("compile"))
    return out


def cache_state(cache: dict[str, int] | None) -> str | None:
    """How warm the inductor cache was for this process, from its own hit and miss counters
    (``CompileResult.cache``): ``cold`` (every graph compiled), ``warm`` (every graph found),
    ``partial`` (some of each: a shared cache that held another cell's graphs, or the
    leftovers of a repetition killed mid-compile), None where nothing was looked up."""
    if not cache:
        return None
    hits = sum(v for k, v in cache.items() if k.endswith("_hit"))
    misses = sum(v for k, v in cache.items() if k.endswith("_miss"))
    if hits and misses:
        return "partial"
    return "warm" if hits else "cold" if misses else None


def compile_warnings(compiled: dict[str, Any] | None) -> list[str]:
    """A compile among the measured steps (its time is in the step time), the recompile
    limit reached (the frame fell back to eager)."""
    if not compiled:
        return []
    out = []
    late = compiled["after_warmup"]
    if late["graphs"] or late["recompiles"] or late["compile_s"] > 0:
        out.append(f"compiled during the measured steps ({late['graphs']} graph(s), "
                   f"{late['recompiles']} recompile(s), {late['compile_s']:.2f} s): that time "
                   "is in the step time; a longer warm-up keeps it out")
    if compiled["recompile_limit_hit"]:
        out.append(f"dynamo reached its recompile limit ({compiled['recompile_limit']}) after "
                   f"{compiled['total']['recompiles']} recompile(s): that code runs eagerly "
                   "from then on")
    return out
