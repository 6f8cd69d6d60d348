"""The Verdict's picture: what each paradigm costs in each cell group, at a glance.

One row per (cell group, paradigm other than the plain loop): its cost as a share of the
plain loop's step, with its interval. The measure is the step overhead (the median of the
paired differences, with the sign test's interval) where that has an interval; where it has
none (too few repetitions), the framework-time excess (in-process, a t interval from three
repetitions) stands in, drawn as a diamond and named as such. A row whose interval includes
zero, or that has none at all, is "not resolved": the picture does not give it a sign.

The rows are a plain list (``VerdictRow``), built here from the cell groups; a later kind of
row (a per-model summary, say) is one more constructor of the same dataclass, and
``picture`` draws whatever list it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
from markupsafe import Markup
from matplotlib.figure import Figure

from harness.analyse.analysis import BASELINE
from reports import plots
from reports.groups import DISPLAY, PARADIGM_ORDER, Group, is_missing, number, shorten

STEP, FRAMEWORK = "step overhead", "framework time excess"
NOT_RESOLVED = "not resolved"
LINEAR_WITHIN = 10.0  # percent: the axis is linear within +-10%, logarithmic beyond


@dataclass(frozen=True)
class VerdictRow:
    """One paradigm's cost in one cell group, as a fraction of the plain step."""

    label: str  # what the row is (a cell group), for people
    paradigm: str
    measure: str  # STEP or FRAMEWORK
    share: float  # fraction of the plain loop's step; NaN where there is nothing to show
    ci: tuple[float, float] | None  # its 95% interval, same units; None: no interval

    @property
    def resolved(self) -> bool:
        """Whether an interval supports the sign: it exists and excludes zero."""
        return self.ci is not None and not self.ci[0] <= 0 <= self.ci[1]

    @property
    def reading(self) -> str:
        """The row's figure in words: ``+12.3% [+10.1, +14.2]`` or ``not resolved (...)``."""
        if math.isnan(self.share):
            return "no figure"
        value = f"{100 * self.share:+.1f}%"
        if self.ci is None:
            return f"{NOT_RESOLVED} ({value}, no interval)"
        interval = f"[{100 * self.ci[0]:+.1f}, {100 * self.ci[1]:+.1f}]"
        return f"{value} {interval}" if self.resolved else f"{NOT_RESOLVED} ({value} {interval})"


def _interval(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, tuple | list) or any(is_missing(v) for v in value):
        return None
    return float(value[0]), float(value[1])


def group_rows(g: Group) -> list[VerdictRow]:
    """A group's rows: each paradigm's step overhead, or its framework-time excess where the
    step overhead has no interval (and the excess has one)."""
    base = g.baseline
    if base is None or not len(g.cells):
        return []
    plain = number(base["step_time_s"])
    rows = []
    for _, row in g.cells.iterrows():
        if row["paradigm"] == BASELINE:
            continue
        step_ci = _interval(row.get("overhead_frac_ci"))
        excess, excess_ci = number(row.get("framework_excess_s")), _interval(
            row.get("framework_excess_ci"))
        if step_ci is None and excess_ci is not None and plain > 0:
            rows.append(VerdictRow(g.label, row["paradigm"], FRAMEWORK, excess / plain,
                                   (excess_ci[0] / plain, excess_ci[1] / plain)))
        else:
            rows.append(VerdictRow(g.label, row["paradigm"], STEP,
                                   number(row.get("overhead_frac")), step_ci))
    return rows


def rows_for(groups: list[Group]) -> list[VerdictRow]:
    """Every measured group's rows, in the report's group order."""
    return [r for g in groups for r in group_rows(g)]


def picture(rows: list[VerdictRow], key: str = "verdict") -> Markup:
    """The rows as one forest plot (inline SVG): a point and whisker per row, grouped by
    cell group, its reading on the right; empty when no row has a figure."""
    fig = figure(rows)
    if fig is None:
        return Markup("")
    return Markup(plots.to_svg(fig, key))  # matplotlib has XML-escaped every text


def figure(rows: list[VerdictRow]) -> Figure | None:
    """The forest plot as a matplotlib figure (the report's SVG, or a PNG for the manual);
    None when no row has a figure. Draw it inside ``rc_context(plots.STYLE)``."""
    shown = [r for r in rows if not math.isnan(r.share)]
    if not shown:
        return None
    labels = list(dict.fromkeys(r.label for r in shown))
    ys: list[float] = []
    ticks: list[float] = []
    y = 0.0
    for label in labels:
        n = sum(r.label == label for r in shown)
        ticks.append(y + (n - 1) / 2)
        ys += [y + i for i in range(n)]
        y += n + 0.6  # a gap between groups
    ordered = [r for label in labels for r in shown if r.label == label]
    with mpl.rc_context(plots.STYLE):
        fig = Figure(figsize=(10.5, 1.3 + 0.22 * len(ordered) + 0.13 * len(labels)),
                     layout="constrained")
        ax = fig.add_subplot()
        for r, row_y in zip(ordered, ys):
            _point(ax, r, row_y)
        _axes(ax, ordered, ys, ticks, labels)
    return fig


def _distinct(labels: list[str]) -> list[str]:
    """The labels without the parts every one of them shares (the workload is always kept):
    what tells the groups apart, short enough for an axis."""
    parts = [label.split(" · ") for label in labels]
    common = set.intersection(*(set(p[1:]) for p in parts)) if len(parts) > 1 else set()
    return [" · ".join([p[0], *(x for x in p[1:] if x not in common)]) for p in parts]


def _point(ax: Any, r: VerdictRow, y: float) -> None:
    """One row: its point (hollow where not resolved, a diamond for framework time) and its
    interval as a whisker."""
    hue, x = plots.color(r.paradigm), 100 * r.share
    if r.ci is not None:
        lo, hi = 100 * r.ci[0], 100 * r.ci[1]
        ax.errorbar([x], [y], xerr=[[x - lo], [hi - x]], fmt="none", ecolor=hue,
                    elinewidth=1.3, capsize=2.5)
    ax.plot([x], [y], "D" if r.measure == FRAMEWORK else "o", markersize=5, zorder=3,
            markerfacecolor=hue if r.resolved else "white", markeredgecolor=hue)


def _axes(ax: Any, rows: list[VerdictRow], ys: list[float], ticks: list[float],
          labels: list[str]) -> None:
    """Symmetric-log x axis in %, groups on the left, each row's reading on the right."""
    values = [100 * v for r in rows for v in (r.share, *(r.ci or ()))]
    low = min(-LINEAR_WITHIN / 2, 1.5 * min(values))
    high = max(LINEAR_WITHIN, 1.5 * max(values))
    ax.set_xscale("symlog", linthresh=LINEAR_WITHIN, linscale=1.0)
    ax.set_xlim(low, high)
    marks = [v for v in (-1000, -300, -100, -30, -10, -5, 0, 5, 10, 30, 100, 300, 1000)
             if low <= v <= high]
    ax.set_xticks(marks, [f"{v:+g}%" if v else "0" for v in marks])
    ax.axvline(0, color="#0f172a", linewidth=0.9)
    ax.set_yticks(ticks, [shorten(label, 60) for label in _distinct(labels)], fontsize=7.5)
    for a, b in zip(ys, ys[1:]):
        if b - a > 1:  # between two groups
            ax.axhline((a + b) / 2, color="#e2e8f0", linewidth=0.8)
    ax.set_ylim(max(ys) + 0.6, -0.6)
    ax.grid(axis="y", visible=False)
    for p in sorted({r.paradigm for r in rows}, key=lambda p: PARADIGM_ORDER.get(p, 99)):
        ax.plot([], [], "o", color=plots.color(p), label=DISPLAY.get(p, p))
    ax.plot([], [], "D", color="#64748b", label="framework time excess (no step interval)")
    ax.plot([], [], "o", markerfacecolor="white", markeredgecolor="#64748b",
            label=NOT_RESOLVED)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=5, fontsize=7.5)
    ax.set_xlabel(f"cost as a share of the plain loop's step, 95% interval (linear within "
                  f"±{LINEAR_WITHIN:g}%, logarithmic beyond)")
    right = ax.secondary_yaxis("right")
    right.set_yticks(ys, [f"{DISPLAY.get(r.paradigm, r.paradigm)}: {r.reading}"
                          + (" (framework time)" if r.measure == FRAMEWORK else "")
                          for r in rows], fontsize=7)
    for tick, r in zip(right.get_yticklabels(), rows):
        tick.set_color(plots.color(r.paradigm))
