"""Statistics over repetitions: summaries, overhead with confidence intervals, run comparison.

The unit of replication is a repetition (one fresh process): its step time is the median of
its timing windows. Windows within one process are not independent samples of the process
lottery (memory layout, thread placement, CPU frequency), so intervals are computed over
repetitions, never over windows.

Intervals are percentile bootstraps of the median (distribution-free, deterministic: the
resampling generator is seeded). Overhead pairs repetition i of a paradigm with repetition i of
the baseline when the counts match: repetitions are interleaved, so pairing cancels drift.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
UNSTABLE_CV = 0.10  # pyperf's threshold: standard deviation >= 10% of the mean
BOOTSTRAP_RESAMPLES = 10_000
BREAK_EVEN_FRACTION = 0.01  # the step time at which an overhead is 1% of it
COMPARE_ALPHA = 0.01  # Mann-Whitney U, two-sided; reachable with 5 vs 5 repetitions
COMPARE_MIN_CHANGE = 0.05  # and at least 5% (TorchBench flags 7%, asv 10%)


def _percentile_ci(values: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_ci(
    samples: Sequence[float],
    stat: Callable[[np.ndarray], np.ndarray] = lambda a: np.median(a, axis=-1),
    level: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` (vectorised over the last axis)."""
    data = np.asarray(samples, dtype=float)
    if data.size < 2:
        v = float(data[0]) if data.size else math.nan
        return v, v
    idx = np.random.default_rng(seed).integers(0, data.size, (resamples, data.size))
    return _percentile_ci(stat(data[idx]), level)


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
    def ci(self) -> tuple[float, float]:
        """95% bootstrap interval of the median."""
        return bootstrap_ci(self.samples)


@dataclass(frozen=True)
class Overhead:
    """Candidate minus baseline step time, in seconds and as a fraction of the baseline."""

    seconds: float
    ci: tuple[float, float]
    baseline_s: float
    paired: bool

    @property
    def fraction(self) -> float:
        return self.seconds / self.baseline_s if self.baseline_s else math.nan

    @property
    def fraction_ci(self) -> tuple[float, float]:
        if not self.baseline_s:
            return (math.nan, math.nan)
        return (self.ci[0] / self.baseline_s, self.ci[1] / self.baseline_s)

    @property
    def half_width(self) -> float:
        return (self.ci[1] - self.ci[0]) / 2

    @property
    def break_even_step_s(self) -> float | None:
        """Step time at which this (fixed, per-step) overhead is 1% of the step; None if <= 0."""
        return self.seconds / BREAK_EVEN_FRACTION if self.seconds > 0 else None


def overhead(candidate: Sequence[float], baseline: Sequence[float], seed: int = 0) -> Overhead:
    """median(candidate) - median(baseline), with a bootstrap 95% interval.

    Equal-length inputs are treated as interleaved pairs (resampled jointly); otherwise the two
    are resampled independently.
    """
    c, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    point = float(np.median(c) - np.median(b))
    paired = c.size == b.size
    if c.size < 2 or b.size < 2:
        return Overhead(point, (point, point), float(np.median(b)), paired)
    rng = np.random.default_rng(seed)
    if paired:
        idx = rng.integers(0, c.size, (BOOTSTRAP_RESAMPLES, c.size))
        diffs = np.median(c[idx], axis=1) - np.median(b[idx], axis=1)
    else:
        ic = rng.integers(0, c.size, (BOOTSTRAP_RESAMPLES, c.size))
        ib = rng.integers(0, b.size, (BOOTSTRAP_RESAMPLES, b.size))
        diffs = np.median(c[ic], axis=1) - np.median(b[ib], axis=1)
    return Overhead(point, _percentile_ci(diffs, CONFIDENCE), float(np.median(b)), paired)


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
