"""Bytes the process wrote during the measured steps (checkpoints, metric logs, progress bars).

Linux's per-process I/O accounting through psutil: ``write_chars`` counts every byte passed to
write(2) (page cache included, so it does not wait for the disk), ``write_bytes`` what reached
the block layer. Where the kernel does not offer the counters both stay None.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass
class DiskResult:
    write_chars: int | None = None  # bytes handed to write(2) during the measured steps
    write_bytes: int | None = None  # bytes that reached storage (may lag the writes)


class DiskTracker:
    def __init__(self) -> None:
        self._start: tuple[int, int] | None = None
        self.result = DiskResult()

    @staticmethod
    def _counters() -> tuple[int, int] | None:
        try:
            io = psutil.Process().io_counters()
        except (AttributeError, psutil.Error, OSError):
            return None
        return getattr(io, "write_chars", io.write_bytes), io.write_bytes

    def reset(self) -> None:
        self._start = self._counters()

    def read(self) -> DiskResult:
        end = self._counters()
        if self._start is not None and end is not None:
            self.result = DiskResult(end[0] - self._start[0], end[1] - self._start[1])
        return self.result
