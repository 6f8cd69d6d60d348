"""The progress display's ETA: the plan's estimate of what is left, corrected by what the
processes already run took against their estimates.

The correction is the ratio measured / estimated over the processes this run has finished
(a host slower than its cached figures, or a loaded one, scales every remaining estimate
alike). A process the plan could not estimate (nothing measured on this host yet: an estimate
of 0) counts as the mean wall time of the processes finished so far: a first run's start-up
is taken from its first processes. Processes skipped (already done in a resumed folder) or
dropped (an adaptive group that stopped early) leave the remaining sum. It never reads
negative: what is left is a sum of non-negative terms.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Eta(Generic[K]):
    """Remaining seconds of a run, from per-process estimates and the measured walls so far."""

    def __init__(self, estimates: Mapping[K, float]) -> None:
        self._pending = {k: max(float(v), 0.0) for k, v in estimates.items()}
        self._measured = 0.0
        self._estimated = 0.0
        self._walls: list[float] = []

    def ran(self, key: K, wall_s: float) -> None:
        """A process finished after ``wall_s``: it counts in the correction."""
        estimate = self._pending.pop(key, None)
        if estimate is None or wall_s < 0:
            return  # a process the plan did not know
        self._walls.append(wall_s)
        if estimate > 0:
            self._measured += wall_s
            self._estimated += estimate

    def drop(self, key: K) -> None:
        """A process that will not run (done already, or its group stopped)."""
        self._pending.pop(key, None)

    @property
    def correction(self) -> float:
        return self._measured / self._estimated if self._estimated > 0 else 1.0

    @property
    def unknown(self) -> bool:
        """Some process left has no estimate and none has finished to stand in for it."""
        return not self._walls and any(v == 0 for v in self._pending.values())

    @property
    def remaining_s(self) -> float:
        known = sum(self._pending.values()) * self.correction
        unestimated = sum(v == 0 for v in self._pending.values())
        mean_wall = sum(self._walls) / len(self._walls) if self._walls else 0.0
        return max(known + unestimated * mean_wall, 0.0)

    def text(self) -> str:
        if self.unknown:
            return "ETA unknown"
        seconds = round(self.remaining_s)
        hours, rest = divmod(seconds, 3600)
        clock = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else \
            f"{rest // 60}:{rest % 60:02d}"
        ratio = f" (x{self.correction:.2f} of plan)" if self._estimated > 0 else ""
        return f"ETA {clock}{ratio}"
