"""Adaptive repetitions: a cell group stops when its overhead intervals are tight, or at its
maximum, and the manifest says which rule fired (records are faked: no processes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import harness.launch.matrix as matrix
from harness.launch.stopping import RULE_CI, RULE_MAX, Plan, decide, worst_half_width_pct
from tests.conftest import tiny_cell


def _keyed(values) -> dict[tuple[str, int], float]:
    return {("", rep): float(v) for rep, v in enumerate(values)}


def test_decide_waits_for_six_repetitions_before_an_interval_exists():
    plan = Plan(20, until_ci_pct=50.0)
    times = {"plain": _keyed([1.0] * 5), "lightning": _keyed([1.2] * 5)}
    assert decide(plan, 5, times) is None
    times = {"plain": _keyed([1.0] * 6), "lightning": _keyed([1.2] * 6)}
    stop = decide(plan, 6, times)
    assert stop.rule == RULE_CI and stop.repetitions == 6 and stop.half_width_pct == 0.0


def test_decide_stops_at_the_maximum_and_reports_the_width_reached():
    rng = np.random.default_rng(0)
    times = {"plain": _keyed(1 + 0.2 * rng.random(8)),
             "lightning": _keyed(1.3 + 0.2 * rng.random(8))}
    stop = decide(Plan(8, until_ci_pct=1.0), 8, times)
    assert stop.rule == RULE_MAX and stop.half_width_pct > 1.0
    assert decide(Plan(3), 3, times).rule == RULE_MAX  # a fixed count: no interval asked


def test_a_plain_only_group_is_judged_by_its_own_median():
    plain = _keyed([1.0, 1.0, 1.0, 1.0, 1.0, 1.1])
    assert worst_half_width_pct({"plain": plain}) == pytest.approx(5.0)
    assert worst_half_width_pct({"lightning": _keyed([1.0] * 6)}) is None  # no baseline


def test_matrix_stops_tight_groups_early_and_records_why(tmp_path, fake_runs):
    tight = [tiny_cell("linear", p, batch_size=8) for p in ("plain", "lightning")]
    wide = [tiny_cell("linear", p, batch_size=64) for p in ("plain", "lightning")]
    plans = {c: Plan(12, until_ci_pct=2.0) for c in tight + wide}
    matrix.execute(tight + wide, tmp_path, plans, progress=False)
    runs = {key: sum(1 for k, _ in fake_runs if k == key) for key, _ in fake_runs}
    assert {runs[c.key] for c in tight} == {6}  # stopped as soon as an interval existed
    assert {runs[c.key] for c in wide} == {12}  # ran to the maximum
    stops = {c["batch_size"]: c["stop"] for c in
             json.loads((tmp_path / "manifest.json").read_text())["cells"]}
    assert stops[8]["rule"] == RULE_CI and stops[8]["half_width_pct"] <= 2.0
    assert stops[64]["rule"] == RULE_MAX and stops[64]["repetitions"] == 12


def test_profiling_repetitions_run_once_after_the_timed_ones(tmp_path, fake_runs):
    cells = [tiny_cell("linear", p) for p in ("plain", "ignite")]
    matrix.execute(cells, tmp_path, {c: Plan(2, attribution=True) for c in cells},
                   progress=False)
    profiled = [k for k, _ in fake_runs if "profiled" in k]
    assert len(profiled) == 2 and fake_runs[-2:] == [(k, 0) for k in profiled]
