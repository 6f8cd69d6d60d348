"""Cell groups as the report shows them: labels, anchors and the shared number formats.

A cell group is every paradigm run under one config (``analysis.GROUP_KEYS``). The report
walks groups in the order ``cells_frame`` sorts them and names each one for people (label)
and for links and SVG ids (``g1``, ``g2``...).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analyse import formatting as fmt
from harness.analyse.analysis import BASELINE, GROUP_KEYS
from harness.config import Paradigm

PARADIGM_ORDER = {p.value: i for i, p in enumerate(Paradigm)}
DISPLAY = {"plain": "plain PyTorch", "lightning": "Lightning", "ignite": "Ignite",
           "plain-aa": "plain again (A/A)"}
# Config fields every label names; the remaining group keys are named only where they vary
# between groups of the run, to tell otherwise identical labels apart.
# The plain step's share spent waiting for data from which a cell measures its loader more
# than its loop: the paradigms' differences shrink or vanish behind the wait.
LOADER_BOUND = 0.25
LABEL_FIELDS = ("workload", "size", "profile", "precision", "world_size", "batch_size", "device",
                "threads", "data", "features")


@dataclass
class Group:
    """One cell group: statistics (``cells``, a row per measured paradigm), its ok records,
    and the paradigms that were run but never succeeded (paradigm -> status counts)."""

    id: str
    label: str
    title: str  # short, for plot titles; the full label goes under the plot
    cells: pd.DataFrame
    records: pd.DataFrame
    missing: dict[str, dict[str, int]] = field(default_factory=dict)

    def paradigms(self) -> list[str]:
        return list(self.cells["paradigm"]) if len(self.cells) else []

    def row(self, paradigm: str) -> pd.Series | None:
        if not len(self.cells):
            return None
        hit = self.cells[self.cells["paradigm"] == paradigm]
        return hit.iloc[0] if len(hit) else None

    @property
    def baseline(self) -> pd.Series | None:
        return self.row(BASELINE)

    @property
    def loader_bound(self) -> float | None:
        """The plain loop's data-wait share of its step where it reaches ``LOADER_BOUND``."""
        base = self.baseline
        share = data_share(base) if base is not None else None
        return share if share is not None and share >= LOADER_BOUND else None


def data_share(row: pd.Series) -> float | None:
    """The data wait's share of the mean step (None where it was not timed)."""
    data, step = number(row.get("data_s")), number(row.get("step_time_s"))
    return data / step if data == data and step == step and step > 0 else None


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA: anything a cell shows as a dash. Containers are values."""
    if value is None:
        return True
    if isinstance(value, list | tuple | dict | np.ndarray):
        return False
    return bool(pd.isna(value))


def text(value: Any) -> str:
    """A cell value as display text; missing values become an empty string."""
    return "" if is_missing(value) else str(value)


def number(value: Any) -> float:
    return math.nan if is_missing(value) else float(value)


def label(row: pd.Series | dict[str, Any], extra: list[str]) -> str:
    threads = int(row["threads"])
    profile = str(row["profile"])
    if row.get("features", "none") != "none":
        profile += f" + {row['features']}"
    parts = [f"{row['workload']} ({row['size']})", profile, str(row["precision"]),
             f"world {row['world_size']}", f"batch {row['batch_size']}",
             f"{row['device']}, {threads} thread{'s' if threads != 1 else ''}"]
    if row.get("data") == "device":  # host memory is the default; say when it is not
        parts.append("data held on the device")
    if row.get("compile", "none") != "none":  # eager is the default
        documented = " (documented region)" if row.get("compile_style") == "documented" else ""
        parts.append(f"compile {row['compile']}{documented}")
    parts += [f"{k} {row[k]}" for k in extra]
    return " · ".join(parts)


def shorten(text: str, width: int = 44) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def build_groups(cells: pd.DataFrame, records: pd.DataFrame) -> list[Group]:
    """Every cell group that has records, in ``cells_frame``'s order, with its ok records.

    Groups where nothing succeeded are kept (empty ``cells``) so the verdict can say so.
    """
    if records.empty:
        return []
    extra = [k for k in GROUP_KEYS
             if k not in LABEL_FIELDS and records[k].nunique(dropna=False) > 1]
    stats = dict(iter(cells.groupby(GROUP_KEYS, dropna=False, sort=False))) if len(cells) else {}
    groups = []
    for i, (key, recs) in enumerate(records.groupby(GROUP_KEYS, dropna=False, sort=True), 1):
        first = recs.iloc[0]
        g_cells = stats.get(key, cells.iloc[0:0])
        if len(g_cells):  # plain first, then Paradigm's order, whatever order cells_frame used
            g_cells = g_cells.sort_values(
                "paradigm", key=lambda s: s.map(lambda p: PARADIGM_ORDER.get(p, 99)))
        g_cells = g_cells.reset_index(drop=True)
        measured = set(g_cells["paradigm"]) if len(g_cells) else set()
        failed = recs[~recs["paradigm"].isin(measured)]
        missing = {p: dict(Counter("ok, no step time" if s == "ok" else s for s in f["status"]))
                   for p, f in failed.groupby("paradigm", sort=False)}
        groups.append(Group(
            id=f"g{i}", label=label(first, extra),
            title=shorten(f"{first['workload']} ({first['size']}) · {first['precision']}"),
            cells=g_cells, records=recs[recs["status"] == "ok"].sort_values("repetition"),
            missing=dict(sorted(missing.items(), key=lambda kv: PARADIGM_ORDER.get(kv[0], 99))),
        ))
    return groups


def ci_text(ci: Any, signed: bool = False) -> str:
    """``(0.00037, 0.00076)`` -> ``+370..+758 us`` (one unit when both ends share it);
    "n too small" where there is no valid interval (see ``harness.analyse.stats``)."""
    if not isinstance(ci, tuple | list) or any(is_missing(v) for v in ci):
        return fmt.TOO_FEW
    lo, hi = fmt.duration(ci[0], signed), fmt.duration(ci[1], signed)
    lo_num, _, lo_unit = lo.rpartition(" ")
    if hi.endswith(" " + lo_unit):
        return f"{lo_num}..{hi}"
    return f"{lo}..{hi}"


def loss_gap(gap: Any, verdict: Any) -> str:
    """The worst relative per-step loss gap as the parity tables show it."""
    if verdict in ("baseline", "bitwise"):
        return "0"
    value = number(gap)
    return "—" if value != value else "∞" if value == float("inf") else f"{value:.2e}"


def tolerance(tol: float | None) -> str:
    """A ``LOSS_TOLERANCE`` entry in words: 0 is bitwise, None is no rule."""
    return "—" if tol is None else "bitwise" if tol == 0 else f"{tol:g}"


def duration(value: Any, signed: bool = False) -> str:
    return fmt.duration(None if is_missing(value) else float(value), signed)


def percent(value: Any, signed: bool = True) -> str:
    return fmt.percent(None if is_missing(value) else float(value), signed)


def nbytes(value: Any) -> str:
    return fmt.nbytes(None if is_missing(value) else float(value))
