"""A point's figures, the Poisson schedule, the SLO rule, the limit and the parity check."""

import json

import numpy as np
import pytest

from harness.serve.loadgen import parity, schedule
from harness.serve.points import Request, Window, summarise
from harness.serve.sweep import limit


def _requests(latency_s: float, n: int = 100, duration: float = 1.0) -> list[Request]:
    out = []
    for i in range(n):
        t = i * duration / n
        out.append(Request(i, t, sent=t, done=t + latency_s, status=200))
    return out


def test_latency_runs_from_the_scheduled_time_and_warm_up_is_left_out():
    reqs = _requests(0.010)
    reqs[0].done = 5.0  # in the warm-up: a slow first answer is not counted
    late = reqs[60]
    late.sent = late.scheduled + 0.5  # sent late by the generator: charged all the same
    late.done = late.sent + 0.010
    point = summarise(reqs, 100.0, 1.0, 0.2, slo_ms=50, w=Window())
    assert point["requests"] == 80 and point["warmup_requests"] == 20
    assert point["max_ms"] == pytest.approx(510.0)
    assert point["p50_ms"] == pytest.approx(10.0)
    assert point["send_lag_p99_ms"] > 100


def test_a_point_with_an_error_or_a_p99_over_the_slo_fails():
    reqs = _requests(0.010)
    assert summarise(reqs, 100.0, 1.0, 0.0, 50, Window())["passed"]
    assert not summarise(reqs, 100.0, 1.0, 0.0, 5, Window())["passed"]
    reqs[50].status, reqs[50].error = 0, "timeout"
    point = summarise(reqs, 100.0, 1.0, 0.0, 50, Window())
    assert not point["passed"] and point["errors"] == 1
    assert point["error_kinds"] == {"timeout": 1}


def test_steady_windows_are_stable_and_a_growing_queue_is_not():
    assert summarise(_requests(0.010, n=500), 500.0, 1.0, 0.0, 50, Window())["stable"]
    growing = _requests(0.010, n=500)
    for r in growing:
        r.done = r.scheduled + 0.010 + r.scheduled  # latency grows with time
    assert not summarise(growing, 500.0, 1.0, 0.0, 5000, Window())["stable"]


def test_the_schedule_is_seeded_poisson_and_the_same_for_every_path():
    a, b = schedule(200.0, 5.0, seed=3), schedule(200.0, 5.0, seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, schedule(200.0, 5.0, seed=4))
    assert 850 < len(a) < 1150 and a.max() < 5.0
    gaps = np.diff(a)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.15)  # exponential gaps


def test_the_limit_is_the_last_rate_that_passed_before_the_first_that_did_not():
    points = [{"target_rps": r, "passed": ok} for r, ok in ((10, True), (20, True), (40, False))]
    assert limit(points) == (20, True)
    assert limit(points[:2]) == (20, False)  # a lower bound: nothing failed
    assert limit(points[2:]) == (0.0, True)


def test_parity_is_bitwise_or_names_the_first_mismatch():
    refs = [[0.1, 0.2], [0.3, 0.4]]

    def answered(i, outputs):
        return Request(i, 0.0, status=200, body=json.dumps({"outputs": outputs}).encode())

    same = parity([answered(0, [[0.1, 0.2]]), answered(1, [[0.3, 0.4]])], refs, 0.0)
    assert same["bitwise"] == same["checked"] == 2 and same["first_mismatch"] is None
    off = parity([answered(0, [[0.1, 0.2]]), answered(3, [[0.3, 0.5]])], refs, 0.0)
    assert off["bitwise"] == 1 and off["first_mismatch"] == 3
    assert off["max_abs_diff"] == pytest.approx(0.1)
    assert parity([answered(0, [[0.1, 0.2]])], None, 0.0) is None
