"""The progress display's ETA: the plan corrected by what finished processes took."""

from __future__ import annotations

import pytest

from harness.plan.eta import Eta


def test_the_remaining_estimate_is_scaled_by_measured_over_estimated():
    eta = Eta({"a": 10.0, "b": 10.0, "c": 20.0})
    assert eta.remaining_s == 40.0
    eta.ran("a", 15.0)  # 1.5x slower than planned
    assert eta.correction == pytest.approx(1.5)
    assert eta.remaining_s == pytest.approx(45.0)


def test_skipped_and_dropped_processes_leave_the_sum():
    eta = Eta({"a": 10.0, "b": 10.0})
    eta.drop("a")
    assert eta.remaining_s == 10.0 and eta.correction == 1.0


def test_it_never_goes_negative():
    eta = Eta({"a": 10.0, "b": 5.0})
    eta.ran("a", 0.0)
    eta.ran("unplanned", 100.0)  # a process the plan did not know does not count
    eta.ran("b", -1.0)  # nor a negative wall
    assert eta.remaining_s == 0.0
    eta.drop("b")
    eta.drop("b")
    assert eta.remaining_s == 0.0
    assert eta.text().startswith("ETA 0:00")


def test_processes_without_an_estimate_take_the_mean_of_those_finished():
    eta = Eta({"a": 0.0, "b": 0.0, "c": 0.0, "d": -3.0})  # nothing measured here yet
    assert eta.text() == "ETA unknown"
    eta.ran("a", 4.0)
    eta.ran("b", 6.0)
    assert eta.remaining_s == pytest.approx(2 * 5.0)  # c and d
    assert eta.text() == "ETA 0:10"


def test_with_nothing_left_it_reads_zero():
    assert Eta({}).remaining_s == 0.0 and Eta({}).text() == "ETA 0:00"


def test_the_text_is_a_clock():
    assert Eta({"a": 3725.0}).text() == "ETA 1:02:05"
    assert Eta({"a": 65.0}).text() == "ETA 1:05"
