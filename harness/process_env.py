"""The environment variables a run's parent and its cell processes share: how single-process
cells start (``PARADIGM_BENCH_LAUNCH``: forked by the fork server, or spawned) and when a cell
process was started (``PARADIGM_BENCH_SPAWN_TIME``). In the core, without imports, because the
parent's launcher, the child's worker and the host record (``harness.measure.environment``)
all read them."""

from __future__ import annotations

import os

LAUNCH_ENV = "PARADIGM_BENCH_LAUNCH"
SPAWN_TIME_ENV = "PARADIGM_BENCH_SPAWN_TIME"  # wall-clock time the cell process was started
FORK, SPAWN = "fork", "spawn"
LAUNCH_PATHS = (FORK, SPAWN)


def launch_path() -> str:
    """The launch path for single-process cells: ``fork`` (default) or ``spawn``."""
    value = os.environ.get(LAUNCH_ENV, FORK) or FORK
    if value not in LAUNCH_PATHS:
        raise ValueError(f"{LAUNCH_ENV}={value!r}: expected one of {', '.join(LAUNCH_PATHS)}")
    return value
