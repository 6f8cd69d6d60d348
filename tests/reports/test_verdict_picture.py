"""The Verdict picture stays readable at any number of rows and any label length: measured on
the drawn figure (text boxes from matplotlib's own layout), never by comparing pixels."""

from __future__ import annotations

import itertools

import matplotlib as mpl
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from reports import plots
from reports.verdict import FRAMEWORK, STEP, VerdictRow, figure

LONG = " · ".join(["bert-base (small)", "minimal", "fp32", "world 1", "batch 8",
                   "cpu, 1 thread", "steps 2000", "warmup 500", "window 500",
                   "a-very-long-feature-name=12345"])


def _rows(groups: int, label: str) -> list[VerdictRow]:
    """Three paradigms per group: a wide sign, a bound, and the A/A, spread from -80% to
    +900% so that every candidate mark is in range."""
    out = []
    for g in range(groups):
        name = f"{label} · group {g}"
        out += [
            VerdictRow(name, "lightning", FRAMEWORK, 4.5 + g, (3.4 + g, 6.0 + g), 1.23e-3),
            VerdictRow(name, "ignite", STEP, 0.02, (-0.8, 0.4), 1.23e-3),
            VerdictRow(name, "plain-aa", STEP, -0.003, (-0.012, 0.009), 1.23e-3),
        ]
    return out


def _drawn(fig: Figure) -> Figure:
    with mpl.rc_context(plots.STYLE):
        fig.draw_without_rendering()
    return fig


def _texts(boxes: list[Bbox]) -> list[tuple[Bbox, Bbox]]:
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


@pytest.mark.parametrize(("groups", "label"), [(1, "mlp (small)"), (3, LONG), (14, LONG)])
def test_no_text_of_the_picture_overlaps_another_or_leaves_the_figure(groups, label):
    fig = figure(_rows(groups, label))
    assert fig is not None
    _drawn(fig)
    forest, readings = fig.axes
    marks = [t.get_window_extent() for t in forest.get_xticklabels() if t.get_text()]
    assert len(marks) >= 3  # 0 and a mark each side at least
    assert not _texts(marks), "x marks overlap"
    assert not _texts([t.get_window_extent() for t in forest.get_yticklabels()])
    assert not _texts([t.get_window_extent() for t in readings.texts])
    inside = fig.bbox.expanded(1.001, 1.001)
    for text in [*forest.get_xticklabels(), *forest.get_yticklabels(), *readings.texts,
                 *fig.legends[0].get_texts()]:
        box = text.get_window_extent()
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1, text.get_text()


def test_the_forest_keeps_at_least_a_third_of_the_width_whatever_the_labels():
    fig = _drawn(figure(_rows(4, LONG)))  # type: ignore[arg-type]
    assert fig.axes[0].get_window_extent().width >= fig.bbox.width / 3


def test_each_reading_is_level_with_its_point_in_its_paradigm_colour():
    rows = _rows(2, "mlp (small)")
    fig = _drawn(figure(rows))  # type: ignore[arg-type]
    forest, readings = fig.axes
    texts = readings.texts
    assert [t.get_text().split(":")[0] for t in texts] == [
        "Lightning", "Ignite", "plain again (A/A)"] * 2
    assert all(t.get_color() == plots.color(r.paradigm) for t, r in zip(texts, rows))
    points = [line for line in forest.lines if line.get_marker() in ("o", "D")]
    assert [t.get_position()[1] for t in texts] == [p.get_ydata()[0] for p in points]
    assert texts[0].get_text().endswith("(framework time)")
