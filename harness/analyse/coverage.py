"""Do the intervals keep their level? Coverage measured by simulation, and the A/A check.

An interval method is trusted only where its coverage has been measured: many simulated cell
groups whose true difference is known, each given an interval the way the report would give
it, and the share of intervals that contain the truth counted. Two sources of groups:

- *recorded*: the paired differences (paradigm minus plain loop, repetition by repetition) of a
  real run's groups, each centred on its own mean, so that the population resampled has a
  true difference of exactly zero and the run's own noise (its shape, its outliers, its scale
  per group) — a centred bootstrap. For the A/A pair (``plain-aa`` minus ``plain``) zero is the
  truth already; its differences are resampled with a random sign (under A/A the two labels
  are exchangeable), which keeps it zero.
- *synthetic*: normal or heavy-tailed (Student t with 3 degrees of freedom) differences with a
  chosen spread of scales across groups (the heterogeneity a pooled variance must survive).

Methods: ``t`` (each group's own paired t interval, as ``harness.analyse.stats``), and
``pooled`` (the groups of one run share one variance of the differences relative to each
group's plain step: ``s_pooled`` over sum(n - 1) degrees of freedom, each group's interval its
mean +- t * s_pooled * scale / sqrt(n)), the random-effects-free pooling that lever 2 of issue
33 asks about. ``python -m harness.analyse.coverage RUN_DIR`` prints both for 3 to 6
repetitions, from the run's recorded framework time and step time.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.analyse.ranks import CONFIDENCE
from harness.analyse.stopping import Extension

Sampler = Callable[[np.random.Generator, int], list[np.ndarray]]  # one run: each group's n
T, POOLED = "t", "pooled"


@functools.lru_cache(maxsize=256)
def _quantile(dof: int, level: float) -> float:
    return float(sps.t.ppf((1 + level) / 2, dof))


def t_interval(d: np.ndarray, level: float = CONFIDENCE) -> tuple[float, float]:
    """The paired t interval of the mean of ``d`` (its own variance)."""
    half = _quantile(d.size - 1, level) * d.std(ddof=1) / math.sqrt(d.size)
    return float(d.mean() - half), float(d.mean() + half)


def pooled_intervals(groups: Sequence[np.ndarray], scales: Sequence[float],
                     level: float = CONFIDENCE) -> list[tuple[float, float]]:
    """Each group's interval from one variance shared by the run: the differences over
    each group's scale (its plain step) pooled, ``sum(n - 1)`` degrees of freedom."""
    rel = [g / s for g, s in zip(groups, scales)]
    dof = sum(r.size - 1 for r in rel)
    var = sum(((r - r.mean()) ** 2).sum() for r in rel) / dof
    quantile = _quantile(dof, level)
    out = []
    for g, s in zip(groups, scales):
        half = quantile * math.sqrt(var) * s / math.sqrt(g.size)
        out.append((float(g.mean() - half), float(g.mean() + half)))
    return out


@dataclass(frozen=True)
class Coverage:
    """How often the intervals held the truth: overall and for the worst group position."""

    method: str
    n: int
    rate: float
    worst_group: float
    trials: int

    @property
    def margin(self) -> float:
        """Two binomial standard errors of ``rate`` (the simulation's own noise)."""
        return 2 * math.sqrt(max(self.rate * (1 - self.rate), 1e-12) / self.trials)

    def text(self) -> str:
        return (f"{self.method:<6} n={self.n}: {100 * self.rate:.1f}% "
                f"(+-{100 * self.margin:.1f}; worst group {100 * self.worst_group:.1f}%) "
                f"of {self.trials}")


def coverage(sampler: Sampler, method: str, n: int, runs: int, seed: int = 0,
             truth: float = 0.0) -> Coverage:
    """Simulate ``runs`` runs of ``n`` repetitions per group; count the intervals that hold
    ``truth``. The scale of a group, for pooling, is its population's (``sampler`` returns
    differences already in units of its plain step: scale 1)."""
    rng = np.random.default_rng(seed)
    hits: list[np.ndarray] = []
    for _ in range(runs):
        groups = sampler(rng, n)
        if method == T:
            intervals = [t_interval(g) for g in groups]
        else:
            intervals = pooled_intervals(groups, [1.0] * len(groups))
        hits.append(np.array([lo <= truth <= hi for lo, hi in intervals]))
    table = np.vstack(hits)
    return Coverage(method, n, float(table.mean()), float(table.mean(axis=0).min()),
                    int(table.size))


def synthetic(scales: Sequence[float], heavy: bool = False) -> Sampler:
    """Groups of zero true difference, each with its own noise scale."""
    def sample(rng: np.random.Generator, n: int) -> list[np.ndarray]:
        draw = (lambda: rng.standard_t(3, n) / math.sqrt(3.0)) if heavy else \
            (lambda: rng.standard_normal(n))
        return [s * draw() for s in scales]
    return sample


def recorded(differences: Sequence[np.ndarray], scales: Sequence[float],
             flip: Sequence[bool] | None = None) -> Sampler:
    """A centred bootstrap of recorded paired differences (``flip``: an A/A pair, resampled
    with random signs instead of centred), each over its group's plain step."""
    flip = flip or [False] * len(differences)
    pools = [(d if f else d - d.mean()) / s for d, s, f in zip(differences, scales, flip)]

    def sample(rng: np.random.Generator, n: int) -> list[np.ndarray]:
        out = []
        for pool, f in zip(pools, flip):
            x = rng.choice(pool, n, replace=True)
            out.append(x * rng.choice([-1.0, 1.0], n) if f else x)
        return out
    return sample


Differences = tuple[list[np.ndarray], list[float], list[str], list[bool]]


def run_differences(frame: pd.DataFrame, column: str) -> Differences:
    """A run's paired differences of ``column`` (paradigm minus plain, by repetition), one
    array per (group, paradigm), with the plain step, a label and whether it is A/A."""
    from harness.analyse.analysis import BASELINE, GROUP_KEYS, by_repetition, timed

    out: Differences = ([], [], [], [])
    for _, g in timed(frame).groupby(GROUP_KEYS, dropna=False, sort=True):
        base = g[g["paradigm"] == BASELINE]
        plain = by_repetition(base, column)
        step = float(base["step_time_s"].astype(float).median()) if len(base) else math.nan
        for paradigm in sorted(set(g["paradigm"]) - {BASELINE}):
            own = by_repetition(g[g["paradigm"] == paradigm], column)
            keys = sorted(set(own) & set(plain))
            if len(keys) >= 3 and step > 0:
                out[0].append(np.array([own[k] - plain[k] for k in keys]))
                out[1].append(step)
                out[2].append(f"{g['workload'].iloc[0]}/{paradigm}")
                out[3].append(paradigm == "plain-aa")
    return out


@dataclass(frozen=True)
class PairedRows:
    """One (group, paradigm)'s paired repetitions as rows of (framework time, compute time)
    for the paradigm, then for the plain loop: the speed-normalised estimator's data."""

    label: str
    aa: bool
    rows: np.ndarray  # shape (n, 4)


def run_pairs(frame: pd.DataFrame, fewest: int = 10) -> list[PairedRows]:
    """A run's groups with phase times, as ``PairedRows``, those with ``fewest`` pairs or
    more: a bootstrap from fewer resamples a handful of values, whose ties make any
    interval look worse than it is (a group of 3 pairs resampled at n = 3 has no spread in a
    ninth of its draws)."""
    from harness.analyse.analysis import BASELINE, GROUP_KEYS, timed, with_compute

    out = []
    for _, g in timed(frame).groupby(GROUP_KEYS, dropna=False, sort=True):
        plain = with_compute(g[g["paradigm"] == BASELINE])
        for paradigm in sorted(set(g["paradigm"]) - {BASELINE}):
            own = with_compute(g[g["paradigm"] == paradigm])
            keys = sorted(set(own) & set(plain))
            if len(keys) >= fewest:
                out.append(PairedRows(f"{g['workload'].iloc[0]}/{paradigm}",
                                      paradigm == "plain-aa",
                                      np.array([[*own[k], *plain[k]] for k in keys], float)))
    return out


def _speed_hits(group: PairedRows, rng: np.random.Generator, n: int,
                extension: Extension | None) -> tuple[bool, int]:
    """One simulated group: does the final interval hold the truth, and at how many pairs."""
    from harness.analyse.stats import speed_normalised_interval

    pool = group.rows

    def draw(k: int) -> np.ndarray:
        rows = pool[rng.integers(0, len(pool), k)]
        if group.aa:  # exchangeable labels: swap the two processes of a random half
            swap = rng.random(k) < 0.5
            rows[swap] = rows[swap][:, [2, 3, 0, 1]]
        return rows

    truth = 0.0 if group.aa else speed_normalised_interval(pool[:, :2], pool[:, 2:])[0]
    rows = draw(n)
    while extension is not None and extension.needs_more(
            {i: (r[0], r[1]) for i, r in enumerate(rows)},
            {i: (r[2], r[3]) for i, r in enumerate(rows)}):
        rows = np.vstack([rows, draw(1)])
    value, half = speed_normalised_interval(rows[:, :2], rows[:, 2:])
    return value - half <= truth <= value + half, len(rows)


def speed_coverage(groups: Sequence[PairedRows], n: int, runs: int, seed: int = 0,
                   extension: Extension | None = None) -> tuple[Coverage, float]:
    """Coverage of the speed-normalised interval (a bootstrap from recorded pairs: the truth
    is the estimate on all of them; zero for A/A pairs, resampled with swapped labels), and
    the mean number of pairs the extension rule ended at."""
    rng = np.random.default_rng(seed)
    hits = np.zeros((runs, len(groups)), bool)
    sizes = []
    for i in range(runs):
        for j, group in enumerate(groups):
            hits[i, j], size = _speed_hits(group, rng, n, extension)
            sizes.append(size)
    method = "speed" if extension is None else f"speed+extend({extension.target_pct:g}%)"
    return (Coverage(method, n, float(hits.mean()), float(hits.mean(axis=0).min()),
                     int(hits.size)), float(np.mean(sizes)))


def report(frame: pd.DataFrame, runs: int = 2000, seed: int = 0) -> list[str]:
    """Coverage of both methods at 3 to 6 repetitions, from a run's own records."""
    lines = []
    for column in ("framework_s", "step_time_s"):
        diffs, steps, labels, aa = run_differences(frame, column)
        if not diffs:
            lines.append(f"{column}: no group with 3 paired repetitions")
            continue
        lines.append(f"{column}: {len(diffs)} recorded pairs ({', '.join(labels)})")
        sampler = recorded(diffs, steps, aa)
        for n in range(3, 7):
            for method in (T, POOLED):
                lines.append("  " + coverage(sampler, method, n, runs, seed).text())
    return lines + speed_report(run_pairs(frame), runs, seed)


def speed_report(groups: Sequence[PairedRows], runs: int, seed: int) -> list[str]:
    """The speed-normalised framework excess's coverage, at fixed n and under lever 4's
    extension rule (from 12 pairs, while over 10% of the estimate, up to 60)."""
    if not groups:
        return ["speed-normalised framework excess: no group with phase times"]
    lines = [f"speed-normalised framework excess: {len(groups)} recorded pairs "
             f"({', '.join(g.label for g in groups)})"]
    for n in (3, 6, 12):
        lines.append("  " + speed_coverage(groups, n, runs, seed)[0].text())
    cov, size = speed_coverage(groups, 12, runs, seed, Extension(10, 60))
    lines.append(f"  {cov.text()}; {size:.1f} pairs on average")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from pathlib import Path

    from harness.analyse.analysis import records_frame
    from harness.results import load_run

    parser = argparse.ArgumentParser(prog="python -m harness.analyse.coverage",
                                     description="interval coverage from a run's records")
    parser.add_argument("run_dir")
    parser.add_argument("--runs", type=int, default=2000, help="simulated runs per method")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frame = records_frame(load_run(Path(args.run_dir)))
    print("\n".join(report(frame, args.runs, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
