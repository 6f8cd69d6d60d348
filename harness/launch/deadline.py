"""A command with a deadline whose whole tree ends with it (gpu-check's GPU tests).

The command starts in its own session. At the deadline (or on a Ctrl-C here) its process group
is interrupted like a Ctrl-C (SIGINT: pytest then stops, runs its finalisers and writes its
JUnit XML); after a grace period the group, and every descendant that left it for a session of
its own (a cell's process tree, a study worker), is killed. Whatever is still alive of the tree
when the command ends is killed as well: nothing it started outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

GRACE_S = 30.0  # for pytest to stop its running test, tear down and write its report


@dataclass(frozen=True)
class Finished:
    """How the command ended: its exit code (None if it had to be killed) and whether the
    deadline interrupted it."""

    returncode: int | None
    timed_out: bool


def _tree(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []


def _kill(group: int, others: Sequence[psutil.Process]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
    for proc in others:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _end(proc: subprocess.Popen[Any], grace_s: float, known: list[psutil.Process]) -> int | None:
    """Interrupt the group, wait ``grace_s``, then kill what is left; the leader's code, or
    None where it had to be killed."""
    known += _tree(proc.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        known += _tree(proc.pid)
        _kill(proc.pid, known)
        proc.wait()
        return None


def run_until(argv: Sequence[str], seconds: float, grace_s: float = GRACE_S,
              **popen: Any) -> Finished:
    """Run ``argv`` (``popen``: Popen's other arguments) for at most ``seconds``."""
    proc = subprocess.Popen(list(argv), start_new_session=True, **popen)
    known: list[psutil.Process] = []
    timed_out, code = False, None
    try:
        code = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        code = _end(proc, grace_s, known)
    except BaseException:  # a Ctrl-C here: the tree ends first, then the interrupt goes on
        _end(proc, grace_s, known)
        raise
    finally:
        _kill(proc.pid, [p for p in known if p.is_running()])
    return Finished(code, timed_out)
