"""The Framework time and Features sections, rendered from records with known answers."""

from __future__ import annotations

import re

import pytest

from reports.render import render_run
from tests.reports.feature_fixtures import feature_records
from tests.reports.fixtures import standard_run, write_run
from tests.reports.htmlcheck import read
from tests.reports.test_sections import _rows, _section_html


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("features"), feature_records(), suite="features")
    html, page = read(render_run(run))
    return html, page


def _text(page, section: str) -> str:
    return re.sub(r"\s+", " ", page.section_text(section))


def test_feature_costs_per_step_and_per_event(page):
    html, _ = page
    rows = {r.split("|")[0]: re.sub(r"\s+", " ", r)
            for r in _rows(_section_html(html, "features"))}
    # Lightning's checkpoint: +120 us on a 1.6 ms step, 5 checkpoints in 40 measured steps
    lightning = rows["checkpoint"].split("|")[2]
    assert "+120 us (+7.5%)" in lightning and "+960 us per event (5 events)" in lightning
    assert "95% t +120..+120 us" in lightning and "disk 2.0 KiB/event" in lightning
    assert "+2.40 ms per event (5 events)" in rows["validate"].split("|")[2]
    assert "+80 us (+8.0%)" in rows["validate"].split("|")[1]


def test_features_section_has_a_heatmap(page):
    html, _ = page
    section = _section_html(html, "features")
    assert section.count("<svg") == 1
    assert "+300 us" in section  # the heatmap's own cell text, escaped by matplotlib


def test_behaviour_compares_validation_values_with_the_plain_loop(page):
    text = _text(page[1], "features")
    assert re.search(r"plain 5 baseline lightning 5 within 3\.0e-08 \(relative\) ignite 5 "
                     r"identical", text)


def test_framework_time_rows_and_agreement(page):
    html, _ = page
    rows = _rows(_section_html(html, "framework"))
    bare = rows[rows.index(next(r for r in rows if r.startswith("Paradigm"))) + 1:][:3]
    # the data wait (100 us, 9.5% of the step) is a phase of its own, not framework time
    assert bare[0].startswith("plain|6|1.05 ms|200 us|250 us|50 us|100 us 9.5%|450 us")
    lightning = next(r for r in rows if r.startswith("lightning|6|1.60 ms"))
    assert "1.00 ms" in lightning and "+600 us" in lightning and lightning.endswith("agree")
    assert "waits for data" not in _text(page[1], "framework")  # 9.5% is not loader-bound


def test_a_cell_that_mostly_waits_for_data_is_named(tmp_path):
    records = feature_records()
    for r in records:  # the plain loop waits 500 us of its ~1 ms step
        if r["config"]["paradigm"] == "plain" and r["measurements"].get("phases"):
            r["measurements"]["phases"]["data"] = 0.0005
    _, page = read(render_run(write_run(tmp_path, records, suite="features")))
    assert "The plain loop waits for data for 47.6% of its step" in _text(page, "framework")
    assert "waits for data 47.6%" in _text(page, "verdict")


def test_attribution_names_the_largest_framework_functions(page):
    text = _text(page[1], "framework")
    assert ("Lightning: 480 us/step in framework code (timed excess over plain +600 us), "
            "1150 Python calls/step; the largest: call:_call_lightning_module_hook 210 us "
            "(1 call)") in text
    assert "cProfile's cost, 200 ns per call, removed" in text


def test_calibration_compares_injected_measured_and_attributed(page):
    html, _ = page
    rows = [r for r in _rows(_section_html(html, "framework")) if "|mlp|200 us|" in r]
    # the attribution against what the profiled run's waits took (210 us), not the delay
    assert rows == ["plain|mlp|200 us|198 us|-1%|210 us|202 us|-4%",
                    "lightning|mlp|200 us|208 us|+4%|210 us|202 us|-4%",
                    "ignite|mlp|200 us|190 us|-5%|210 us|202 us|-4%"]


def test_sections_say_so_when_nothing_was_measured(tmp_path):
    _, page = read(render_run(standard_run(tmp_path)))
    assert "no cell in this run timed its phases" in _text(page, "framework").lower()
    assert "no feature cells in this run" in _text(page, "features").lower()


def test_attribution_gives_the_data_loading_share_of_the_profiled_step(page):
    text = _text(page[1], "framework")
    # plain's profiled step: 500 us of compute, 60 us of framework code, 100 us of data loading
    assert "data loading 100 us, 15.2%" in text
