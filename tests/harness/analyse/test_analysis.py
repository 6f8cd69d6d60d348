"""Per-cell statistics: parity verdicts and how repetitions pair up."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.analyse.analysis import cells_frame, parity_verdict, records_frame
from tests.reports.fixtures import cell, fake_record


def _row(paradigm: str, digest: str, losses: list[float], device: str = "cpu",
         precision: str = "fp32") -> pd.Series:
    return pd.Series({"paradigm": paradigm, "weights_sha256": digest, "losses": losses,
                      "device": device, "precision": precision})


def test_other_weights_with_equal_losses_differ_where_bitwise_is_the_rule():
    base = _row("plain", "a", [2.0, 1.0])
    assert parity_verdict(_row("ignite", "a", [2.0, 1.0]), base) == ("bitwise", 0.0)
    assert parity_verdict(_row("ignite", "b", [2.0, 1.0]), base)[0] == "differs"  # CPU fp32


def test_mixed_precision_within_tolerance_is_close():
    base = _row("plain", "a", [2.0, 1.0], precision="bf16-mixed")
    row = _row("lightning", "b", [2.01, 1.0], precision="bf16-mixed")
    assert parity_verdict(row, base)[0] == "close"
    assert parity_verdict(_row("lightning", "b", [3.0, 1.0], precision="bf16-mixed"),
                          base)[0] == "differs"


def _pair_records(lost: int | None = None, resumed: set[int] = frozenset()) -> pd.DataFrame:
    """Plain at 1 ms + drift, Lightning exactly 200 us slower in the same repetition."""
    records = []
    for rep in range(8):
        drift = rep * 1e-4  # the machine slows down: pairing cancels it, position would not
        for paradigm, extra in (("plain", 0.0), ("lightning", 2e-4)):
            if paradigm == "lightning" and rep == lost:
                continue
            r = fake_record(cell("mlp", paradigm), rep, 1e-3 + drift + extra, noise=0.0)
            r["session"] = "s2" if paradigm == "lightning" and rep in resumed else "s1"
            records.append(r)
    return cells_frame(records_frame(records)).set_index("paradigm")


def test_overhead_pairs_by_repetition_and_drops_the_unmatched():
    row = _pair_records(lost=3).loc["lightning"]
    assert row["overhead_method"] == "sign test" and row["n"] == 7
    assert row["overhead_s"] == pytest.approx(2e-4)
    assert row["overhead_ci"] == pytest.approx((2e-4, 2e-4))  # every pair: exactly 200 us


def test_a_repetition_rerun_by_a_resume_pairs_with_nothing():
    row = _pair_records(resumed={0, 1, 2, 3, 4, 5, 6, 7}).loc["lightning"]
    assert row["overhead_method"] == "Mann-Whitney"  # nothing pairs: compared unpaired
    assert row["overhead_s"] == pytest.approx(2e-4)


def test_an_adaptively_stopped_group_reports_its_intervals_at_the_plans_level():
    """The report's interval for a group that ran "until the interval is tight" is the one
    the stop rule used: at the plan's per-look level (95% over every look), not at 95%."""
    from harness.analyse.analysis import plan_levels
    from harness.analyse.stopping import Plan

    records = [fake_record(cell("mlp", p), rep, 1e-3 * (1.2 if p == "lightning" else 1.0),
                           noise=0.05) for rep in range(12) for p in ("plain", "lightning")]
    frame = records_frame(records)
    manifest = {"cells": [{**cell("mlp", p).to_dict(), "repetitions": 30, "until_ci_pct": 4.0,
                           "min_repetitions": 12} for p in ("plain", "lightning")]}
    levels = plan_levels(manifest)
    assert list(levels.values()) == [Plan(30, 4.0, 12).level]
    fixed = cells_frame(frame).set_index("paradigm").loc["lightning"]
    adaptive = cells_frame(frame, levels).set_index("paradigm").loc["lightning"]
    assert fixed["ci_level"] == 0.95 and adaptive["ci_level"] == pytest.approx(0.9787, abs=1e-4)
    lo, hi = adaptive["overhead_ci"]
    assert lo < fixed["overhead_ci"][0] and fixed["overhead_ci"][1] < hi  # one rank further out
