"""The terminal summary: what its step column means is printed with it."""

from __future__ import annotations

from harness.analyse.analysis import records_frame
from harness.analyse.table import LEGEND, format_table
from tests.reports.fixtures import cell, fake_record


def test_the_table_names_the_mean_step_and_says_how_overhead_pairs():
    records = [fake_record(cell("mlp", p), rep, 1e-3 + extra, noise=0.0)
               for rep in range(2) for p, extra in (("plain", 0.0), ("ignite", 1e-4))]
    out = format_table(records_frame(records))
    header = next(line for line in out.splitlines() if line.strip().startswith("paradigm"))
    assert "mean step" in header and "median" not in header
    assert out.count(LEGEND) == 1
    ignite = next(line for line in out.splitlines() if line.strip().startswith("ignite"))
    assert "+100 us" in ignite  # the paired difference of mean steps, exactly 100 us


def test_an_empty_run_says_it_has_no_records():
    assert format_table(records_frame([])) == "no records yet"


def test_a_run_of_failures_lists_them_without_a_legend():
    failed = [fake_record(cell("mlp", "plain"), 0, status="error", message="boom")]
    out = format_table(records_frame(failed))
    assert "[error]" in out and "boom" in out and LEGEND not in out
