"""A Verdict row's reading: a sign where its interval excludes zero, a bound where it does
not, and why where it has none (set apart, never drawn as a result)."""

from __future__ import annotations

import math

from reports.verdict import FRAMEWORK, STEP, VerdictRow, with_interval, without_interval


def test_a_row_reads_as_a_sign_a_bound_or_why_it_has_none():
    sign = VerdictRow("mlp", "lightning", FRAMEWORK, 0.12, (0.10, 0.14), plain_step_s=1e-3)
    bound = VerdictRow("mlp", "ignite", STEP, 0.01, (-0.02, 0.041), plain_step_s=1e-3)
    faster = VerdictRow("mlp", "ignite", STEP, -0.05, (-0.07, -0.03), plain_step_s=1e-3)
    none = VerdictRow("mlp", "ignite", STEP, math.nan, None, why_none="3 crashed")
    assert sign.reading == "costs +120 us/step [+100, +140] (+12.0% [+10.0, +14.0])"
    assert bound.reading == "no difference larger than 4.1% of the step"
    assert faster.reading.startswith("saves -50 us/step")
    assert none.reading == "no interval (3 crashed)"
    assert with_interval([sign, bound, none]) == [sign, bound]
    assert without_interval([sign, bound, none]) == [none]
