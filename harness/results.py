"""Result records: one JSON file per cell repetition, written atomically, read back safely.

A record is plain JSON (never pickle or eval): ``schema_version``, the full cell config, the
environment, a status, the per-rank measurements and the aggregate the report uses. Readers
refuse files of a newer schema and migrate older ones.
"""

from __future__ import annotations

import json
import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2  # 2: step_time_s is the mean step; the median window is its own figure


class Status(str, Enum):
    OK = "ok"
    OOM = "oom"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    ERROR = "error"
    UNSUPPORTED = "unsupported"
    INTERRUPTED = "interrupted"


class SchemaError(ValueError):
    """A result file this version cannot read (corrupt, or written by a newer version)."""


def write_text_atomic(path: Path, text: str) -> None:
    """Write so that ``path`` holds either the old content or the new, never a part.

    Temp file in the same directory, fsync, rename over the target, fsync the directory.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results and reports are meant to be shared
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """``write_text_atomic`` of ``data`` as JSON (NaN allowed: missing measurements)."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=True))


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older record up to SCHEMA_VERSION.

    1 -> 2: ``step_time_s`` was the median window and ``mean_step_s`` the mean; the mean is now
    the step time (and the figures derived from it follow), the median window is
    ``median_window_step_s``.
    """
    m = data.get("measurements")
    if data["schema_version"] < 2 and m and "mean_step_s" in m:
        m["median_window_step_s"] = m["step_time_s"]
        step = m["step_time_s"] = m.pop("mean_step_s")
        if step and step > 0:
            m["items_per_s"] = m["items_per_step"] / step
            if m.get("flops_per_step"):
                m["achieved_flops"] = m["flops_per_step"] / step
                m["mfu"] = m["achieved_flops"] / m["peak_flops"] if m.get("peak_flops") else None
    data["schema_version"] = SCHEMA_VERSION
    return data


def read_record(path: Path) -> dict[str, Any]:
    """Read one record; raise SchemaError for corrupt files and newer schema versions."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path}: not a readable result file ({exc})") from exc
    if not isinstance(data, dict) or "schema_version" not in data:
        raise SchemaError(f"{path}: no schema_version; not a result record")
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path}: schema_version {version!r} is newer than this harness reads "
            f"({SCHEMA_VERSION}); upgrade paradigm-bench to read it"
        )
    return _migrate(data) if version < SCHEMA_VERSION else data


def record_path(run_dir: Path, key: str, repetition: int, node_rank: int = 0) -> Path:
    """Where a cell repetition's record lives; other nodes of a multi-node cell add ``__n<R>``,
    so that nodes sharing one run folder never overwrite each other."""
    node = f"__n{node_rank}" if node_rank else ""
    return run_dir / "cells" / f"{key}__r{repetition}{node}.json"


def load_run(run_dir: Path, unreadable: list[str] | None = None) -> list[dict[str, Any]]:
    """Every record of a run, in file-name order.

    A bad file raises SchemaError, unless ``unreadable`` is given: then its message is
    appended there and the rest are still read (a report of the rest beats no report).
    """
    records = []
    for path in sorted((run_dir / "cells").glob("*.json")):
        try:
            records.append(read_record(path))
        except SchemaError as exc:
            if unreadable is None:
                raise
            unreadable.append(str(exc))
    return records
