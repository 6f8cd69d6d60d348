"""Human-readable numbers, shared by the terminal table and the HTML report."""

from __future__ import annotations

import math


def _bad(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def duration(seconds: float | None, signed: bool = False) -> str:
    """``0.000123`` -> ``123 us``; ``0.001`` -> ``1.00 ms``; ``0.0123`` -> ``12.3 ms``;
    ``1.5`` -> ``1.50 s``: three significant digits, trailing zeros kept, so that the two ends
    of an interval read alike."""
    if _bad(seconds):
        return "—"
    assert seconds is not None
    sign = "+" if signed and seconds > 0 else ""
    a = abs(seconds)
    if a < 0.9995e-3:  # what rounds to 1000 us reads 1.00 ms
        return f"{sign}{seconds * 1e6:.0f} us"
    if a < 0.9995:
        ms = seconds * 1e3
        decimals = 2 if a < 9.995e-3 else 1 if a < 99.95e-3 else 0
        return f"{sign}{ms:.{decimals}f} ms"
    return f"{sign}{seconds:.2f} s"


TOO_FEW = "n too small"


def interval(ci: object, signed: bool = False) -> str:
    """``[lo, hi]`` as durations; "n too small" where there is no valid interval."""
    if not isinstance(ci, tuple | list) or len(ci) != 2 or any(_bad(v) for v in ci):
        return TOO_FEW
    return f"[{duration(ci[0], signed)}, {duration(ci[1], signed)}]"


def percent(fraction: float | None, signed: bool = True) -> str:
    if _bad(fraction):
        return "—"
    assert fraction is not None
    return f"{fraction * 100:+.1f}%" if signed else f"{fraction * 100:.1f}%"


def nbytes(n: float | None) -> str:
    if _bad(n):
        return "—"
    assert n is not None
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def rate(per_s: float | None, item: str = "items") -> str:
    if _bad(per_s):
        return "—"
    assert per_s is not None
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_s >= scale:
            return f"{per_s / scale:.3g}{suffix} {item}/s"
    return f"{per_s:.3g} {item}/s"
