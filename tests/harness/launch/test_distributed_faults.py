"""A dead or hung rank ends its DDP cell, bounded in time, with the rank named; no restarts."""

from __future__ import annotations

import time

from harness.launch.runner import run_cell
from tests.conftest import FIXTURES, tiny_cell

FAULTY = str(FIXTURES / "faulty.py")


def test_killed_rank_fails_the_cell_naming_the_rank(tmp_path, monkeypatch):
    starts = tmp_path / "starts"
    monkeypatch.setenv("FAULTY_STARTS", str(starts))
    cell = tiny_cell(f"{FAULTY}:KillRankOne", world_size=2, batch_size=8, timeout_s=90)
    began = time.monotonic()
    record = run_cell(cell, tmp_path, 0, {})
    assert time.monotonic() - began < 60
    assert record["status"] == "crashed"
    assert "rank 1" in record["message"] and "SIGKILL" in record["message"]
    assert sorted(starts.read_text().split()) == ["0", "1"]  # torchrun restarted nobody


def test_rank_hung_before_a_collective_times_out(tmp_path):
    cell = tiny_cell(f"{FAULTY}:HangRankOne", world_size=2, batch_size=8, timeout_s=90,
                     collective_timeout_s=5)
    began = time.monotonic()
    record = run_cell(cell, tmp_path, 0, {})
    assert time.monotonic() - began < 60  # the process-group timeout, not the watchdog
    assert record["status"] == "timeout", record.get("message")
    assert record.get("failed_rank") == 0  # the rank left waiting is the one that reports it


def test_watchdog_bounds_a_hang_the_process_group_cannot_see(tmp_path):
    cell = tiny_cell(f"{FAULTY}:HangRankOne", world_size=2, batch_size=8, timeout_s=10,
                     collective_timeout_s=300)
    began = time.monotonic()
    record = run_cell(cell, tmp_path, 0, {})
    assert record["status"] == "timeout" and time.monotonic() - began < 10 + 12
