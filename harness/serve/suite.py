"""Serving comparisons in a suite file: ``[[serve]]`` tables, run after the suite's cells
(and studies) into ``<run>/serve/`` with their own page, ``serve/serve.html``, linked from the
report and named in its Verdict.

A table's keys are ``ServeSpec``'s fields: ``workload`` (required), ``size``, ``paradigm``
(default all three), ``paths`` (default all), ``rates`` (required, rising), ``duration``,
``warmup``, ``warmup_requests``, ``slo_ms`` (required), ``repetitions``, ``seed``, ``device``,
``threads``, ``rows``. A suite's ``--device`` applies; its ``[defaults]`` do not. Example::

    [[serve]]
    workload = "tabular"
    size = "tiny"
    rates = [25, 50, 100]
    duration = 2
    slo_ms = 50
"""

from __future__ import annotations

from typing import Any

from harness.serve.spec import ServeSpec, SpecError

RENAMED = {"paradigm": "paradigms", "duration": "duration_s", "warmup": "warmup_s"}
REQUIRED = ("workload", "rates", "slo_ms")


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


def specs_from_tables(tables: list[dict[str, Any]], device: str | None = None
                      ) -> list[ServeSpec]:
    """Every comparison the ``[[serve]]`` tables ask for, checked."""
    out = []
    for i, table in enumerate(tables):
        try:
            missing = [k for k in REQUIRED if k not in table]
            if missing:
                raise SpecError(f"{', '.join(missing)} required")
            entry = {RENAMED.get(k, k): v for k, v in table.items()}
            for key in ("paradigms", "paths"):
                if key in entry:
                    entry[key] = _as_tuple(entry[key])
            entry["rates"] = tuple(float(r) for r in _as_tuple(entry["rates"]))
            if device:
                entry["device"] = device
            out.append(ServeSpec(**entry))
        except (SpecError, TypeError, ValueError) as exc:
            raise SpecError(f"[[serve]] #{i + 1}: {exc}") from None
    return out
