"""The per-trial time split: its parts add up to the trial's wall time, and each part is
bounded where the module says (on a hand-made clock, so that the expected seconds are exact)."""

from __future__ import annotations

import pytest

from harness.search.clock import PARTS, TimedTrial, TrialClock, split


def _clock() -> TrialClock:
    """A trial of 4 steps with a validation after steps 2 and 4, then the final evaluation.

    t=0 start, suggest 0.1-0.2; steps end at 1, 2, 3, 4 (training forwards start 0.5 after
    the previous end, the first at 0.6); a validation after step 2 (evaluate 2.1-2.3, report
    2.3-2.35, should_prune 2.35-2.4, the next forward at 2.6), another after step 4
    (evaluate 4.1-4.3, report and check until 4.4); fit returns at 4.7; evaluated at 5.0;
    the objective returns at 5.1.
    """
    c = TrialClock(start=0.0)
    c.optuna_calls = [(0.1, 0.2), (2.3, 2.35), (2.35, 2.4), (4.3, 4.35), (4.35, 4.4)]
    c.forwards = [0.6, 1.5, 2.6, 3.5]
    c.evaluations = [(2.1, 2.3), (4.1, 4.3)]
    c.checks = [2.4, 4.4]
    c.step_ends = [1.0, 2.0, 3.0, 4.0]
    c.trained_until, c.evaluated, c.end = 4.7, 5.0, 5.1
    return c


def test_parts_are_bounded_as_documented_and_add_up_to_the_wall_time():
    parts = split(_clock(), ask_s=0.05, tell_s=0.02)
    assert parts["construction"] == pytest.approx(1.0 - 0.1)  # to the end of step 1, no suggest
    # the pass after step 2 runs to the next training forward (2.6), less its Optuna calls;
    # the pass after the last step ends at its pruning check (4.4); the final evaluation 0.3
    assert parts["validation"] == pytest.approx((0.6 - 0.1) + (0.4 - 0.1) + 0.3)
    assert parts["training"] == pytest.approx(3.0 - 0.6)  # steps 1..4 less the first pass
    assert parts["teardown"] == pytest.approx(4.7 - 4.4)
    assert parts["bookkeeping"] == pytest.approx(0.05 + 0.02 + 0.3 + 0.1)  # + recording
    assert sum(parts[p] for p in PARTS) == pytest.approx(parts["wall"])
    assert parts["wall"] == pytest.approx(0.05 + 5.1 + 0.02)


def test_a_trial_that_failed_before_its_first_step_is_all_construction():
    c = TrialClock(start=0.0)
    c.trained_until = c.end = 0.3
    parts = split(c, ask_s=0.0, tell_s=0.0)
    assert parts["construction"] == pytest.approx(0.3)
    assert parts["training"] == parts["validation"] == parts["teardown"] == 0.0


class _Trial:
    number = 7

    def __init__(self):
        self.calls = []

    def report(self, value, step):
        self.calls.append(("report", value, step))

    def should_prune(self):
        return True


def test_timed_trial_passes_calls_through_and_keeps_every_report_in_order():
    clock, inner = TrialClock(start=0.0), _Trial()
    trial = TimedTrial(inner, clock)
    trial.report(0.5, 0)
    trial.report(0.25, 0)  # Optuna ignores a second report at the same step
    assert trial.should_prune() is True and trial.number == 7
    assert inner.calls == [("report", 0.5, 0), ("report", 0.25, 0)]
    assert clock.reports == [{"step": 0, "value": 0.5, "stored": True},
                             {"step": 0, "value": 0.25, "stored": False}]
    assert len(clock.optuna_calls) == 3 and len(clock.checks) == 1
