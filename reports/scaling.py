"""The cross-cell sections: mixed-precision speedup and DDP scaling
(``harness.analyse.speedups``).

Every other section compares paradigms inside one cell group; these compare one paradigm
across groups (fp32 against mixed precision, world size 1 against N), so they work from the
whole cells frame rather than from ``reports.groups``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup

from harness.analyse import formatting as fmt
from harness.analyse.analysis import LOSS_TOLERANCE
from harness.analyse.speedups import SCALING_KEYS, amp_speedups, ddp_scaling
from reports import plots
from reports.groups import (
    PARADIGM_ORDER,
    duration,
    loss_gap,
    number,
    percent,
    shorten,
    text,
    tolerance,
)

# Upstream: Lightning-AI/pytorch-lightning issue 21487.
LIGHTNING_SYNC_NOTE = (
    "Lightning >= 2.5.2 broadcasts a one-element tensor from rank 0 and calls .item() on it "
    "every training step under DDP (a collective and a host-device sync the other paradigms "
    "do not pay; upstream issue 21487); the column shows its measured median per step, on CPU "
    "only: on a GPU the .item() waits for all queued kernels, so its host time would be the "
    "GPU's backlog rather than the broadcast (there the cost shows only in the step time).")
_CONFIG_KEYS = [k for k in SCALING_KEYS if k != "paradigm"]


def tolerance_rules() -> list[dict[str, str]]:
    """``LOSS_TOLERANCE`` as a table: what "same training" means per device and precision."""
    return [{"device": device, "precision": precision, "tolerance": tolerance(tol),
             "rule": ("identical final weights (bitwise)" if tol == 0 else
                      f"every per-step loss within {tol:g} of the plain loop's, relative")}
            for (device, precision), tol in LOSS_TOLERANCE.items()]


def _paradigm_sorted(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    order = frame["paradigm"].map(lambda p: PARADIGM_ORDER.get(p, 99))
    return frame.assign(_order=order).sort_values([*by, "_order"], kind="stable")


def _unique(label: str, taken: dict[str, Any]) -> str:
    out, n = label, 1
    while out in taken:
        n += 1
        out = f"{label} #{n}"
    return out


def amp(cells: pd.DataFrame) -> dict[str, Any]:
    """Per workload config: each paradigm's fp32 and mixed step times, speedup and parity."""
    table = amp_speedups(cells)
    out: dict[str, Any] = {"groups": [], "figure": Markup(""), "rules": tolerance_rules()}
    if table.empty:
        return out
    table = _paradigm_sorted(table, ["workload", "size", "profile", "world_size",
                                     "batch_size", "device", "precision"])
    bars: dict[str, dict[str, float]] = {}
    keys = ["workload", "size", "profile", "world_size", "batch_size", "device", "precision"]
    for key, g in table.groupby(keys, sort=False):
        c = dict(zip(keys, key))
        tol = LOSS_TOLERANCE.get((c["device"], c["precision"]))
        rows = [{"paradigm": r["paradigm"], "fp32": duration(r["fp32_step_s"]),
                 "mixed": duration(r["mixed_step_s"]),
                 "speedup": f"{number(r['speedup']):.2f}x",
                 "parity": text(r["parity"]) or "n/a",
                 "loss_gap": loss_gap(r["loss_gap"], r["parity"])}
                for _, r in g.iterrows()]
        out["groups"].append({
            "label": (f"{c['workload']} ({c['size']}) · {c['profile']} · {c['precision']} vs "
                      f"fp32 · world {c['world_size']} · batch {c['batch_size']} · "
                      f"{c['device']}"),
            "tolerance": tolerance(tol), "rows": rows})
        name = _unique(shorten(f"{c['workload']} ({c['size']}) {c['precision']}", 28), bars)
        bars[name] = {r["paradigm"]: number(r["speedup"]) for _, r in g.iterrows()}
    # Markup: matplotlib has XML-escaped every text in the SVG (see reports.plots).
    out["figure"] = Markup(plots.speedups("amp-speedup", "Mixed-precision speedup", bars))
    return out


def warning_list(joined: Any) -> list[str]:
    """A cells-frame ``warnings`` value (records' lists joined with "; ") as distinct items."""
    return list(dict.fromkeys(w for w in text(joined).split("; ") if w))


def _item_name(cells: pd.DataFrame, workload: str) -> str:
    names = cells.loc[cells["workload"] == workload, "item_name"].dropna()
    return text(names.iloc[0]) if len(names) else "items"


def ddp(cells: pd.DataFrame) -> dict[str, Any]:
    """Per config measured at world size 1 and more: throughput, ideal, efficiency, syncs."""
    table = ddp_scaling(cells)
    out: dict[str, Any] = {"configs": [], "sync_note": LIGHTNING_SYNC_NOTE}
    if table.empty:
        return out
    table = _paradigm_sorted(table, _CONFIG_KEYS)
    for i, (key, g) in enumerate(table.groupby(_CONFIG_KEYS, sort=False), 1):
        c = dict(zip(_CONFIG_KEYS, key))
        item = _item_name(cells, c["workload"])
        series: dict[str, list[tuple[int, float, float]]] = {}
        rows = []
        for _, r in g.sort_values(["_order", "world_size"], kind="stable").iterrows():
            world = int(r["world_size"])
            series.setdefault(r["paradigm"], []).append(
                (world, number(r["items_per_s"]), number(r["ideal_items_per_s"])))
            sync = r["lightning_ddp_sync_s"] if r["paradigm"] == "lightning" else None
            rows.append({
                "paradigm": r["paradigm"], "world_size": world, "threads": text(r["threads"]),
                "items_per_s": fmt.rate(number(r["items_per_s"]), item),
                "ideal": fmt.rate(number(r["ideal_items_per_s"]), item),
                "efficiency": ("reference" if world == 1 else
                               percent(r["efficiency"], signed=False)),
                "sync": duration(sync),
                "warnings": warning_list(r["warnings"]),
            })
        label = (f"{c['workload']} ({c['size']}) · {c['profile']} · {c['precision']} · "
                 f"batch {c['batch_size']} per process · {c['device']}")
        title = shorten(f"{c['workload']} ({c['size']}) · {c['precision']}")
        out["configs"].append({
            "id": f"ddp{i}", "label": label, "rows": rows,
            # Markup: matplotlib has XML-escaped every text in the SVG (see reports.plots).
            "figure": Markup(plots.scaling(f"ddp-{i}", title, item, series)),
        })
    return out
