"""The Verdict's picture: what each paradigm costs in each cell group, at a glance.

One row per (cell group, paradigm other than the plain loop): its cost as a share of the
plain loop's step, with its interval. The measure is the step overhead (the median of the
paired differences, with the sign test's interval) where that has an interval; where it has
none (too few repetitions), the framework-time excess (in-process, a t interval from three
repetitions) stands in, drawn as a diamond and named as such. A row whose interval includes
zero reads as a *bound*: "no difference larger than Y% of the step" (Y the interval's farther
end); one that excludes zero as a *sign*: "costs +X us/step [a, b]". A row with no interval
at all (every repetition failed, or a budget left too few) is kept apart from the results
(``without_interval``): it is never drawn as one.

The rows are a plain list (``VerdictRow``), built here from the cell groups; a later kind of
row (a per-model summary, say) is one more constructor of the same dataclass, and
``picture`` draws whatever list it is given.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.analyse import formatting as fmt
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
    plain_step_s: float = math.nan  # the plain loop's step, to give the cost in seconds
    why_none: str = ""  # why a row has no interval (a failure, a budget's cut)

    @property
    def resolved(self) -> bool:
        """Whether an interval supports the sign: it exists and excludes zero."""
        return self.ci is not None and not self.ci[0] <= 0 <= self.ci[1]

    @property
    def has_interval(self) -> bool:
        return self.ci is not None and not math.isnan(self.share)

    @property
    def bound(self) -> float | None:
        """The largest difference the interval leaves possible, as a fraction of the step."""
        return None if self.ci is None else max(abs(self.ci[0]), abs(self.ci[1]))

    def _us(self, fraction: float) -> str:
        return f"{1e6 * fraction * self.plain_step_s:+,.0f}"

    def under(self, share: float) -> str:
        """The step time above which this cost stays under ``share`` of the step: the
        interval's upper end (a bound, never the point alone) over ``share``; else why not."""
        if self.ci is None:
            return self.reading  # no interval, and why
        if not math.isfinite(self.plain_step_s):
            return "no plain step time to scale it by"
        high = self.ci[1] * self.plain_step_s  # the largest cost the interval leaves possible
        return "any step (no cost)" if high <= 0 else fmt.duration(high / share)

    @property
    def reading(self) -> str:
        """The row's reading: a sign (``costs +684 us/step [+547, +822] (+12.3%)``), a bound
        (``no difference larger than 4.1% of the step``), or why there is none."""
        if not self.has_interval or self.ci is None:
            return f"no interval ({self.why_none or 'no figure'})"
        lo, hi = self.ci
        if not self.resolved:
            return f"no difference larger than {100 * (self.bound or 0):.1f}% of the step"
        verb = "costs" if self.share > 0 else "saves"
        if math.isfinite(self.plain_step_s) and self.plain_step_s > 0:
            return (f"{verb} {self._us(self.share)} us/step [{self._us(lo)}, {self._us(hi)}] "
                    f"({100 * self.share:+.1f}% [{100 * lo:+.1f}, {100 * hi:+.1f}])")
        return f"{verb} {100 * self.share:+.1f}% [{100 * lo:+.1f}, {100 * hi:+.1f}] of the step"


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
                                   (excess_ci[0] / plain, excess_ci[1] / plain), plain))
        else:
            why = "" if step_ci else f"{int(row['n'])} repetitions: too few for an interval"
            rows.append(VerdictRow(g.label, row["paradigm"], STEP,
                                   number(row.get("overhead_frac")), step_ci, plain, why))
    return rows


def missing_rows(g: Group) -> list[VerdictRow]:
    """A row for each paradigm of the group that never succeeded (or whose baseline did
    not): no interval, and why."""
    out = [VerdictRow(g.label, p, STEP, math.nan, None, why_none="no successful repetition: "
                      + ", ".join(f"{n} {s}" for s, n in statuses.items()))
           for p, statuses in g.missing.items() if p != BASELINE]
    if g.baseline is None and len(g.cells):
        out += [VerdictRow(g.label, p, STEP, math.nan, None,
                           why_none="no plain PyTorch baseline succeeded")
                for p in g.paradigms() if p != BASELINE]
    return out


def rows_for(groups: list[Group]) -> list[VerdictRow]:
    """Every group's rows, in the report's group order (those without an interval too)."""
    return [r for g in groups for r in (*group_rows(g), *missing_rows(g))]


def with_interval(rows: list[VerdictRow]) -> list[VerdictRow]:
    return [r for r in rows if r.has_interval]


def without_interval(rows: list[VerdictRow]) -> list[VerdictRow]:
    """The rows set apart from the picture: a failure, a cut, a group without a baseline."""
    return [r for r in rows if not r.has_interval]


def picture(rows: list[VerdictRow], key: str = "verdict") -> Markup:
    """The rows as one forest plot (inline SVG): a point and whisker per row, grouped by
    cell group, its reading in a column on the right; empty when no row has a figure."""
    fig = figure(rows)
    if fig is None:
        return Markup("")
    return Markup(plots.to_svg(fig, key))  # matplotlib has XML-escaped every text


ROW_IN = 0.26  # inches per row: room for a reading wrapped onto two lines
LABEL_CHARS = 38  # a group label's characters per line (two lines at most)
READING_PT = 7.5
# The x marks, most telling first: a mark is kept only where its label clears those kept.
MARKS = (0, 10, -10, 100, -100, 1000, -1000, 30, -30, 300, -300, 5, -5)
MARK_GAP_PX = 6.0
BROWSER_SLACK = 1.08  # the width a browser may give a text matplotlib measured as 1


def figure(rows: list[VerdictRow]) -> Figure | None:
    """The forest plot as a matplotlib figure (the report's SVG, or a PNG for the manual);
    None when no row has a figure. Draw it inside ``rc_context(plots.STYLE)``.

    Three columns that never crowd each other out: the group labels (wrapped), the forest
    (at least half the width left by the labels), the readings (wrapped to what is left)."""
    shown = with_interval(rows)
    if not shown:
        return None
    labels = list(dict.fromkeys(r.label for r in shown))
    ordered = [r for label in labels for r in shown if r.label == label]
    ys, ticks = _positions([sum(r.label == label for r in shown) for label in labels])
    with mpl.rc_context(plots.STYLE):
        fig = Figure(figsize=(11.5, 1.5 + ROW_IN * (ys[-1] + 1)), layout="constrained")
        ax, text_ax = fig.subplots(1, 2, sharey=True, width_ratios=[1.0, 1.1])
        for r, row_y in zip(ordered, ys):
            _point(ax, r, row_y)
        _axes(ax, ordered, ys, ticks, labels)
        _legend(fig, ordered)
        texts = _readings(text_ax, ordered, ys)
        fig.draw_without_rendering()  # the layout, to measure the marks and the readings
        _thin_marks(fig, ax)
        _fit_readings(fig, texts)
    return fig


def _positions(sizes: list[int]) -> tuple[list[float], list[float]]:
    """Each row's y and each group's label y: rows one apart, groups 0.6 further."""
    ys: list[float] = []
    ticks: list[float] = []
    y = 0.0
    for n in sizes:
        ticks.append(y + (n - 1) / 2)
        ys += [y + i for i in range(n)]
        y += n + 0.6
    return ys, ticks


def _distinct(labels: list[str]) -> list[str]:
    """The labels without the parts every one of them shares (the workload is always kept):
    what tells the groups apart, short enough for an axis."""
    parts = [label.split(" · ") for label in labels]
    common = set.intersection(*(set(p[1:]) for p in parts)) if len(parts) > 1 else set()
    return [" · ".join([p[0], *(x for x in p[1:] if x not in common)]) for p in parts]


def _wrapped(text: str, width: int) -> str:
    """``text`` on two lines at most of about ``width`` characters."""
    return "\n".join(textwrap.wrap(text, width, max_lines=2, placeholder=" …")) or text


def _label_lines(label: str, width: int = LABEL_CHARS) -> str:
    """A group label on two lines at most, broken between its `` · `` parts (the second cut
    short with … where it is still too long)."""
    parts = label.split(" · ")
    first, i = parts[0], 1
    while i < len(parts) and len(first) + 3 + len(parts[i]) <= width:
        first, i = f"{first} · {parts[i]}", i + 1
    if i == len(parts):
        return first
    return f"{first} ·\n{shorten(' · '.join(parts[i:]), width)}"


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
    """Symmetric-log x axis in % (every candidate mark; ``_thin_marks`` keeps those that
    fit), the groups on the left, a rule between groups."""
    values = [100 * v for r in rows for v in (r.share, *(r.ci or ()))]
    low = min(-LINEAR_WITHIN / 2, 1.5 * min(values))
    high = max(LINEAR_WITHIN, 1.5 * max(values))
    ax.set_xscale("symlog", linthresh=LINEAR_WITHIN, linscale=1.0)
    ax.set_xlim(low, high)
    marks = sorted(v for v in MARKS if low <= v <= high)
    ax.set_xticks(marks, [_mark(v) for v in marks])
    ax.axvline(0, color="#0f172a", linewidth=0.9)
    ax.set_yticks(ticks, [_label_lines(label) for label in _distinct(labels)],
                  fontsize=7.5)
    for a, b in zip(ys, ys[1:]):
        if b - a > 1:  # between two groups
            ax.axhline((a + b) / 2, color="#e2e8f0", linewidth=0.8)
    ax.set_ylim(max(ys) + 0.6, -0.6)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(f"cost as a share of the plain loop's step, 95% interval\n(linear within "
                  f"±{LINEAR_WITHIN:g}%, logarithmic beyond)", fontsize=8)


def _mark(v: float) -> str:
    return f"{v:+g}%" if v else "0"


def _legend(fig: Figure, rows: list[VerdictRow]) -> None:
    """Above the whole figure (an axes' own legend would be as narrow as the forest)."""
    handles = [Line2D([], [], linestyle="none", marker="o", color=plots.color(p),
                      label=DISPLAY.get(p, p))
               for p in sorted({r.paradigm for r in rows},
                               key=lambda p: PARADIGM_ORDER.get(p, 99))]
    handles += [
        Line2D([], [], linestyle="none", marker="D", color="#64748b",
               label="diamond: framework time excess (no step interval)"),
        Line2D([], [], linestyle="none", marker="o", markerfacecolor="white",
               markeredgecolor="#64748b", label="hollow: no sign (a bound)"),
    ]
    fig.legend(handles=handles, loc="outside upper left", ncols=len(handles),
               fontsize=7.5, frameon=False)


def _readings(ax: Any, rows: list[VerdictRow], ys: list[float]) -> list[Any]:
    """Each row's reading, in the paradigm's colour, level with its point."""
    ax.axis("off")
    texts = [ax.text(0.0, y, f"{DISPLAY.get(r.paradigm, r.paradigm)}: {r.reading}"
                    + (" (framework time)" if r.measure == FRAMEWORK else ""),
                    ha="left", va="center", fontsize=READING_PT, linespacing=1.0,
                    color=plots.color(r.paradigm), transform=ax.get_yaxis_transform())
             for r, y in zip(rows, ys)]
    for t in texts:
        t.set_in_layout(False)  # wrapped to the column instead (``_fit_readings``)
    return texts


def _fit_readings(fig: Figure, texts: list[Any]) -> None:
    """Wrap (onto two lines at most) each reading that would run past the figure's edge; a
    browser draws the SVG's text up to some percent wider than matplotlib measures it."""
    right = fig.bbox.x1 - 4
    for t in texts:
        box = t.get_window_extent()
        width = BROWSER_SLACK * box.width
        if box.x0 + width > right and width > 0:
            text = t.get_text()
            t.set_text(_wrapped(text, max(20, int(len(text) * (right - box.x0) / width) - 1)))


def _thin_marks(fig: Figure, ax: Any) -> None:
    """Keep the x marks whose labels clear each other, the most telling first (0, ±10%,
    ±100% ...): the axis stays readable however narrow the forest is."""
    boxes = {float(v): label.get_window_extent()
             for v, label in zip(ax.get_xticks(), ax.get_xticklabels())}
    kept: list[float] = []
    for v in MARKS:
        box = boxes.get(float(v))
        if box is None:
            continue
        if all(box.x1 + MARK_GAP_PX < boxes[k].x0 or boxes[k].x1 + MARK_GAP_PX < box.x0
               for k in kept):
            kept.append(float(v))
    kept.sort()
    ax.set_xticks(kept, [_mark(v) for v in kept])
