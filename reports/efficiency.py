"""The Throughput section's table: items/s and, where measured, FLOP/s, MFU and energy per item.

A column shows only where some cell has it, so a CPU run (no device peak, no NVML energy)
keeps a short table. MFU is an exception on GPUs: a GPU cell with counted FLOPs but no MFU
means the device's peak is unknown, and the page says so rather than dropping the column.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.analyse import formatting as fmt
from reports.groups import Group, is_missing, number, text

COLUMNS = {"achieved": "Achieved FLOP/s (per process)", "mfu": "MFU",
           "energy": "Energy (J/item)"}
MFU_OMITTED = "MFU omitted: unknown device peak"


def flop_rate(flops_per_step: Any, step_s: Any) -> str:
    """FLOPs per step over the step time, in TFLOP/s (GFLOP/s below one TFLOP/s)."""
    flops, step = number(flops_per_step), number(step_s)
    if not (flops == flops and step == step and step > 0):
        return "—"
    rate = flops / step
    if rate >= 1e12:
        return f"{rate / 1e12:.3g} TFLOP/s"
    return f"{rate / 1e9:.3g} GFLOP/s"


def mfu_text(value: Any) -> str:
    """Model FLOPs utilisation as a percentage; small values keep two significant digits."""
    if is_missing(value):
        return "—"
    pct = float(value) * 100
    return f"{pct:.1f}%" if pct >= 1 else f"{pct:.2g}%"


def energy_text(value: Any) -> str:
    return "—" if is_missing(value) else f"{float(value):.3g}"


def _column(cells: pd.DataFrame, name: str) -> pd.Series:
    if name in cells.columns:
        return cells[name].astype(float)
    return pd.Series([float("nan")] * len(cells), index=cells.index)


def _no_peak(cells: pd.DataFrame) -> pd.Series:
    """GPU cells with counted FLOPs but no MFU: their device has no known peak."""
    return ((cells["device"] == "cuda") & _column(cells, "flops_per_step").notna()
            & _column(cells, "mfu").isna())


def throughput_table(groups: list[Group]) -> dict[str, Any]:
    """Column names, rows per measured group and the notes the columns need."""
    def anywhere(name: str) -> bool:
        return any(_column(g.cells, name).notna().any() for g in groups)

    on_gpu = any((g.cells["device"] == "cuda").any() for g in groups)
    no_peak = [g.label for g in groups if _no_peak(g.cells).any()]
    shown = [c for c, show in (("achieved", anywhere("flops_per_step")),
                               ("mfu", anywhere("mfu") or bool(no_peak)),
                               ("energy", anywhere("energy_per_item_j") or on_gpu)) if show]
    out = []
    for g in groups:
        rows = []
        for _, r in g.cells.iterrows():
            values = {"achieved": flop_rate(r.get("flops_per_step"), r["step_time_s"]),
                      "mfu": mfu_text(r.get("mfu")),
                      "energy": energy_text(r.get("energy_per_item_j"))}
            rows.append({"paradigm": r["paradigm"],
                         "throughput": fmt.rate(number(r["items_per_s"]),
                                                text(r["item_name"]) or "items"),
                         "extra": [values[c] for c in shown]})
        out.append({"label": g.label, "rows": rows})
    return {"columns": [COLUMNS[c] for c in shown], "shown": shown, "groups": out,
            "mfu_omitted": MFU_OMITTED if no_peak else "", "no_peak_groups": no_peak}
