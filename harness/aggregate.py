"""From per-rank measurements to one cell's figures, by written-down rules.

- step time: per timing window, the slowest rank's window time (a step is done when every rank
  is done); the cell's step time is the median over windows, divided by the window length.
- throughput: global items per step (per-process batch x world size x items per sample) over
  that step time.
- memory: per rank, and the maximum over ranks.
- start-up: the slowest rank.
- parity: rank 0's losses and weight digest; every rank must hold the same parameters
  (buffers such as BatchNorm running statistics stay rank-local under DDP).
"""

from __future__ import annotations

import statistics
from typing import Any

MEMORY_FIELDS = ("host_peak_rss_bytes", "cuda_max_allocated_bytes", "cuda_max_reserved_bytes",
                 "nvml_used_peak_bytes", "energy_j")


def _max_or_none(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def aggregate(ranks: list[dict[str, Any]], batch_size: int) -> dict[str, Any]:
    """Merge successful per-rank measurement dicts (sorted by rank) into cell figures."""
    world = len(ranks)
    window = ranks[0]["timing"]["window"]
    per_window = [max(ws) / window for ws in zip(*(r["timing"]["window_s"] for r in ranks))]
    step_time = statistics.median(per_window) if per_window else float("nan")
    items_per_step = batch_size * world * ranks[0]["items_per_sample"]
    digests = {r["parity"]["params_sha256"] for r in ranks}
    out: dict[str, Any] = {
        "world_size": world,
        "step_time_s": step_time,
        "window_step_s": per_window,
        "step_host_s": ranks[0]["timing"]["step_host_s"],
        "items_per_step": items_per_step,
        "item_name": ranks[0]["item_name"],
        "items_per_s": items_per_step / step_time if step_time > 0 else float("nan"),
        "startup": {k: max(r["startup"][k] for r in ranks) for k in ranks[0]["startup"]},
        "memory": {k: _max_or_none([r["memory"].get(k) for r in ranks]) for k in MEMORY_FIELDS},
        "memory_per_rank": [r["memory"] for r in ranks],
        "losses": ranks[0]["parity"]["losses"],
        "weights_sha256": ranks[0]["parity"]["weights_sha256"],
        "ranks_agree": len(digests) == 1,
        "foreign_gpu_pids": sorted({p for r in ranks for p in r["memory"]["nvml_foreign_pids"]}),
        "runtime": ranks[0]["runtime"],
    }
    return out
