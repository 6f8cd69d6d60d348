"""Interval coverage by simulation (fixed seeds: the same counts every time), and the A/A
check: the plain loop entered twice reads "no difference" at the rate the level promises."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analyse.analysis import cells_frame, records_frame
from harness.analyse.coverage import (
    POOLED,
    T,
    coverage,
    main,
    recorded,
    run_differences,
    synthetic,
)
from harness.analyse.stopping import Plan
from harness.config import Paradigm
from harness.matrix.matrix import execute
from harness.results import load_run
from tests.conftest import tiny_cell

RUNS = 400  # simulated runs of 10 groups: 4000 intervals, a binomial margin of +-0.7%


@pytest.mark.parametrize("n", [3, 6])
def test_each_groups_own_t_interval_keeps_95_percent(n):
    result = coverage(synthetic([1.0] * 10), T, n, RUNS, seed=n)
    assert abs(result.rate - 0.95) <= 2 * result.margin


def test_a_pooled_variance_holds_only_where_the_groups_share_their_noise():
    same = coverage(synthetic([1.0] * 10), POOLED, 3, RUNS, seed=1)
    assert abs(same.rate - 0.95) <= 2 * same.margin
    # noise scales from 1/4 to 4 times the typical: the noisiest group is badly under-covered,
    # which is why the report does not pool (docs: statistics)
    mixed = coverage(synthetic(list(np.geomspace(0.25, 4.0, 10))), POOLED, 3, RUNS, seed=1)
    assert mixed.worst_group < 0.85


def test_an_aa_pair_resampled_with_random_signs_reads_no_difference_at_the_level():
    rng = np.random.default_rng(7)
    recorded_aa = rng.standard_normal(12) * 3e-5  # 12 recorded paired differences
    result = coverage(recorded([recorded_aa], [1e-3], [True]), T, 4, 4000, seed=3)
    assert abs(result.rate - 0.95) <= 2 * result.margin + 0.01


def test_a_runs_aa_group_and_its_differences_come_from_the_records(tmp_path, fake_runs):
    cells = [tiny_cell("mlp", p) for p in (Paradigm.PLAIN, Paradigm.PLAIN_AA,
                                           Paradigm.LIGHTNING)]
    execute(cells, tmp_path, dict.fromkeys(cells, Plan(4)), progress=False)
    frame = records_frame(load_run(tmp_path))
    stats = cells_frame(frame)
    assert set(stats["paradigm"]) == {"plain", "plain-aa", "lightning"}
    diffs, steps, labels, aa = run_differences(frame, "step_time_s")
    assert labels == ["mlp/lightning", "mlp/plain-aa"] and aa == [False, True]
    assert all(d.size == 4 for d in diffs) and all(s > 0 for s in steps)
    assert main([str(tmp_path), "--runs", "20"]) == 0


def _speed_rows(n: int, seed: int, excess: float) -> np.ndarray:
    """Recorded-like pairs: each process at its own speed (scaling its framework and compute
    times alike), the candidate ``excess`` of compute above the plain loop's 10%."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        out = []
        for share in (0.10 + excess, 0.10):
            compute = 4e-3 * float(np.exp(rng.normal(0, 0.12)))
            out += [share * compute * (1 + rng.normal(0, 0.05)), compute]
        rows.append(out)
    return np.array(rows)


def test_the_speed_normalised_interval_and_its_extension_keep_95_percent():
    from harness.analyse.coverage import PairedRows, speed_coverage
    from harness.analyse.stopping import Extension

    groups = [PairedRows("a/ignite", False, _speed_rows(40, 1, 0.03)),
              PairedRows("a/plain-aa", True, _speed_rows(40, 2, 0.0))]
    fixed, _ = speed_coverage(groups, 6, 300, seed=1)
    assert abs(fixed.rate - 0.95) <= 2 * fixed.margin + 0.01
    extended, pairs = speed_coverage(groups, 6, 150, seed=2, extension=Extension(10, 30))
    assert abs(extended.rate - 0.95) <= 2 * extended.margin + 0.01
    assert 6 < pairs <= 30  # the rule added pairs, within its most
