"""Compiled cells against their eager twins: speedup, overhead before and after, compile cost.

A compiled cell's group (``analysis.GROUP_KEYS`` includes ``compile`` and ``compile_style``) has
its own plain-loop baseline, the compiled plain loop: its overhead and parity are held against
that, as in any group. This module adds what crosses groups:

- speedup = the same paradigm's eager step time (the cell with ``compile = "none"`` and
  otherwise the same settings) / the compiled step time;
- the overhead's share of the step before and after: the step overhead against the plain loop
  (``overhead_frac``) and the in-process framework time over the probed steps' time, eager
  and compiled;
- compile time from dynamo's own counters per repetition, split by the state of the inductor
  cache, read from the repetition's own cache hit and miss counters: ``cold`` (every graph
  compiled, C++ or Triton included), ``warm`` (every graph found) and ``partial`` (some of
  each); whether the cache was shared with other cells (``PARADIGM_BENCH_COMPILE_CACHE``,
  ``TRITON_CACHE_DIR``), so that a warm compile may have found another paradigm's graphs;
- what the first step costs on top of the eager cell's first step (the lazy compile as the
  user waits for it), per cache state;
- graphs, graph breaks and recompilations (the most any repetition counted), host-device
  syncs per step (CUDA), and whether the graphs differ from the compiled plain loop's (then
  other kernels round differently, and a parity that differs is explained).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.analyse.analysis import GROUP_KEYS

EAGER = "none"
TWIN_KEYS = [k for k in GROUP_KEYS if k not in ("compile", "compile_style")] + ["paradigm"]


def _median(values: pd.Series) -> float:
    finite = values.astype(float).dropna()
    return float(finite.median()) if len(finite) else math.nan


def _most(values: pd.Series) -> float:
    finite = values.dropna()
    return float(finite.max()) if len(finite) else math.nan


def _share(part: Any, whole: Any) -> float:
    part, whole = float(part), float(whole)
    return part / whole if whole > 0 and part == part else math.nan


def compile_costs(records: pd.DataFrame) -> dict[str, Any]:
    """Compile time per cache state (median over its repetitions) and who paid what."""
    ok = records[records["compile_s"].astype(float).notna()]
    out: dict[str, Any] = {"paid": [(int(r), str(s), float(c)) for r, s, c in
                                    zip(ok["repetition"], ok["cache_state"], ok["compile_s"])]}
    for state in ("cold", "warm"):
        mine = ok[ok["cache_state"] == state]
        out[f"{state}_s"] = _median(mine["compile_s"])
        out[f"first_step_{state}_s"] = _median(mine["to_first_step_s"])
    return out


def _matching(frame: pd.DataFrame, row: pd.Series, keys: list[str]) -> pd.DataFrame:
    for key in keys:
        frame = frame[frame[key] == row[key]]
    return frame


def framework_share(records: pd.DataFrame) -> float:
    """The framework time's share of the probed steps (the same steps on both sides of the
    ratio), median over repetitions."""
    shares = records["framework_s"].astype(float) / records["probed_step_s"].astype(float)
    return _median(shares)


def _eager_twin(cells: pd.DataFrame, row: pd.Series) -> pd.Series | None:
    eager = cells[cells["compile"] == EAGER]
    for key in TWIN_KEYS:
        eager = eager[eager[key] == row[key]]
    return eager.iloc[0] if len(eager) else None


def compiled_rows(cells: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """One row per compiled (config, paradigm) that succeeded, with its eager twin's figures
    where that cell was measured too."""
    if cells.empty or "compile" not in cells or not (cells["compile"] != EAGER).any():
        return pd.DataFrame()
    ok = records[(records["status"] == "ok") & ~records["profiler"].astype(bool)]
    rows = []
    for _, row in cells[cells["compile"] != EAGER].iterrows():
        mine = _matching(ok, row, [*GROUP_KEYS, "paradigm"])
        eager = _eager_twin(cells, row)
        out = {**{k: row[k] for k in [*GROUP_KEYS, "paradigm"]},
               "n": row["n"], "step_s": row["step_time_s"],
               "overhead_s": row.get("overhead_s"), "overhead_frac": row.get("overhead_frac"),
               "overhead_ci": row.get("overhead_ci"),
               "framework_share": framework_share(mine),
               "parity": row.get("parity"), "loss_gap": row.get("loss_gap"),
               "graphs": _most(mine["graphs"]), "graph_breaks": _most(mine["graph_breaks"]),
               "recompiles": _most(mine["recompiles"]),
               "limit_hit": bool(mine["recompile_limit_hit"].fillna(False).any()),
               "syncs_per_step": _median(mine["syncs_per_step"]),
               "late_compile_s": _most(mine["compile_after_warmup_s"]),
               "break_reasons": next((r for r in mine["break_reasons"] if r), {}),
               # a cache other cells wrote into: a warm compile may be another paradigm's
               "cache_shared_by": next((s for s in mine["cache_shared_by"] if s), ""),
               **compile_costs(mine)}
        if eager is not None:
            out.update(eager_step_s=eager["step_time_s"],
                       speedup=_share(eager["step_time_s"], row["step_time_s"]),
                       eager_overhead_frac=eager.get("overhead_frac"),
                       eager_framework_share=framework_share(
                           _matching(ok[ok["compile"] == EAGER], row, TWIN_KEYS)),
                       **{f"first_step_{state}_extra_s":
                          out[f"first_step_{state}_s"] - eager["to_first_step_s"]
                          for state in ("cold", "warm")})
        rows.append(out)
    frame = pd.DataFrame(rows)
    return frame.assign(graphs_differ=[_graphs_differ(frame, r) for _, r in frame.iterrows()])


def _graphs_differ(rows: pd.DataFrame, row: pd.Series) -> bool:
    """Whether this paradigm compiled other graphs (counts of graphs or breaks) than the
    compiled plain loop of its group: then bitwise parity is not to be expected."""
    plain = rows[rows["paradigm"] == "plain"]
    for key in GROUP_KEYS:
        plain = plain[plain[key] == row[key]]
    if plain.empty:
        return False
    base = plain.iloc[0]
    return bool((base["graphs"], base["graph_breaks"]) != (row["graphs"], row["graph_breaks"]))


def failed_compiled(records: pd.DataFrame) -> pd.DataFrame:
    """Compiled records that did not end ``ok``: what a user of that setting hits."""
    if records.empty or "compile" not in records:
        return records.iloc[0:0]
    return records[(records["compile"] != EAGER) & (records["status"] != "ok")]
