"""Comparisons across cells of one paradigm: mixed-precision speedup and DDP scaling.

- AMP speedup = fp32 step time / mixed-precision step time, same paradigm, workload, size,
  profile, world size and batch.
- DDP scaling: global throughput at world size N against N x the throughput at world size 1
  (same paradigm, workload, size, profile, precision, per-process batch). Threads per process
  may differ between N (``threads = "auto"`` gives each rank cores / N), so they are not
  part of the match; the report flags oversubscribed cells.
"""

from __future__ import annotations

import pandas as pd

from harness.analyse.analysis import GROUP_KEYS

AMP_KEYS = [k for k in GROUP_KEYS if k != "precision"] + ["paradigm"]
SCALING_KEYS = [k for k in GROUP_KEYS if k not in ("world_size", "threads")] + ["paradigm"]


def amp_speedups(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per (config, paradigm, mixed precision) that has an fp32 counterpart."""
    if cells.empty:
        return pd.DataFrame()
    rows = []
    for key, g in cells.groupby(AMP_KEYS, sort=False):
        fp32 = g[g["precision"] == "fp32"]
        if fp32.empty:
            continue
        base = float(fp32["step_time_s"].iloc[0])  # one per group: the keys fix everything else
        for _, mixed in g[g["precision"] != "fp32"].iterrows():
            rows.append({**dict(zip(AMP_KEYS, key)), "precision": mixed["precision"],
                         "fp32_step_s": base, "mixed_step_s": mixed["step_time_s"],
                         "speedup": base / mixed["step_time_s"], "parity": mixed["parity"],
                         "loss_gap": mixed["loss_gap"]})
    return pd.DataFrame(rows)


def ddp_scaling(cells: pd.DataFrame) -> pd.DataFrame:
    """Throughput and efficiency per world size, for configs measured at world size 1 too."""
    if cells.empty:
        return pd.DataFrame()
    rows = []
    for key, g in cells.groupby(SCALING_KEYS, sort=False):
        if g["world_size"].nunique() < 2 or 1 not in set(g["world_size"]):
            continue
        # with threads = "auto" there is one world-1 cell; with fixed threads there may be
        # several: the fastest single process is the honest reference
        single = float(g.loc[g["world_size"] == 1, "items_per_s"].max())
        for _, cell in g.sort_values("world_size").iterrows():
            n = int(cell["world_size"])
            rows.append({**dict(zip(SCALING_KEYS, key)), "world_size": n,
                         "threads": cell["threads"], "items_per_s": cell["items_per_s"],
                         "ideal_items_per_s": n * single,
                         "efficiency": cell["items_per_s"] / (n * single),
                         "lightning_ddp_sync_s": cell.get("lightning_ddp_sync_s"),
                         "warnings": cell.get("warnings", "")})
    return pd.DataFrame(rows)
