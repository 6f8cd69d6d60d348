"""Statistics checked against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from harness.stats import Summary, bootstrap_ci, compare, overhead


def test_summary_hand_computed():
    s = Summary((1.0, 2.0, 3.0, 4.0, 10.0))
    assert s.n == 5 and s.median == 3.0 and s.mean == 4.0
    # sample variance: (9 + 4 + 1 + 0 + 36) / 4 = 12.5
    assert s.stdev == pytest.approx(math.sqrt(12.5))
    assert s.cv == pytest.approx(math.sqrt(12.5) / 4.0)
    assert s.unstable
    # numpy's linear quantile: position 0.1 * 4 = 0.4 -> 1 + 0.4 * (2 - 1)
    assert s.p10 == pytest.approx(1.4)
    assert s.p90 == pytest.approx(4.0 + 0.6 * 6.0)


def test_stable_below_ten_percent():
    s = Summary((100.0, 101.0, 99.0, 100.0))
    assert s.cv == pytest.approx(math.sqrt(2 / 3) / 100)
    assert not s.unstable


def test_bootstrap_interval_brackets_median_and_is_deterministic():
    data = [5.0, 5.1, 4.9, 5.2, 5.0, 4.8, 5.05]
    lo, hi = bootstrap_ci(data)
    assert lo <= 5.0 <= hi and (lo, hi) == bootstrap_ci(data)
    assert min(data) <= lo and hi <= max(data)
    assert bootstrap_ci([3.0]) == (3.0, 3.0)


def test_constant_samples_give_a_zero_width_interval():
    assert Summary((2.0, 2.0, 2.0)).ci == (2.0, 2.0)


def test_overhead_paired_constant_shift():
    base = [1.00, 1.10, 0.90, 1.05, 0.95]
    cand = [b + 0.25 for b in base]
    ov = overhead(cand, base)
    assert ov.paired
    assert ov.seconds == pytest.approx(0.25)
    assert ov.ci == pytest.approx((0.25, 0.25))  # every resample moves both by the same pairs
    assert ov.fraction == pytest.approx(0.25 / 1.00)
    assert ov.break_even_step_s == pytest.approx(25.0)  # 0.25 s is 1% of 25 s


def test_overhead_negative_has_no_break_even():
    ov = overhead([0.9, 0.9, 0.9], [1.0, 1.0, 1.0])
    assert ov.seconds == pytest.approx(-0.1) and ov.break_even_step_s is None


def test_overhead_unpaired_when_counts_differ():
    ov = overhead([2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0])
    assert not ov.paired and ov.seconds == 1.0 and ov.ci == (1.0, 1.0)


def test_compare_flags_only_significant_and_large_changes():
    before = [1.00, 1.01, 0.99, 1.02, 0.98]
    slower = [1.20, 1.21, 1.19, 1.22, 1.18]
    change = compare(before, slower)
    # all after > all before: U = 25, exact two-sided p = 2 / C(10, 5) = 2 / 252
    assert change.p_value == pytest.approx(2 / 252)
    assert change.ratio == pytest.approx(1.2) and change.significant
    tiny = compare(before, [b * 1.01 + 0.001 for b in before])
    assert not tiny.significant  # below 5%, even if consistent
    noisy = compare(before, [0.9, 1.3, 1.0, 1.2, 0.95])
    assert not noisy.significant
    assert not compare([1.0], [2.0]).significant  # one repetition: no test
