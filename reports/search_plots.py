"""The HPO page's figures (inline SVG, built like ``reports.plots``): the per-trial time split,
memory across trials, and the studies' trajectories side by side."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from reports.plots import PARADIGM_LINES, STYLE, color, time_unit, to_svg

PART_COLORS = {"construction": "#f59e0b", "training": "#3b82f6", "validation": "#10b981",
               "teardown": "#a855f7", "bookkeeping": "#94a3b8"}


def time_split(key: str, title: str, medians: Mapping[str, Mapping[str, float]]) -> str:
    """One stacked bar per paradigm: the median seconds of each part of a trial."""
    names = list(medians)
    scale, unit = time_unit([v for m in medians.values() for v in m.values()
                             if math.isfinite(v)])
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(6.4, 0.9 + 0.45 * max(len(names), 1)), layout="constrained")
        ax = fig.add_subplot()
        starts = np.zeros(len(names))
        for part, hue in PART_COLORS.items():
            widths = np.array([medians[n].get(part, 0.0) * scale for n in names])
            widths = np.nan_to_num(widths)
            ax.barh(range(len(names)), widths, left=starts, color=hue, label=part, height=0.6)
            starts += widths
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_xlabel(f"median per trial ({unit})")
        fig.legend(loc="outside lower center", ncols=len(PART_COLORS), fontsize=7)
        ax.set_title(title, loc="left")
        return to_svg(fig, key)


def memory(key: str, title: str, series: Mapping[str, Sequence[tuple[int, int]]]) -> str:
    """Host RSS after each trial (worker 0), per paradigm: a leak across trials climbs."""
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(4.6, 2.9), layout="constrained")
        ax = fig.add_subplot()
        for name, points in series.items():
            style, width = PARADIGM_LINES.get(name, ("-.", 1.4))
            ax.plot([p[0] for p in points], [p[1] / 2**20 for p in points], style,
                    marker="o", markersize=3, color=color(name), linewidth=width, label=name)
        ax.set_xlabel("trial")
        ax.set_ylabel("RSS after the trial (MiB)")
        ax.legend(loc="best")
        ax.set_title(title, loc="left")
        return to_svg(fig, key)


def trajectories(key: str, title: str, studies: Mapping[str, Sequence[Mapping[str, Any]]]
                 ) -> str:
    """Side by side, one panel per paradigm: each trial's value (filled: completed, hollow:
    pruned at its last report, a cross: failed, at the top) and the best so far."""
    names = list(studies)
    finite = [t["value"] for ts in studies.values() for t in ts
              if isinstance(t.get("value"), float) and math.isfinite(t["value"])]
    top = max(finite, default=1.0)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(max(4.2, 2.6 * len(names)), 2.8), layout="constrained")
        axes = fig.subplots(1, max(len(names), 1), sharey=True, squeeze=False)[0]
        for ax, name in zip(axes, names):
            best, xs, ys = math.inf, [], []
            for t in sorted(studies[name], key=lambda t: t["number"]):
                value, hue = t.get("value"), color(name)
                if t["state"] == "COMPLETE" and value is not None:
                    ax.plot(t["number"], value, "o", color=hue, markersize=4)
                    best = min(best, value)
                elif t["state"] == "PRUNED" and value is not None:
                    ax.plot(t["number"], value, "o", markerfacecolor="white",
                            markeredgecolor=hue, markersize=4)
                elif t["state"] == "FAIL":
                    ax.plot(t["number"], top, "x", color="#b91c1c", markersize=5)
                if math.isfinite(best):
                    xs.append(t["number"])
                    ys.append(best)
            ax.step(xs, ys, where="post", color=color(name), linewidth=1.2)
            ax.set_title(name, loc="left")
            ax.set_xlabel("trial")
        axes[0].set_ylabel("validation loss")
        fig.suptitle(title, x=0.01, ha="left", fontsize=10, fontweight="bold")
        return to_svg(fig, key)
