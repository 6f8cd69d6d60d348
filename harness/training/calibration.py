"""A known delay for checking the harness's own attribution (the ``calibration`` feature).

Each adapter calls ``busy_wait`` from a framework-native per-step hook (a Lightning callback,
an Ignite event handler, the plain loop's body); the framework time and the profiler's
attribution must then show that many microseconds more per step, in that paradigm only.
It spins on the clock rather than sleeping: sleep overshoots by the kernel's timer slack.
"""

from __future__ import annotations

from time import perf_counter


def busy_wait(microseconds: float) -> None:
    """Spin for ``microseconds`` of wall time."""
    end = perf_counter() + microseconds * 1e-6
    while perf_counter() < end:
        pass
