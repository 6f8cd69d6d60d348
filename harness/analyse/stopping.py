"""How many repetitions a cell gets: a fixed count, or "until the interval is tight enough".

A ``Plan`` with ``until_ci_pct`` runs a cell group (every paradigm of one config) round by
round, interleaved with everything else, and stops the group once each paradigm's overhead
over the plain loop has a 95% interval whose half-width is at most that percentage of the
plain step time (a group of the plain loop alone: its own median's interval). A group stops
at ``repetitions`` whatever the interval; the decision and the rule that made it are written
to the manifest, and the report says which rule fired.

Looking at the interval after every round and stopping at the first tight one would leave a
95% interval covering less than 95% (a chance narrow interval stops the group, and narrow
ones miss more often). So an adaptive plan's intervals, the ones it stops on and the ones the
report prints, are at its per-look level (``Plan.level``, ``harness.analyse.ranks``): wide
enough that they miss at *any* of the looks with probability at most 5%.

The statistics are imported where they are used: the command line builds a ``Plan`` while
it validates input, before numpy or scipy is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.analyse.ranks import CONFIDENCE, MIN_N_MEDIAN, sequential_alpha
from harness.config import CellConfig, Paradigm

# per group member (paradigm or runtime), step times keyed by (session, repetition), so
# that repetitions pair by key
StepTimes = dict[str, dict[tuple[str, int], float]]

RULE_CI, RULE_MAX = "ci", "max"


@dataclass(frozen=True)
class Extension:
    """Lever 4 of issue 33: repetitions where they change a reading. After its planned
    rounds, a group member whose framework-time excess is a sign (its interval excludes
    zero) with a half-width over ``target_pct`` percent of the estimate runs further rounds,
    paired with the plain loop, up to ``most`` repetitions or the run's budget. A bound (an
    interval holding zero) is a reading already and is not extended. Stopping on the
    interval's width keeps its coverage: ``harness.analyse.coverage`` simulates this rule
    from recorded pairs."""

    target_pct: float
    most: int

    def __post_init__(self) -> None:
        if not self.target_pct > 0:
            raise ValueError(f"until_excess must be > 0 (percent), got {self.target_pct}")

    def needs_more(self, member: Mapping[Any, tuple[float, float]],
                   plain: Mapping[Any, tuple[float, float]]) -> bool:
        """Whether one more pair may change the member's reading: (framework, compute) times
        keyed by repetition, as ``harness.analyse.analysis.with_compute`` gives them."""
        from harness.analyse.stats import speed_normalised_difference

        if len(set(member) & set(plain)) >= self.most:
            return False
        d = speed_normalised_difference(member, plain)
        if d.ci is None:
            return True
        low, high = d.ci
        is_sign = low > 0 or high < 0
        return is_sign and (high - low) / 2 > self.target_pct / 100 * abs(d.value)


@dataclass(frozen=True)
class Plan:
    """Repetitions of one cell: at most ``repetitions``; with ``until_ci_pct``, fewer once the
    interval is tight (never fewer than ``min_repetitions``); plus an optional profiling
    repetition for attribution, kept out of the timing."""

    repetitions: int
    until_ci_pct: float | None = None
    min_repetitions: int = MIN_N_MEDIAN
    attribution: bool = False
    # The leading repetitions forked from the bare server (or spawned): they pay the
    # framework's import and give the start-up figures. The rest fork from a server that has
    # imported the paradigm already ("warm"). None: every repetition starts cold.
    cold_repetitions: int | None = None
    extension: Extension | None = None

    def __post_init__(self) -> None:
        # 0: a cell a budget left out for now (``harness.matrix.matrix.execute`` holds it, and
        # a refit from measured figures may give it repetitions); what a user asks is >= 1
        if self.repetitions < 0:
            raise ValueError(f"repetitions must be >= 1, got {self.repetitions}")
        if self.until_ci_pct is not None and self.until_ci_pct <= 0:
            raise ValueError(f"until_ci must be > 0 (percent), got {self.until_ci_pct}")
        if self.cold_repetitions is not None and self.cold_repetitions < 0:
            raise ValueError(f"cold_repetitions must be >= 0, got {self.cold_repetitions}")
        if self.extension is not None and self.extension.most < self.repetitions:
            raise ValueError(f"most_repetitions ({self.extension.most}) must be at least "
                             f"repetitions ({self.repetitions})")

    def starts_cold(self, repetition: int) -> bool:
        """Whether this repetition pays the framework's import (a start-up measurement)."""
        return self.cold_repetitions is None or repetition < self.cold_repetitions

    @property
    def level(self) -> float:
        """The confidence level of this plan's intervals at each look: 95% for a fixed count;
        for an adaptive plan, the level that keeps 95% over all its looks."""
        if self.until_ci_pct is None:
            return CONFIDENCE
        return adaptive_level(self.min_repetitions, self.repetitions)


def adaptive_level(min_repetitions: int, repetitions: int) -> float:
    """The per-look level of a plan that looks after every round from ``min_repetitions``
    to ``repetitions`` (a look needs an interval, so none before ``MIN_N_MEDIAN``)."""
    first = max(min_repetitions, MIN_N_MEDIAN)
    return 1 - sequential_alpha(min(first, repetitions), repetitions, CONFIDENCE)


@dataclass(frozen=True)
class Stop:
    """Why a group stopped: its rule, after how many repetitions, and its worst half-width."""

    rule: str
    repetitions: int
    half_width_pct: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "repetitions": self.repetitions,
                "half_width_pct": self.half_width_pct}


def group_of(cell: CellConfig) -> CellConfig:
    """The cell group a cell belongs to, as a config (its plain-loop member): every paradigm
    of one config, and for prediction every runner too (the artifact runtimes)."""
    return cell.replace(paradigm=Paradigm.PLAIN, scenario=cell.scenario.group)


def member_of(cell: CellConfig) -> str:
    """Who a cell measures within its group: its paradigm, or an artifact's runtime."""
    return cell.scenario.runtime or cell.paradigm.value


def worst_half_width_pct(step_times: StepTimes, level: float = CONFIDENCE) -> float | None:
    """The widest overhead interval (at ``level``) of the group, in % of the plain median;
    None if any paradigm has no interval yet (or there is no plain loop to measure against)."""
    from harness.analyse.stats import Summary, overhead

    base = step_times.get(Paradigm.PLAIN.value)
    if not base:
        return None
    plain = Summary(tuple(base.values()))
    widths = []
    others = {p: v for p, v in step_times.items() if p != Paradigm.PLAIN.value}
    if not others:
        ci = plain.ci_at(level)
        widths.append(None if ci is None else (ci[1] - ci[0]) / 2)
    for values in others.values():
        widths.append(overhead(values, base, level).half_width)
    if any(w is None for w in widths) or not plain.median:
        return None
    return 100 * max(w for w in widths if w is not None) / plain.median


def decide(plan: Plan, done: int, step_times: StepTimes) -> Stop | None:
    """After ``done`` rounds: a Stop if the group is finished, else None (run another round)."""
    if plan.until_ci_pct is not None and done >= plan.min_repetitions:
        width = worst_half_width_pct(step_times, plan.level)
        if width is not None and width <= plan.until_ci_pct:
            return Stop(RULE_CI, done, width)
    if done >= plan.repetitions:
        width = (worst_half_width_pct(step_times, plan.level)
                 if plan.until_ci_pct is not None else None)
        return Stop(RULE_MAX, done, width)
    return None
