"""Export and predict cells run inside the test process, recorded as the runner records them.

A cell process costs several seconds of start-up on a small machine; the export and predict
tests run one cell of each scenario through the runner (fresh process, the worker's dispatch)
and the rest here, through the same worker functions.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from harness.config import CellConfig
from harness.launch import worker
from harness.results import SCHEMA_VERSION, Status, record_path, write_json_atomic


@contextlib.contextmanager
def inside(folder: Path):
    """Run with ``folder`` as the working directory (the cell's work folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


def in_process(cfg: CellConfig, run_dir: Path, repetition: int = 0) -> dict[str, Any]:
    """``worker.after_training`` here, its result stored as a record in ``run_dir``."""
    with inside(run_dir / "work" / f"{cfg.key}__r{repetition}"):
        try:
            measurements: dict[str, Any] | None = worker.after_training(cfg, {})
            status, message = Status.OK, None
        except NotImplementedError as exc:
            measurements, status, message = None, Status.UNSUPPORTED, str(exc)
    record = {"schema_version": SCHEMA_VERSION, "key": cfg.key, "repetition": repetition,
              "config": cfg.to_dict(), "status": status.value, "message": message,
              "environment": {}, "warnings": []}
    if measurements is not None:
        record["warnings"] = measurements.pop("warnings", [])
        record["measurements"] = measurements
    write_json_atomic(record_path(run_dir, cfg.key, repetition), record)
    return record
