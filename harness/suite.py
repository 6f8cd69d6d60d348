"""Suite files: which cells to run, in TOML.

A suite has a name, a number of repetitions, ``[defaults]`` and one or more ``[[matrix]]``
tables. Each matrix table is merged over the defaults; every list-valued setting in it is
expanded as a product (paradigms innermost, so the paradigms of one config run back to back).
A matrix table may set its own ``repetitions`` (for the cells whose figure must be tight).
``threads = "auto"`` gives each rank its share of the cores (cores // world size). Example::

    name = "smoke"
    repetitions = 2

    [defaults]
    size = "tiny"
    steps = 20
    paradigm = ["plain", "lightning", "ignite"]

    [[matrix]]
    workload = ["linear", "mlp"]
    precision = ["fp32", "bf16-mixed"]
"""

from __future__ import annotations

import itertools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import NAME_PATTERN, CellConfig, ConfigError
from harness.discovery import default_batch_size

# Expanded in this order; the last varies fastest.
AXES = ["workload", "size", "batch_size", "world_size", "profile", "precision", "paradigm"]
DEFAULT_PARADIGMS = ["plain", "lightning", "ignite"]


class SuiteError(ValueError):
    """An unreadable or invalid suite file; the message says where."""


@dataclass(frozen=True)
class Suite:
    name: str
    repetitions: dict[CellConfig, int]  # per cell: a matrix table may ask for more
    description: str = ""

    @property
    def cells(self) -> list[CellConfig]:
        return list(self.repetitions)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _expand(entry: dict[str, Any], cores: int) -> list[CellConfig]:
    entry = {"paradigm": DEFAULT_PARADIGMS, **entry}
    axes = [a for a in AXES if a in entry]
    fixed = {k: v for k, v in entry.items() if k not in axes}
    cells = []
    for values in itertools.product(*(_as_list(entry[a]) for a in axes)):
        settings = {**fixed, **dict(zip(axes, values))}
        if settings.get("threads", "auto") == "auto":
            settings["threads"] = max(1, cores // settings.get("world_size", 1))
        if "batch_size" not in settings:
            settings["batch_size"] = default_batch_size(settings["workload"])
        if "timeout" in settings:
            settings["timeout_s"] = settings.pop("timeout")
        cells.append(CellConfig.from_dict(settings))
    return cells


def load_suite(
    path: Path,
    *,
    workloads: list[str] | None = None,
    paradigms: list[str] | None = None,
    repetitions: int | None = None,
    device: str | None = None,
) -> Suite:
    """Read and expand a suite file; the keyword filters narrow or override it."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read suite file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(data) - {"name", "description", "repetitions", "defaults", "matrix"}
    if unknown:
        raise SuiteError(f"{path}: unknown top-level keys {sorted(unknown)}")
    name = str(data.get("name", Path(path).stem))
    if not NAME_PATTERN.match(name):
        raise SuiteError(f"{path}: suite name {name!r} must match [A-Za-z0-9_.-]+")
    reps = repetitions if repetitions is not None else data.get("repetitions", 3)
    if not isinstance(reps, int) or reps <= 0:
        raise SuiteError(f"{path}: repetitions must be a positive integer, got {reps!r}")
    if not data.get("matrix"):
        raise SuiteError(f"{path}: no [[matrix]] tables")
    cores = os.cpu_count() or 1
    counts: dict[CellConfig, int] = {}  # insertion-ordered; a cell listed twice runs once
    for i, table in enumerate(data["matrix"]):
        entry = {**data.get("defaults", {}), **table}
        table_reps = entry.pop("repetitions", reps)
        if repetitions:  # the command line overrides every table
            table_reps = repetitions
        if device:
            entry["device"] = device
        if not isinstance(table_reps, int) or table_reps <= 0:
            raise SuiteError(f"{path}: [[matrix]] #{i + 1}: repetitions must be a positive "
                             f"integer, got {table_reps!r}")
        try:
            for cell in _expand(entry, cores):
                counts[cell] = max(counts.get(cell, 0), table_reps)
        except (ConfigError, LookupError, TypeError, ValueError) as exc:
            raise SuiteError(f"{path}: [[matrix]] #{i + 1}: {exc}") from None
    counts = {c: n for c, n in counts.items()
              if (not workloads or c.workload in workloads)
              and (not paradigms or c.paradigm.value in paradigms)}
    if not counts:
        raise SuiteError(f"{path}: no cells left after filtering")
    return Suite(name, counts, str(data.get("description", "")))
