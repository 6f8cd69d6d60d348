"""A known delay for checking the harness's own attribution (the ``calibration`` feature).

Each adapter calls ``busy_wait`` from a framework-native per-step hook (a Lightning callback,
an Ignite event handler, the plain loop's body); the framework time and the profiler's
attribution must then show that many microseconds more per step, in that paradigm only.
It spins on the clock rather than sleeping: sleep overshoots by the kernel's timer slack.
"""

from __future__ import annotations

from time import perf_counter

# The wall time each busy-wait of this process really took: at least what was asked, more
# where the scheduler preempted the process at its end (a shared machine), so that what the
# profiler attributes can be held against what the hook really cost.
WAITED_S: list[float] = []


def busy_wait(microseconds: float) -> None:
    """Spin for ``microseconds`` of wall time (and record how long it took)."""
    start = now = perf_counter()
    end = start + microseconds * 1e-6
    while now < end:
        now = perf_counter()
    WAITED_S.append(now - start)
