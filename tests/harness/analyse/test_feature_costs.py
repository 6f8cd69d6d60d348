"""Feature costs: the cell with a feature minus the same cell without it, per paradigm."""

from __future__ import annotations

import math

import pytest

from harness.analyse.analysis import records_frame
from harness.analyse.feature_costs import PROBES, feature_costs
from tests.reports.feature_fixtures import (
    BASE_S,
    CHECKPOINT_BYTES,
    COST_S,
    WOBBLE,
    _timed,
    feature_records,
)
from tests.reports.fixtures import cell, fake_record


@pytest.fixture(scope="module")
def costs():
    return feature_costs(records_frame(feature_records()))


def _row(costs, feature, paradigm):
    rows = costs[(costs["feature"] == feature) & (costs["paradigm"] == paradigm)]
    assert len(rows) == 1, (feature, paradigm, len(rows))
    return rows.iloc[0]


@pytest.mark.parametrize(("feature", "paradigm"), sorted(COST_S))
def test_cost_is_the_difference_of_mean_steps(costs, feature, paradigm):
    r = _row(costs, feature, paradigm)
    assert r["n"] == 6 and r["base_features"] == "none"
    assert r["cost_s"] == pytest.approx(COST_S[feature, paradigm], abs=1e-12)
    lo, hi = r["cost_ci"]  # the wobble is shared, so the paired differences are all equal
    assert lo == pytest.approx(r["cost_s"], abs=1e-12) and hi == pytest.approx(r["cost_s"],
                                                                              abs=1e-12)
    assert r["framework_cost_s"] == pytest.approx(COST_S[feature, paradigm], abs=1e-12)
    base = BASE_S[paradigm] + sum(WOBBLE) / len(WOBBLE)  # the mean step without the feature
    assert r["cost_frac"] == pytest.approx(COST_S[feature, paradigm] / base, rel=1e-6)


@pytest.mark.parametrize("paradigm", ["plain", "lightning", "ignite"])
def test_per_event_cost_counts_the_events_in_the_measured_steps(costs, paradigm):
    # 4 warm-up + 40 measured steps, every 8: steps 8, 16, 24, 32, 40 are all measured
    for feature in ("checkpoint", "validate"):
        r = _row(costs, feature, paradigm)
        assert r["events"] == 5
        assert r["per_event_s"] == pytest.approx(COST_S[feature, paradigm] * 40 / 5)
    ckpt = _row(costs, "checkpoint", paradigm)
    assert ckpt["disk_per_event_bytes"] == CHECKPOINT_BYTES
    assert _row(costs, "validate", paradigm)["disk_bytes"] == 0


def test_a_feature_without_its_bare_twin_is_not_costed():
    records = [r for r in feature_records(3) if r["config"]["features"].get("ckpt_every")
               or r["config"]["features"].get("val_every")]
    assert feature_costs(records_frame(records)).empty


def test_phase_probes_are_costed_against_the_unprobed_twin():
    records = [_timed("none", "plain", rep) for rep in range(3)]
    unprobed = [_timed("none", "plain", rep, phases=False) for rep in range(3)]
    for r in unprobed:
        r["measurements"]["step_time_s"] -= 12e-6
    costs = feature_costs(records_frame(records + unprobed))
    r = _row(costs, PROBES, "plain")
    assert r["cost_s"] == pytest.approx(12e-6, abs=1e-12) and r["n"] == 3
    assert r["per_event_s"] is None or math.isnan(r["per_event_s"])


def test_a_feature_another_one_needs_is_skipped_not_fatal():
    """Best-k checkpoints need validation: {val_every, ckpt_best_k} has no valid twin without
    validation, so only the best-k checkpoint is costed (against validation alone)."""
    def record(features, rep, step):
        r = fake_record(cell("mlp", "plain", features=features), rep, step, noise=0.0)
        r["measurements"]["step_time_s"] = step
        return r

    val, best = {"val_every": 8}, {"val_every": 8, "ckpt_best_k": 2}
    records = [record(f, rep, s + 1e-6 * rep) for rep in range(3)
               for f, s in ((val, 0.001), (best, 0.0012))]
    costs = feature_costs(records_frame(records))
    assert list(costs["feature"]) == ["checkpoint-best"]
    assert costs.iloc[0]["cost_s"] == pytest.approx(0.0002, abs=1e-12)
