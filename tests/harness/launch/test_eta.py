"""The progress display's ETA: the plan corrected by what finished processes took."""

from __future__ import annotations

import pytest

from harness.launch.eta import Eta


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
    eta = Eta({"a": 10.0, "b": -5.0})
    eta.ran("a", 0.0)
    eta.ran("unplanned", 100.0)  # a process the plan did not know does not count
    assert eta.remaining_s == 0.0
    eta.ran("b", 3.0)
    eta.drop("b")
    assert eta.remaining_s == 0.0
    assert eta.text().startswith("ETA 0:00")


def test_without_estimates_it_says_unknown():
    assert Eta({}).text() == "ETA unknown"


def test_the_text_is_a_clock():
    assert Eta({"a": 3725.0}).text() == "ETA 1:02:05"
    assert Eta({"a": 65.0}).text() == "ETA 1:05"
