"""Matplotlib figures rendered to inline SVG strings, one small figure per cell group.

Figures are built with ``matplotlib.figure.Figure`` directly, never through pyplot: nothing is
registered with a global figure manager, so nothing has to be closed and no GUI backend is
ever touched. Style lives in an ``rc_context`` so the caller's rcParams are left alone.

Safety and determinism of the SVG:
- text is written as ``<text>`` (``svg.fonttype = none``); matplotlib XML-escapes it, so a
  hostile workload name shows as text. ``text.parse_math`` is off so a ``$`` in a name is
  never read as mathtext (which could fail to parse).
- ``svg.hashsalt`` is fixed and the date left out, so the same data gives the same bytes.
- every id gets a caller-chosen prefix, unique on the page: several SVGs share one HTML
  document, and matplotlib reuses ids such as ``figure_1`` or clip-path hashes across figures.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

# Consistent across plots and the page's CSS badges.
PARADIGM_COLORS = {"plain": "#475569", "lightning": "#7c3aed", "ignite": "#ea580c",
                   "plain-aa": "#94a3b8"}
# Distinct line styles keep bitwise-identical loss curves visible on top of each other.
PARADIGM_LINES = {"plain": ("-", 2.6), "lightning": ("--", 1.6), "ignite": (":", 1.8)}
STARTUP_FIELDS = {"import_framework_s": "import framework", "to_first_step_s": "to first step",
                  "spawn_to_first_step_s": "spawn to first step"}

# Any-keyed: matplotlib types rc_context keys as a Literal of every rcParam name.
STYLE: dict[Any, Any] = {
    "svg.hashsalt": "paradigm-bench",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#94a3b8",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e2e8f0",
    "grid.linewidth": 0.8,
    "xtick.color": "#334155",
    "ytick.color": "#334155",
    "legend.frameon": False,
    "legend.fontsize": 8,
}

# An id definition or an internal reference to one (markers, clip paths).
_ID_OR_REF = re.compile(r'(\bid="|href="#|url\(#)')


def color(paradigm: str) -> str:
    return PARADIGM_COLORS.get(paradigm, "#0f766e")


def time_unit(seconds: Sequence[float]) -> tuple[float, str]:
    """A scale and unit name (s, ms, us) that gives readable axis numbers for these values."""
    finite = [abs(s) for s in seconds if s is not None and math.isfinite(s)]
    top = max(finite, default=1.0)
    if top < 1e-3:
        return 1e6, "us"
    if top < 1:
        return 1e3, "ms"
    return 1.0, "s"


@contextmanager
def _figure(width: float = 4.6, height: float = 2.9) -> Iterator[tuple[Figure, Axes]]:
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        yield fig, fig.add_subplot()


def to_svg(fig: Figure, key: str) -> str:
    """The figure as an inline ``<svg>`` element: no XML prolog, no metadata, ids prefixed.

    ``key`` must be unique within the page and made of id-safe characters.
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
        raise ValueError(f"not an id-safe figure key: {key!r}")
    buf = io.StringIO()
    with mpl.rc_context(STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    # The RDF metadata names the matplotlib version and a URL; the page needs neither.
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = _ID_OR_REF.sub(lambda m: f"{m.group(1)}{key}-", svg)
    return svg.replace("<svg ", '<svg role="img" ', 1)


def step_distribution(
    key: str, title: str, windows: Mapping[str, Sequence[Sequence[float]]]
) -> str:
    """Box per paradigm over every timing window of every repetition, with the raw points.

    ``windows[paradigm]`` holds one list of per-window step times per repetition. The points of
    a repetition share one column next to the box, so a slow repetition shows as a column.
    """
    flat = [w for reps in windows.values() for rep in reps for w in rep]
    scale, unit = time_unit(flat)
    with _figure() as (fig, ax):
        names = list(windows)
        data = [[w * scale for rep in windows[p] for w in rep] for p in names]
        if any(data):
            box = ax.boxplot(data, positions=range(len(names)), widths=0.55, showfliers=False,
                             patch_artist=True, medianprops={"color": "#0f172a"})
            for patch, name in zip(box["boxes"], names, strict=True):
                patch.set(facecolor=to_rgba(color(name), 0.18), edgecolor=color(name))
        rng = np.random.default_rng(0)  # fixed jitter: the same data draws the same picture
        for i, name in enumerate(names):
            reps = windows[name]
            for r, rep in enumerate(reps):
                offset = (r - (len(reps) - 1) / 2) * min(0.1, 0.5 / max(len(reps), 1))
                x = i + offset + rng.uniform(-0.02, 0.02, len(rep))
                ax.scatter(x, np.asarray(rep, float) * scale, s=7, color=color(name),
                           alpha=0.7, linewidths=0)
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel(f"step time per window ({unit})")
        ax.set_title(title, loc="left")
        return to_svg(fig, key)


def throughput(key: str, title: str, item_name: str, values: Mapping[str, Sequence[float]]) -> str:
    """Median items/s per paradigm as bars; the whiskers span the repetitions (min to max)."""
    with _figure(4.2, 2.9) as (fig, ax):
        names = list(values)
        med = [float(np.median(v)) if len(v) else math.nan for v in values.values()]
        lo = [m - min(v) if len(v) else 0 for m, v in zip(med, values.values(), strict=True)]
        hi = [max(v) - m if len(v) else 0 for m, v in zip(med, values.values(), strict=True)]
        bars = ax.bar(range(len(names)), med, color=[color(n) for n in names], width=0.6,
                      yerr=[lo, hi], capsize=3, ecolor="#0f172a", error_kw={"linewidth": 0.8})
        ax.bar_label(bars, labels=[_si(m) for m in med], padding=3, fontsize=8)
        ax.set_xticks(range(len(names)), names)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _si(v)))
        ax.set_ylabel(f"{item_name}/s")
        ax.margins(y=0.15)
        ax.set_title(title, loc="left")
        return to_svg(fig, key)


def startup(key: str, title: str, medians: Mapping[str, Mapping[str, float]]) -> str:
    """Grouped bars: one group per start-up figure, one bar per paradigm.

    Grouped, not stacked: spawn-to-first-step already contains the other two.
    """
    with _figure(4.6, 2.9) as (fig, ax):
        names = list(medians)
        width = 0.8 / max(len(names), 1)
        for i, name in enumerate(names):
            x = np.arange(len(STARTUP_FIELDS)) + (i - (len(names) - 1) / 2) * width
            y = [medians[name].get(f, math.nan) for f in STARTUP_FIELDS]
            ax.bar(x, y, width=width * 0.92, color=color(name), label=name)
        ax.set_xticks(range(len(STARTUP_FIELDS)), list(STARTUP_FIELDS.values()))
        ax.set_ylabel("seconds")
        ax.legend(loc="upper left")
        ax.set_title(title, loc="left")
        return to_svg(fig, key)


def loss_curves(key: str, title: str, losses: Mapping[str, Sequence[float]]) -> str:
    """Per-step training loss of each paradigm, overlaid; below, the gap to the plain loop."""
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(4.6, 3.6), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
        base = losses.get("plain")
        for name, curve in losses.items():
            style, width = PARADIGM_LINES.get(name, ("-.", 1.4))
            y = np.asarray(curve, float)
            steps = np.arange(1, len(y) + 1)
            top.plot(steps, y, style, color=color(name), linewidth=width, label=name)
            if base is not None and name != "plain" and len(base) == len(y):
                b = np.asarray(base, float)
                gap = np.abs(y - b) / np.maximum(np.abs(b), 1e-12)
                bottom.plot(steps, gap, style, color=color(name), linewidth=width)
        top.set_ylabel("loss")
        top.legend(loc="upper right")
        top.set_title(title, loc="left")
        bottom.set_ylabel("|Δ| / plain")
        bottom.set_xlabel("step (warm-up included)")
        return to_svg(fig, key)


def _si(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def speedups(key: str, title: str, values: Mapping[str, Mapping[str, float]]) -> str:
    """Grouped bars: one group per config, one bar per paradigm, height fp32 / mixed step time.

    The dashed line at 1x is "no faster than fp32".
    """
    configs = list(values)
    names = list(dict.fromkeys(p for v in values.values() for p in v))
    with _figure(max(4.2, 1.1 + 1.3 * len(configs)), 2.9) as (fig, ax):
        width = 0.8 / max(len(names), 1)
        for i, name in enumerate(names):
            x = np.arange(len(configs)) + (i - (len(names) - 1) / 2) * width
            y = [values[c].get(name, math.nan) for c in configs]
            bars = ax.bar(x, y, width=width * 0.92, color=color(name), label=name)
            ax.bar_label(bars, labels=[f"{v:.2f}x" if math.isfinite(v) else "" for v in y],
                         padding=2, fontsize=7)
        ax.axhline(1.0, color="#0f172a", linewidth=0.9, linestyle="--")
        ax.set_xticks(range(len(configs)), configs)
        ax.set_ylabel("speedup (fp32 / mixed)")
        top = max((v for c in values.values() for v in c.values() if math.isfinite(v)),
                  default=1.0)
        ax.set_ylim(0, max(top, 1.0) * 1.4)  # headroom for the labels and the legend row
        ax.legend(loc="upper left", ncols=max(len(names), 1))
        ax.set_title(title, loc="left")
        return to_svg(fig, key)


def scaling(key: str, title: str, item_name: str,
            series: Mapping[str, Sequence[tuple[int, float, float]]]) -> str:
    """Throughput against world size per paradigm, solid, with its ideal dashed beside it.

    ``series[paradigm]`` holds (world size, items/s, ideal items/s) points; ideal is N x the
    paradigm's own throughput at world size 1.
    """
    with _figure(4.6, 2.9) as (fig, ax):
        worlds = sorted({w for pts in series.values() for w, _, _ in pts})
        for name, pts in series.items():
            w = [p[0] for p in pts]
            ax.plot(w, [p[1] for p in pts], "-o", color=color(name), linewidth=1.8,
                    markersize=4, label=name)
            ax.plot(w, [p[2] for p in pts], "--", color=color(name), linewidth=1.0, alpha=0.7)
        ax.plot([], [], "--", color="#64748b", linewidth=1.0, label="ideal (N x world 1)")
        ax.set_xticks(worlds, [str(w) for w in worlds])
        ax.set_xlabel("world size (processes)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _si(v)))
        ax.set_ylabel(f"{item_name}/s")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left")
        ax.set_title(title, loc="left")
        return to_svg(fig, key)


CATEGORY_COLORS = {"forward": "#93c5fd", "backward": "#3b82f6", "optimizer": "#1e3a8a",
                   "data loading": "#a3e635", "harness probe": "#cbd5e1",
                   "framework": "#f97316", "other": "#e2e8f0"}


def attribution(key: str, title: str, categories: Mapping[str, Mapping[str, float]],
                functions: Mapping[str, Mapping[str, float]]) -> str:
    """Left: each paradigm's profiled step split into categories (stacked, us/step). Right:
    the framework functions that take most time per step, per paradigm."""
    names = list(categories)
    ranked = [(p, f, v) for p in names for f, v in functions.get(p, {}).items()]
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(9.2, max(2.6, 0.9 + 0.24 * max(len(ranked), 3 * len(names)))),
                     layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[1, 1.4])
        scale, unit = time_unit([v for c in categories.values() for v in c.values()])
        starts = np.zeros(len(names))
        for category, hue in CATEGORY_COLORS.items():
            widths = np.array([categories[p].get(category, 0.0) * scale for p in names])
            left.barh(range(len(names)), widths, left=starts, color=hue, label=category,
                      height=0.6)
            starts += widths
        left.set_yticks(range(len(names)), names)
        left.invert_yaxis()
        left.set_xlabel(f"profiled step ({unit}, profiler cost removed)")
        handles, labels = left.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(CATEGORY_COLORS),
                   fontsize=7)
        left.set_title(title, loc="left")
        fscale, funit = time_unit([v for _, _, v in ranked])
        ys = np.arange(len(ranked))
        right.barh(ys, [v * fscale for _, _, v in ranked], color=[color(p) for p, _, _ in ranked],
                   height=0.7)
        right.set_yticks(ys, [shorten_label(f) for _, f, _ in ranked], fontsize=7)
        right.invert_yaxis()
        right.set_xlabel(f"{funit}/step")
        right.set_title("top framework functions", loc="left")
        return to_svg(fig, key)


def shorten_label(label: str, width: int = 48) -> str:
    return label if len(label) <= width else "…" + label[-(width - 1):]


def feature_heatmap(key: str, title: str, features: Sequence[str], paradigms: Sequence[str],
                    fraction: Mapping[tuple[str, str], float],
                    notes: Mapping[tuple[str, str], str]) -> str:
    """Features (rows) x paradigms (columns): colour is the cost as % of the step without the
    feature, the text the cost per step; empty where the pair was not measured."""
    with _figure(max(5.0, 2.6 + 1.9 * len(paradigms)), max(2.4, 1.0 + 0.5 * len(features))) \
            as (fig, ax):
        grid = np.full((len(features), len(paradigms)), np.nan)
        for i, f in enumerate(features):
            for j, p in enumerate(paradigms):
                grid[i, j] = fraction.get((f, p), np.nan) * 100
        top = np.nanmax(np.abs(grid)) if np.isfinite(grid).any() else 1.0
        image = ax.imshow(grid, cmap="RdYlGn_r", vmin=-max(top, 1.0), vmax=max(top, 1.0),
                          aspect="auto")
        for i, f in enumerate(features):
            for j, p in enumerate(paradigms):
                ax.text(j, i, notes.get((f, p), ""), ha="center", va="center", fontsize=8.5)
        ax.set_xticks(range(len(paradigms)), paradigms)
        ax.set_yticks(range(len(features)), features)
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="% of the step without it", shrink=0.8)
        ax.set_title(title, loc="left")
        return to_svg(fig, key)


def by_release(key: str, title: str, releases: Sequence[str],
               series: Mapping[str, Sequence[tuple[float, Any]]]) -> str:
    """One line per cell group across releases (oldest left): a point estimate with its 95%
    interval as a whisker, where there is one, and a hollow point where there is none.
    ``series`` values are (seconds, (lo, hi) | None) per release; NaN where the release has no
    such cell."""
    every = [v for points in series.values() for v, _ in points]
    scale, unit = time_unit(every)
    with _figure(5.2, 3.0) as (fig, ax):
        x = np.arange(len(releases))
        for i, (name, points) in enumerate(series.items()):
            y = np.array([v * scale for v, _ in points], float)
            err = np.array([[(v - ci[0]) * scale, (ci[1] - v) * scale] if ci else [0.0, 0.0]
                            for v, ci in points], float).T
            offset = (i - (len(series) - 1) / 2) * 0.06  # whiskers of lines side by side
            drawn = ax.errorbar(x + offset, y, yerr=err, marker="o", markersize=4, capsize=3,
                                linewidth=1.4, label=shorten_label(name, 40))
            # a point without an interval is hollow: no whisker must not read as a tight one
            bare = np.array([not ci for _, ci in points], bool)
            ax.plot((x + offset)[bare], y[bare], linestyle="none", marker="o", markersize=4,
                    markerfacecolor="white", markeredgecolor=drawn.lines[0].get_color(),
                    zorder=3)
        ax.axhline(0, color="#94a3b8", linewidth=0.8)
        ax.set_xticks(x, list(releases))
        ax.set_ylabel(f"{unit} per step")
        ax.legend(loc="best", fontsize=7)
        ax.set_title(title, loc="left")
        return to_svg(fig, key)


MODE_MARKERS = {"none": "o", "default": "s", "reduce-overhead": "^",
                "max-autotune-no-cudagraphs": "D"}


def overhead_by_step(key: str, title: str,
                     series: Mapping[str, Sequence[Sequence[tuple[float, float, str]]]]) -> str:
    """The step overhead's share against the plain loop's step time, log x.

    ``series[paradigm]`` holds one line per config: its (plain step s, overhead fraction,
    compile mode) points, eager and compiled; the marker names the mode. As compilation
    shrinks the step, a fixed per-step framework cost takes a growing share of it.
    """
    with _figure(5.4, 3.2) as (fig, ax):
        for name, lines in series.items():
            for line in lines:
                pts = sorted(line)
                ax.plot([p[0] * 1e3 for p in pts], [p[1] * 100 for p in pts], "-",
                        color=color(name), linewidth=1.0, alpha=0.6)
                for x, y, mode in pts:
                    ax.scatter(x * 1e3, y * 100, marker=MODE_MARKERS.get(mode, "x"), s=26,
                               color=color(name), zorder=3)
            ax.plot([], [], "-", color=color(name), label=name)
        used = {mode for lines in series.values() for line in lines for *_, mode in line}
        for mode, marker in MODE_MARKERS.items():
            if mode in used:
                ax.scatter([], [], marker=marker, color="#64748b", label=mode, s=22)
        ax.set_xscale("log")
        for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
            axis(FuncFormatter(lambda v, _: f"{v:g}"))  # plain numbers: no mathtext here
        ax.axhline(0, color="#0f172a", linewidth=0.8)
        ax.set_xlabel("plain loop's step time (ms, log)")
        ax.set_ylabel("overhead vs plain (% of its step)")
        ax.legend(loc="upper right", fontsize=7)
        ax.set_title(title, loc="left")
        return to_svg(fig, key)
