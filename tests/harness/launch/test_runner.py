"""Failures become records, and the next cell still runs."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import psutil
import pytest

from harness.launch.runner import run_cell
from harness.matrix.matrix import execute
from harness.process_env import FORK, LAUNCH_ENV, LAUNCH_PATHS, SPAWN
from harness.results import load_run
from tests.conftest import FIXTURES, tiny_cell

FAULTY = str(FIXTURES / "faulty.py")
HANG_S = 600  # how long faulty.py's Hang (and its grandchild) would sleep


@pytest.fixture(params=LAUNCH_PATHS)
def path(request, monkeypatch):
    """Each fault test runs forked by the fork server and spawned: the same statuses."""
    monkeypatch.setenv(LAUNCH_ENV, request.param)
    return request.param


def _run(tmp_path, cls, **overrides):
    return run_cell(tiny_cell(f"{FAULTY}:{cls}", **overrides), tmp_path, 0, environment={})


def test_signal_death_is_crashed_with_the_signal(tmp_path, path):
    record = _run(tmp_path, "Segfault")
    assert record["status"] == "crashed" and record["launch"] == path
    assert "SIGSEGV" in record["message"]


def test_timeout_kills_the_whole_tree(tmp_path, monkeypatch, path):
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("FAULTY_PIDFILE", str(pidfile))
    # 8 s reach the hang on a quiet machine; on a loaded one a spawned worker may still be
    # importing torch then (no grandchild yet to leave behind): a longer timeout tries again
    for timeout_s in (8, 30, 90):
        start = time.monotonic()
        record = _run(tmp_path, "Hang", timeout_s=timeout_s)
        elapsed = time.monotonic() - start
        assert record["status"] == "timeout"
        # the cell would sleep 600 s: ending far sooner proves the timeout ended it, however
        # busy the machine (plus the kill grace and the start-up: seconds to tens of seconds)
        assert elapsed < timeout_s + HANG_S / 4
        if pidfile.exists():
            break
    pids = [int(p) for p in pidfile.read_text().split()]
    time.sleep(0.2)
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert alive == [], "a worker or its grandchild survived the timeout"


EXCEPTIONS = [("Oom", "oom", "OutOfMemoryError"),
              ("Unsupported", "unsupported", "no optimizer for this case"),
              ("Boom", "error", "synthetic data generator exploded")]


# Every exception forked (the default path); spawned, one: the worker maps an exception to
# its status the same way whichever path started it, and the spawned record carries it
@pytest.mark.parametrize("launch, cls, status, text",
                         [(FORK, *e) for e in EXCEPTIONS] + [(SPAWN, *EXCEPTIONS[-1])])
def test_exceptions_map_to_statuses(tmp_path, monkeypatch, launch, cls, status, text):
    monkeypatch.setenv(LAUNCH_ENV, launch)
    record = _run(tmp_path, cls)
    assert record["status"] == status and record["launch"] == launch
    assert text in record["message"]
    assert "Traceback" in record["traceback_tail"] or status == "oom"


MIXED = [tiny_cell(f"{FAULTY}:Boom"), tiny_cell("linear")]


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """A matrix of a failing cell and a good one, run once for the two tests below."""
    run_dir = tmp_path_factory.mktemp("mixed")
    return run_dir, execute(MIXED, run_dir, repetitions=1, progress=False)


def test_a_failed_cell_does_not_stop_the_matrix(mixed_run):
    run_dir, summary = mixed_run
    statuses = sorted(r["status"] for r in load_run(run_dir))
    assert statuses == ["error", "ok"] and summary["statuses"] == {"error": 1, "ok": 1}


def test_resume_reruns_only_unfinished_cells(mixed_run, tmp_path):
    run_dir = tmp_path / "resumed"
    shutil.copytree(mixed_run[0], run_dir)  # the shared run stays as it was
    ok_file = next(p for p in (run_dir / "cells").iterdir() if "linear" in p.name)
    mtime = ok_file.stat().st_mtime_ns
    summary = execute(MIXED, run_dir, repetitions=1, progress=False)
    assert summary["ran"] == 1 and summary["skipped_done"] == 1  # only the failed one
    assert ok_file.stat().st_mtime_ns == mtime
    assert os.path.exists(run_dir / "manifest.json")


def test_a_cell_process_can_import_the_harness_and_the_workloads_from_this_checkout():
    """The worker runs in the cell's own folder: its PYTHONPATH must start at the checkout
    that holds ``harness`` and ``workloads`` (an uninstalled checkout works too)."""
    from harness.launch.runner import child_env

    first = Path(child_env(tiny_cell("linear"))["PYTHONPATH"].split(os.pathsep)[0])
    assert (first / "harness" / "launch" / "worker.py").is_file()
    assert (first / "workloads" / "linear.py").is_file()


_SUMMARY = """harness.launch.worker FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-02_05:22:53
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : {code} (pid: 14774)  (SIGKILL)
  error_file: <N/A>
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-02_05:22:53
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 14773)
  error_file: <N/A>
"""
_RANK0_ERROR = {"rank": 0, "status": "error", "error_type": "RuntimeError",
                "message": "Connection reset by peer"}


def test_a_rank_killed_without_a_result_is_the_cause_whatever_torchrun_calls_first():
    """torchrun's "first observed failure" falls on rank 0 when both exits share a second;
    the rank a signal ended before it wrote a result is still the cause, and its peer's
    connection error only the consequence."""
    from harness.launch.runner import _crash_message, _failures, _status_from_ranks

    killed = _SUMMARY.format(code=-9)
    assert _failures(killed) == [(1, -9), (0, 1)]
    assert _status_from_ranks([_RANK0_ERROR], 2, killed)[0].value == "crashed"
    assert _crash_message(1, killed, [_RANK0_ERROR]) == "rank 1 died (SIGKILL)"
    # a rank torchrun itself ended (SIGTERM) after rank 0's own error: rank 0's error it is
    ended = _SUMMARY.format(code=-15)
    assert _status_from_ranks([_RANK0_ERROR], 2, ended)[0].value == "error"
