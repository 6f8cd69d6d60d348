"""Statistics checked against numbers worked out by hand, and the small-n interval rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.analyse.stats import (
    MANN_WHITNEY,
    SIGN_TEST,
    T_PAIRED,
    T_WELCH,
    TOO_SMALL,
    Summary,
    _mann_whitney_cdf,
    compare,
    mean_difference,
    mean_estimate,
    median_interval,
    overhead,
    shift_interval,
)


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


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_no_median_interval_below_six(n):
    """min..max of n values covers the median with 1 - 2/2^n: below 95% until n = 6."""
    assert median_interval(range(n)) is None
    assert Summary(tuple(float(i) for i in range(n))).ci is None


def test_median_interval_order_statistics_by_hand():
    # n = 6: P(all six on one side) = 2/64 = 3.1% <= 5%, so min..max. n = 8: x(2)..x(7)
    # would cover 1 - 2 * 9/256 = 93%, so still min..max; n = 9: 1 - 2 * 10/512 = 96%
    assert median_interval([5, 1, 4, 2, 6, 3]) == (1, 6)
    assert median_interval(range(1, 9)) == (1, 8)
    assert median_interval(range(1, 10)) == (2, 8)
    # n = 20: 2 * P(Bin(20, 1/2) <= 5) = 4.1%; with j = 7 it would be 11.5%: x(6)..x(15)
    assert median_interval(range(1, 21)) == (6, 15)


def test_median_interval_coverage_is_at_least_95_percent():
    rng = np.random.default_rng(1)
    hits = sum(lo <= 0 <= hi for lo, hi in
               (median_interval(rng.standard_cauchy(7)) for _ in range(4000)))
    assert hits / 4000 >= 0.95  # exact for any continuous distribution, heavy tails included


def test_mann_whitney_distribution_is_exact():
    cdf = _mann_whitney_cdf(4, 5)
    for x, y in ([1.1, 2.3, 3.2, 4.5], [0.1, 0.5, 0.9, 1.3, 2.0]), ([5, 1, 3, 7], [2, 4, 6, 8, 9]):
        u = sps.mannwhitneyu(x, y, method="exact").statistic
        p = sps.mannwhitneyu(x, y, method="exact", alternative="less").pvalue
        assert cdf[int(u)] == pytest.approx(p)


def test_overhead_paired_is_the_median_of_differences():
    base = [1.00, 1.10, 0.90, 1.05, 0.95, 1.02, 0.98]
    ov = overhead({i: b + 0.25 for i, b in enumerate(base)}, dict(enumerate(base)))
    assert ov.paired and ov.method == SIGN_TEST and ov.n == 7
    assert ov.seconds == pytest.approx(0.25) and ov.ci == pytest.approx((0.25, 0.25))
    assert ov.fraction == pytest.approx(0.25 / 1.00)
    assert ov.break_even_step_s == pytest.approx(25.0)  # 0.25 s is 1% of 25 s


def test_overhead_with_three_repetitions_has_a_point_but_no_interval():
    ov = overhead({0: 1.2, 1: 1.3, 2: 1.1}, {0: 1.0, 1: 1.1, 2: 0.9})
    assert ov.seconds == pytest.approx(0.2) and ov.ci is None and ov.method == TOO_SMALL
    assert ov.fraction_ci is None and ov.half_width is None


def test_overhead_negative_has_no_break_even():
    ov = overhead([0.9] * 6, [1.0] * 6)
    assert ov.seconds == pytest.approx(-0.1) and ov.break_even_step_s is None


def test_overhead_unpaired_is_hodges_lehmann_with_an_exact_interval():
    cand, base = list(np.arange(8) + 5.0), list(np.arange(7) * 1.0)
    ov = overhead(cand, base)
    assert not ov.paired and ov.method == MANN_WHITNEY
    point, ci = shift_interval(cand, base)
    assert ov.seconds == point and ov.ci == ci
    assert ci[0] <= 6.0 <= ci[1]  # the true shift of the two grids (medians 8.5 and 3)


def test_repetitions_pair_by_key_never_by_position():
    base = {("s1", r): 1.0 + r / 10 for r in range(8)}
    lost = {k: v + 0.2 for k, v in base.items() if k != ("s1", 3)}  # repetition 3 was lost
    ov = overhead(lost, base)
    assert ov.paired and ov.n == 7 and ov.seconds == pytest.approx(0.2)
    assert ov.ci == pytest.approx((0.2, 0.2))  # every pair differs by exactly 0.2
    # by position, repetition 4 of one would have met repetition 3 of the other
    shifted = overhead(list(lost.values()), list(base.values())[:7])
    assert not shifted.paired and shifted.method == MANN_WHITNEY
    # a resume that re-ran repetitions in another session: nothing pairs, compared unpaired
    resumed = {("s2", r): v for (_, r), v in lost.items()}
    assert not overhead(resumed, base).paired
    assert mean_difference(resumed, base).method == T_WELCH
    assert mean_difference(lost, base).method == T_PAIRED
    assert mean_difference(lost, base).n == 7


def test_t_intervals_by_hand():
    est = mean_estimate([1.0, 2.0, 3.0])
    half = sps.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert est.value == 2.0 and est.ci == pytest.approx((2 - half, 2 + half))
    assert mean_estimate([1.0, 2.0]).ci is None  # two values: n too small
    paired = mean_difference({0: 2.0, 1: 3.0, 2: 4.5}, {0: 1.0, 1: 2.0, 2: 3.0})
    assert paired.method == T_PAIRED and paired.value == pytest.approx(7 / 6)
    welch = mean_difference([2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert welch.method == T_WELCH and welch.value == pytest.approx(1.5)
    assert welch.ci[0] < 1.5 < welch.ci[1]


def test_compare_flags_large_consistent_changes_only():
    before = [1.00, 1.01, 0.99, 1.00, 1.02, 0.98]
    assert compare(before, [b * 1.3 for b in before]).significant
    assert not compare(before, [b * 1.01 for b in before]).significant
    assert math.isnan(compare([1.0], [2.0]).p_value)


def _speed_noisy_processes(excess_share: float, n: int, seed: int
                           ) -> tuple[dict, dict]:
    """(framework, compute) per repetition for a candidate and the plain loop: each process
    runs at its own speed (x0.8 to x1.25, the shared host's lottery), which scales both of
    its times, plus 2% noise of its own."""
    rng = np.random.default_rng(seed)

    def process(share: float) -> tuple[float, float]:
        speed = float(np.exp(rng.normal(0, 0.12)))
        compute = 4e-3 * speed * (1 + rng.normal(0, 0.02))
        return share * compute * (1 + rng.normal(0, 0.02)), compute

    plain = {("s", r): process(0.10) for r in range(n)}
    candidate = {("s", r): process(0.10 + excess_share) for r in range(n)}
    return candidate, plain


def test_the_speed_normalised_excess_cancels_each_processs_speed():
    from harness.analyse.stats import T_SPEED, speed_normalised_difference

    candidate, plain = _speed_noisy_processes(0.03, 20, seed=4)
    d = speed_normalised_difference(candidate, plain)
    raw = mean_difference({k: v[0] for k, v in candidate.items()},
                          {k: v[0] for k, v in plain.items()})
    assert d.method == T_SPEED and d.n == 20
    assert d.ci[0] <= 0.03 * 4e-3 <= d.ci[1]  # holds the truth (+3% of 4 ms of compute)
    assert d.half_width < raw.half_width / 2  # the raw difference carries both speeds


def test_the_speed_normalised_excess_pairs_by_key_and_needs_three_pairs():
    from harness.analyse.stats import TOO_SMALL, speed_normalised_difference

    candidate, plain = _speed_noisy_processes(0.03, 5, seed=5)
    assert speed_normalised_difference(dict(list(candidate.items())[:2]), plain).method \
        == TOO_SMALL
    shuffled = dict(reversed(list(candidate.items())))
    assert speed_normalised_difference(shuffled, plain) == speed_normalised_difference(
        candidate, plain)
