"""Shared pieces of the search tests: the ``hpo`` command in a fresh process, and one study
process run inside the test process (cheaper, where a test needs no framework start-up)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import FIXTURES

# A trial of 32 steps of the tiny Linear workload (16 steps an epoch: two validations)
TRIAL = ["--size", "tiny", "--batch-size", "16", "--steps", "30", "--warmup", "2",
         "--window", "2", "--threads", "1"]
SEARCH_WORKLOADS = FIXTURES / "search_workloads.py"


@pytest.fixture(autouse=True)
def _signal_handlers():
    """``harness.cli.main`` and a study process install their own SIGINT/SIGTERM handlers;
    the test process gets its own back after each test."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in handlers.items():
        signal.signal(s, h)


def hpo(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The command in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "harness", "hpo", *args], capture_output=True,
                          text=True, timeout=timeout)


def hpo_here(*args: str) -> int:
    """The same command with its parent inside the test process (its study processes are
    still fresh ones): saves the parent's start-up; signal handlers restored."""
    from harness.cli import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return main(["hpo", *args])
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)


def run_in_process(spec, out: Path, trials: int, worker: int = 0) -> int:
    """One study process's work inside this one: signal handlers and threads restored."""
    from harness.search.worker import run

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    threads = torch.get_num_threads()
    try:
        return run(spec, out, worker, [trials], "in-process")
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        torch.set_num_threads(threads)
