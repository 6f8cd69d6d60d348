"""What one point's requests add up to: achieved rate, latency percentiles from the scheduled
send time, errors, whether the point was stable, and whether it meets the SLO.

Only requests scheduled after the warm-up count. A point is *stable* when its last
``stable_windows`` windows (of ``windows`` equal slices of the measured span, by scheduled
time) agree within ``tolerance`` of their mean in both throughput and mean latency, Triton
perf_analyzer's rule (3 windows within 10%). It *passes* when no measured request failed and
its p99 is within the SLO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0, "p99_9_ms": 99.9}
ERROR_KINDS_KEPT = 5


@dataclass
class Request:
    """One request: its times in seconds from the point's start, its answer or error."""

    index: int
    scheduled: float
    sent: float = math.nan
    done: float = math.nan
    status: int = 0  # HTTP status, 0 when no answer came
    error: str | None = None
    body: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class Window:
    windows: int = 5
    stable_windows: int = 3
    tolerance: float = 0.10


def _pct(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {k: math.nan for k in PERCENTILES}
    return {k: float(np.percentile(values, q)) for k, q in PERCENTILES.items()}


def _agree(values: list[float], tolerance: float) -> bool:
    if any(not math.isfinite(v) for v in values):
        return False
    mean = sum(values) / len(values)
    return mean > 0 and all(abs(v - mean) <= tolerance * mean for v in values)


def windows(measured: list[Request], start: float, end: float, w: Window
            ) -> list[dict[str, float]]:
    """Each window's completions per second and mean latency (ms)."""
    width = (end - start) / w.windows
    out = []
    for k in range(w.windows):
        lo, hi = start + k * width, start + (k + 1) * width
        done = [r for r in measured if r.ok and lo <= r.done < hi]
        sent = [r for r in measured if r.ok and lo <= r.scheduled < hi]
        latency = (1000 * sum(r.done - r.scheduled for r in sent) / len(sent)) if sent else math.nan
        out.append({"throughput": len(done) / width if width > 0 else math.nan,
                    "mean_ms": latency})
    return out


def summarise(requests: list[Request], rate: float, duration_s: float, warmup_s: float,
              slo_ms: float, w: Window) -> dict[str, Any]:
    """The point's figures (JSON-ready)."""
    measured = [r for r in requests if r.scheduled >= warmup_s]
    ok = [r for r in measured if r.ok]
    latency = np.array([1000 * (r.done - r.scheduled) for r in ok])
    lag = np.array([1000 * (r.sent - r.scheduled) for r in measured if math.isfinite(r.sent)])
    last = max((r.done for r in ok), default=math.nan)
    span = max(last, duration_s) - warmup_s
    kinds: dict[str, int] = {}
    for r in measured:
        if not r.ok:
            kind = r.error or f"HTTP {r.status}"
            kinds[kind] = kinds.get(kind, 0) + 1
    slices = windows(measured, warmup_s, duration_s, w)
    tail = slices[-w.stable_windows:]
    stable = (_agree([s["throughput"] for s in tail], w.tolerance)
              and _agree([s["mean_ms"] for s in tail], w.tolerance))
    figures = _pct(latency)
    errors = len(measured) - len(ok)
    return {
        "target_rps": rate, "requests": len(measured), "warmup_requests": len(requests)
        - len(measured), "ok": len(ok), "errors": errors,
        "achieved_rps": len(ok) / span if span > 0 else math.nan,
        **figures, "mean_ms": float(latency.mean()) if len(latency) else math.nan,
        "max_ms": float(latency.max()) if len(latency) else math.nan,
        "send_lag_p99_ms": float(np.percentile(lag, 99)) if len(lag) else math.nan,
        "windows": slices, "stable": stable,
        "error_kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:ERROR_KINDS_KEPT]),
        "passed": passed(errors, figures["p99_ms"], slo_ms),
    }


def passed(errors: int, p99_ms: float, slo_ms: float) -> bool:
    return errors == 0 and math.isfinite(p99_ms) and p99_ms <= slo_ms
