"""Statistics over repetitions: summaries, intervals valid at the sample sizes used, overhead,
mean differences, run comparison.

The unit of replication is a repetition (one fresh process). Windows within one process are not
independent samples of the process lottery (memory layout, thread placement, CPU frequency), so
intervals are computed over repetitions, never over windows.

Two kinds of interval, each used only where it is valid, and never a percentile bootstrap of a
handful of values (which prints an "interval" equal to the point estimate at n = 3):

- medians (a cell's step time, the overhead of one paradigm over another): the exact,
  distribution-free order-statistic interval of the sign test. Its coverage is at least 95%
  for any continuous distribution, but with n < 6 no pair of order statistics reaches 95%
  (even min..max covers 1 - 2/2^n), so below that no interval is given ("n too small").
  Interleaved repetitions are paired, so the overhead is the median of the paired
  differences; unpaired, it is the Hodges-Lehmann shift with the exact Mann-Whitney interval.
- means of within-process averages (framework time, phase times, feature costs, each an
  average over a hundred or more steps of one process): Student's t, which is valid from
  n = 2 under normality and which such averages approach; it is given from n = 3 (at n = 2
  it is twelve standard deviations wide). Paired where repetitions pair, Welch otherwise.

Pairing is by key, never by position: samples given as mappings keyed by repetition (and the
session that ran it) pair on the keys both have, and unmatched repetitions are dropped; a lost
repetition or one re-run by a resume later never pairs two unrelated runs. When fewer pairs
remain than an interval needs (and some samples are unmatched), the samples are compared
unpaired. Plain sequences are always unpaired.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats as sps

from harness.analyse.ranks import CONFIDENCE, MIN_N_MEDIAN, median_rank

MIN_N_MEAN = 3  # t intervals from here on
UNSTABLE_CV = 0.10  # pyperf's threshold: standard deviation >= 10% of the mean
BREAK_EVEN_FRACTION = 0.01  # the step time at which an overhead is 1% of it
COMPARE_ALPHA = 0.01  # Mann-Whitney U, two-sided; reachable with 5 vs 5 repetitions
COMPARE_MIN_CHANGE = 0.05  # and at least 5% (TorchBench flags 7%, asv 10%)
SIGN_TEST, MANN_WHITNEY, T_PAIRED, T_WELCH, T_ONE = (
    "sign test", "Mann-Whitney", "paired t", "Welch t", "t")
TOO_SMALL = "n too small"

Interval = tuple[float, float]
Samples = Sequence[float] | np.ndarray | Mapping[Any, float]


def _pairs(candidate: Samples, baseline: Samples, min_n: int
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """The matched values of two keyed samples, in key order; None: compare them unpaired."""
    if not isinstance(candidate, Mapping) or not isinstance(baseline, Mapping):
        return None
    keys = sorted(candidate.keys() & baseline.keys(), key=repr)
    complete = len(keys) == max(len(candidate), len(baseline))
    if not keys or (len(keys) < min_n and not complete):
        return None
    return (np.array([candidate[k] for k in keys], float),
            np.array([baseline[k] for k in keys], float))


def _values(samples: Samples) -> np.ndarray:
    return np.asarray(list(samples.values()) if isinstance(samples, Mapping) else samples, float)


def median_interval(samples: Sequence[float], level: float = CONFIDENCE) -> Interval | None:
    """Order-statistic interval [x(j), x(n+1-j)] for the median, or None when n is too small.

    j is the largest rank with 2 * P(Binomial(n, 1/2) <= j - 1) <= 1 - level
    (``harness.analyse.ranks``; an adaptive plan passes its per-look level).
    """
    x = sorted(float(v) for v in samples)
    j = median_rank(len(x), 1 - level)
    return (x[j - 1], x[len(x) - j]) if j else None


@lru_cache(maxsize=256)
def _mann_whitney_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u) under the null, u = 0..m*n, counted exactly (no ties)."""
    counts = np.zeros((m + 1, n + 1, m * n + 1))
    counts[0, :, 0] = counts[:, 0, 0] = 1
    for i in range(1, m + 1):
        for k in range(1, n + 1):
            counts[i, k, k:] += counts[i - 1, k, : m * n + 1 - k]  # the largest value is x
            counts[i, k] += counts[i, k - 1]  # ... or it is y
    total = counts[m, n]
    return np.cumsum(total) / total.sum()


def shift_interval(candidate: Sequence[float] | np.ndarray, baseline: Sequence[float] | np.ndarray,
                   level: float = CONFIDENCE) -> tuple[float, Interval | None]:
    """Hodges-Lehmann shift (median of all pairwise differences) and its exact interval."""
    diffs = np.sort(np.subtract.outer(np.asarray(candidate, float),
                                      np.asarray(baseline, float)).ravel())
    point = float(np.median(diffs))
    cdf = _mann_whitney_cdf(len(candidate), len(baseline))
    k = int(np.searchsorted(cdf, (1 - level) / 2, side="right"))  # P(U <= k - 1) <= alpha/2
    if k == 0:
        return point, None
    return point, (float(diffs[k - 1]), float(diffs[diffs.size - k]))


def mean_interval(samples: Sequence[float] | np.ndarray, level: float = CONFIDENCE
                  ) -> Interval | None:
    """Student t interval of the mean; None below MIN_N_MEAN samples."""
    x = np.asarray(samples, float)
    if x.size < MIN_N_MEAN:
        return None
    half = sps.t.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


@dataclass(frozen=True)
class Summary:
    """Raw samples (one per repetition) and the figures derived from them."""

    samples: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else math.nan

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples) if self.samples else math.nan

    @property
    def stdev(self) -> float:
        return statistics.stdev(self.samples) if self.n > 1 else 0.0

    @property
    def cv(self) -> float:
        """Coefficient of variation: sample standard deviation over the mean."""
        return self.stdev / self.mean if self.n and self.mean else math.nan

    @property
    def unstable(self) -> bool:
        return self.n > 1 and self.cv >= UNSTABLE_CV

    @property
    def p10(self) -> float:
        return float(np.quantile(self.samples, 0.10)) if self.samples else math.nan

    @property
    def p90(self) -> float:
        return float(np.quantile(self.samples, 0.90)) if self.samples else math.nan

    @property
    def ci(self) -> Interval | None:
        """95% order-statistic interval of the median; None below MIN_N_MEDIAN."""
        return median_interval(self.samples)

    def ci_at(self, level: float) -> Interval | None:
        """The median's order-statistic interval at ``level`` (an adaptive plan's per look)."""
        return median_interval(self.samples, level)


@dataclass(frozen=True)
class Overhead:
    """Candidate minus baseline step time, in seconds and as a fraction of the baseline."""

    seconds: float
    ci: Interval | None  # None: too few repetitions for a valid interval
    baseline_s: float
    paired: bool
    method: str = SIGN_TEST
    n: int = 0

    @property
    def fraction(self) -> float:
        return self.seconds / self.baseline_s if self.baseline_s else math.nan

    @property
    def fraction_ci(self) -> Interval | None:
        if self.ci is None or not self.baseline_s:
            return None
        return (self.ci[0] / self.baseline_s, self.ci[1] / self.baseline_s)

    @property
    def half_width(self) -> float | None:
        return (self.ci[1] - self.ci[0]) / 2 if self.ci else None

    @property
    def break_even_step_s(self) -> float | None:
        """Step time at which this (fixed, per-step) overhead is 1% of the step; None if <= 0."""
        return self.seconds / BREAK_EVEN_FRACTION if self.seconds > 0 else None


def overhead(candidate: Samples, baseline: Samples, level: float = CONFIDENCE) -> Overhead:
    """Candidate minus baseline: the median of the paired differences where repetitions pair
    (mappings keyed by repetition), else the Hodges-Lehmann shift; exact intervals at
    ``level`` (95%; a group that stopped adaptively passes its plan's per-look level).

    >>> plain = {rep: 1.0 + rep / 100 for rep in range(7)}
    >>> lightning = {rep: 1.2 + rep / 100 for rep in range(6)}  # its repetition 6 was lost
    >>> ov = overhead(lightning, plain)
    >>> round(ov.seconds, 3), ov.paired, ov.n
    (0.2, True, 6)
    """
    c, b = _values(candidate), _values(baseline)
    base = float(np.median(b)) if b.size else math.nan
    pairs = _pairs(candidate, baseline, MIN_N_MEDIAN)
    if pairs is not None:
        diffs = pairs[0] - pairs[1]
        ci = median_interval(diffs, level)
        return Overhead(float(np.median(diffs)), ci, base, True,
                        SIGN_TEST if ci else TOO_SMALL, int(diffs.size))
    if not c.size or not b.size:
        return Overhead(math.nan, None, base, False, TOO_SMALL, 0)
    point, ci = shift_interval(c, b, level)
    return Overhead(point, ci, base, False, MANN_WHITNEY if ci else TOO_SMALL,
                    int(min(c.size, b.size)))


@dataclass(frozen=True)
class MeanDifference:
    """A mean (or a mean difference) over repetitions with its t interval."""

    value: float
    ci: Interval | None
    n: int
    method: str

    @property
    def half_width(self) -> float | None:
        return (self.ci[1] - self.ci[0]) / 2 if self.ci else None


def mean_estimate(samples: Sequence[float] | np.ndarray) -> MeanDifference:
    x = np.asarray(samples, float)
    ci = mean_interval(x)
    return MeanDifference(float(x.mean()) if x.size else math.nan, ci, int(x.size),
                          T_ONE if ci else TOO_SMALL)


def mean_difference(candidate: Samples, baseline: Samples) -> MeanDifference:
    """mean(candidate) - mean(baseline): paired t where repetitions pair (mappings keyed by
    repetition), Welch otherwise."""
    c, b = _values(candidate), _values(baseline)
    pairs = _pairs(candidate, baseline, MIN_N_MEAN)
    if pairs is not None:
        d = mean_estimate(pairs[0] - pairs[1])
        return MeanDifference(d.value, d.ci, d.n, T_PAIRED if d.ci else TOO_SMALL)
    value = float(c.mean() - b.mean()) if c.size and b.size else math.nan
    if min(c.size, b.size) < MIN_N_MEAN:
        return MeanDifference(value, None, int(min(c.size, b.size)), TOO_SMALL)
    vc, vb = c.var(ddof=1) / c.size, b.var(ddof=1) / b.size
    se = math.sqrt(vc + vb)
    dof = (vc + vb) ** 2 / (vc**2 / (c.size - 1) + vb**2 / (b.size - 1)) if se else 1.0
    half = sps.t.ppf((1 + CONFIDENCE) / 2, dof) * se
    return MeanDifference(value, (value - half, value + half), int(min(c.size, b.size)), T_WELCH)


T_SPEED = "paired t, speed-normalised"


def speed_normalised_difference(candidate: Mapping[Any, tuple[float, float]],
                                baseline: Mapping[Any, tuple[float, float]]) -> MeanDifference:
    """A per-process time (framework time) in excess of the baseline's, each process's time
    first divided by its own compute time (forward + backward + optimizer), then read in
    seconds at the baseline's mean compute time. Values are (time, compute) keyed by
    repetition; only keys both have count (pairs), and below ``MIN_N_MEAN`` pairs there is no
    interval.

    Why: on a shared host a whole process runs faster or slower (frequency, a neighbour's
    load, its memory layout); that moves its framework time and its compute time together,
    and between two processes it is most of the noise of a difference of framework times. The
    ratio cancels it inside each process. The estimate is the mean paired difference of the
    ratios times the baseline's mean compute time; its interval is the delta method's
    (both factors' sampling errors and their covariance, over the pairs) with Student's t at
    n - 1 degrees of freedom. Its coverage is measured in ``harness.analyse.coverage``.

    >>> base = {r: (0.5e-3 * (1 + r / 10), 4e-3 * (1 + r / 10)) for r in range(6)}
    >>> cand = {r: (0.6e-3 * (1 + r / 10), 4e-3 * (1 + r / 10)) for r in range(6)}
    >>> d = speed_normalised_difference(cand, base)  # +2.5% of compute, at 5 ms of it
    >>> round(d.value * 1e6, 1), d.method
    (125.0, 'paired t, speed-normalised')
    """
    keys = sorted(set(candidate) & set(baseline), key=repr)
    if len(keys) < MIN_N_MEAN:
        return MeanDifference(math.nan, None, len(keys), TOO_SMALL)
    value, half = speed_normalised_interval(np.array([candidate[k] for k in keys], float),
                                            np.array([baseline[k] for k in keys], float))
    return MeanDifference(value, (value - half, value + half), len(keys), T_SPEED)


def speed_normalised_interval(candidate: np.ndarray, baseline: np.ndarray,
                              level: float = CONFIDENCE) -> tuple[float, float]:
    """``speed_normalised_difference`` on paired rows of (time, compute): the estimate and
    the interval's half-width (the coverage simulation calls it thousands of times)."""
    share = candidate[:, 0] / candidate[:, 1] - baseline[:, 0] / baseline[:, 1]
    compute = baseline[:, 1]
    value = float(share.mean() * compute.mean())
    # the linearised estimator, pair by pair (the delta method for a product of two means)
    influence = compute.mean() * (share - share.mean()) + share.mean() * (compute - compute.mean())
    n = len(share)
    return value, float(sps.t.ppf((1 + level) / 2, n - 1) * influence.std(ddof=1) / math.sqrt(n))


@dataclass(frozen=True)
class Change:
    """How a cell moved between two runs (``after`` over ``before``)."""

    before: Summary
    after: Summary
    p_value: float

    @property
    def ratio(self) -> float:
        return self.after.median / self.before.median if self.before.median else math.nan

    @property
    def significant(self) -> bool:
        """Mann-Whitney U p < 0.01 and a change of at least 5% in the median."""
        return self.p_value < COMPARE_ALPHA and abs(self.ratio - 1) >= COMPARE_MIN_CHANGE


def compare(before: Sequence[float], after: Sequence[float]) -> Change:
    """Two-sided Mann-Whitney U between two runs' repetitions of one cell."""
    if len(before) < 2 or len(after) < 2:
        p = math.nan
    else:
        p = float(sps.mannwhitneyu(after, before, alternative="two-sided").pvalue)
    return Change(Summary(tuple(before)), Summary(tuple(after)), p)


@dataclass(frozen=True)
class ShareChange:
    """How a figure given as a fraction of the plain step, within each repetition, moved
    between two runs (the paired overhead ratio, the framework-time excess): drift-robust,
    since a machine that slows down slows the plain loop beside it in the same repetition."""

    before: Summary
    after: Summary
    p_value: float

    @property
    def change(self) -> float:
        """The move of the median, in fractions of the plain step."""
        return self.after.median - self.before.median

    @property
    def significant(self) -> bool:
        """Mann-Whitney U p < 0.01 and a move of at least 5% of the plain step."""
        return self.p_value < COMPARE_ALPHA and abs(self.change) >= COMPARE_MIN_CHANGE


def compare_shares(before: Sequence[float], after: Sequence[float]) -> ShareChange:
    """Two-sided Mann-Whitney U between two runs' per-repetition shares of the plain step."""
    change = compare(before, after)
    return ShareChange(change.before, change.after, change.p_value)
