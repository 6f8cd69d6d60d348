"""The compare page: cells matched by config, significance only per ``Change.significant``."""

from __future__ import annotations

import pytest

from reports.compare import compare_context, min_p_value
from reports.load import load
from reports.render import render_compare
from tests.reports.fixtures import cell, fake_record, standard_records, write_run
from tests.reports.htmlcheck import external_references, read


def _scaled(records, factors):
    """Copies of ``records`` with step times scaled per paradigm (the after-run)."""
    out = []
    for r in records:
        cfg = cell(**{k: v for k, v in r["config"].items() if k != "timeout_s"})
        step = r["measurements"]["step_time_s"] * factors.get(cfg.paradigm.value, 1.0)
        out.append(fake_record(cfg, r["repetition"], step))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    before = standard_records(("mlp",), repetitions=6)
    # Lightning 30% slower in every repetition; Ignite 0.5% slower: real but too small to flag.
    after = _scaled(before, {"lightning": 1.3, "ignite": 1.005})
    return write_run(root / "before", before), write_run(root / "after", after)


def test_large_consistent_change_is_significant_and_tiny_one_is_not(runs):
    ctx = compare_context(load(runs[0]), load(runs[1]))
    rows = {r["paradigm"]: r for r in ctx["rows"]}
    assert set(rows) == {"plain", "lightning", "ignite"}
    assert rows["lightning"]["significant"] and rows["lightning"]["verdict"] == "slower"
    assert 1.2 < float(rows["lightning"]["ratio"].lstrip("\N{MULTIPLICATION SIGN}")) < 1.4
    assert float(rows["lightning"]["p"]) < 0.01
    assert not rows["ignite"]["significant"]
    assert rows["ignite"]["verdict"] == "no significant change"
    assert not rows["plain"]["significant"]
    assert ctx["only_before"] == [] and ctx["only_after"] == []


def test_compare_page_states_the_rule_and_marks_the_change(runs):
    path = render_compare(*runs)
    assert path == runs[1] / "compare.html"
    _, page = read(path)
    text = page.all_text()
    assert "p < 0.01" in text and "at least 5.0%" in text
    assert "slower 1" in text  # outcome count in the header
    assert external_references(page) == [] and page.tags("script") == []


def test_cells_in_one_run_only_are_listed(tmp_path):
    before = write_run(tmp_path / "b", standard_records(("mlp",), 2))
    after = write_run(tmp_path / "a", standard_records(("mlp",), 2, batch_size=64))
    ctx = compare_context(load(before), load(after))
    assert ctx["rows"] == []
    assert len(ctx["only_before"]) == 3 and len(ctx["only_after"]) == 3
    assert "batch 32" in ctx["only_before"][0] and "batch 64" in ctx["only_after"][0]
    render_compare(before, after, tmp_path / "c.html")  # renders without rows


def test_too_few_repetitions_are_flagged_as_untestable(tmp_path):
    before = write_run(tmp_path / "b", standard_records(("mlp",), 1))
    after = write_run(tmp_path / "a", _scaled(standard_records(("mlp",), 1), {"lightning": 2}))
    ctx = compare_context(load(before), load(after))
    assert {r["verdict"] for r in ctx["rows"]} == {"not testable"}
    assert ctx["underpowered"]


def test_three_repetitions_cannot_reach_the_threshold():
    assert min_p_value(3, 3) == pytest.approx(0.1)
    assert min_p_value(5, 5) < 0.01
    assert min_p_value(1, 5) != min_p_value(1, 5)  # NaN: no test


def test_empty_or_failed_runs_compare_without_rows(tmp_path):
    (tmp_path / "empty" / "cells").mkdir(parents=True)
    failed = write_run(tmp_path / "failed", [fake_record(cell(), 0, status="error")])
    full = write_run(tmp_path / "full", standard_records(("mlp",), 2))
    for before, after in ((tmp_path / "empty", full), (full, failed), (failed, tmp_path / "empty")):
        _, page = read(render_compare(before, after, tmp_path / "out.html"))
        assert "No cell succeeded in both runs" in page.section_text("changes")
