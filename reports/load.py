"""A run folder read back into records, pandas frames and its manifest, gaps included."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analyse.analysis import cells_frame, plan_levels, records_frame, training_records
from harness.results import load_run


@dataclass
class Run:
    """A run folder read back: records, their frames and the manifest, with what was missing."""

    path: Path
    manifest: dict[str, Any]
    manifest_problem: str | None
    records: list[dict[str, Any]]
    unreadable: list[str]
    frame: pd.DataFrame  # records_frame plus the per-window step times (timing repetitions)
    cells: pd.DataFrame  # cells_frame: one row per (cell group, paradigm)
    untimed: int = 0  # successful records without a finite step time, left out of ``cells``
    profiled: pd.DataFrame | None = None  # profiling repetitions (attribution), kept apart

    @property
    def ok(self) -> pd.DataFrame:
        """Successful records that have a step time: the ones the statistics use."""
        if self.frame.empty:
            return self.frame
        timed = np.isfinite(self.frame["step_time_s"].astype(float))
        return self.frame[(self.frame["status"] == "ok") & timed]

    @property
    def environment(self) -> dict[str, Any]:
        env = self.manifest.get("environment")
        if not isinstance(env, dict):
            env = next((r["environment"] for r in self.records
                        if isinstance(r.get("environment"), dict)), {})
        return env


def _read_manifest(run_dir: Path) -> tuple[dict[str, Any], str | None]:
    path = run_dir / "manifest.json"
    if not path.exists():
        return {}, "No manifest.json: suite name, wall time and plan are unknown."
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {}, f"manifest.json is not readable ({exc}); it is ignored."
    if not isinstance(data, dict):
        return {}, "manifest.json holds no object; it is ignored."
    return data, None


def load(run_dir: Path) -> Run:
    """Read a run folder. Unreadable record files are reported, not fatal.

    A report of the rest, with the bad file named, is more use than no report.
    """
    unreadable: list[str] = []
    records = load_run(run_dir, unreadable)
    manifest, problem = _read_manifest(run_dir)
    training = training_records(records)
    frame = records_frame(training)
    if training:
        frame["window_step_s"] = pd.Series(
            [(r.get("measurements") or {}).get("window_step_s") for r in training],
            index=frame.index, dtype=object)
        # cells_frame leaves out successful records without a finite step time; name them.
        is_profile = frame["profiler"].astype(bool)
        profiled, frame = frame[is_profile], frame[~is_profile]
        untimed = frame["status"].eq("ok") & ~np.isfinite(frame["step_time_s"].astype(float))
        cells = cells_frame(frame, plan_levels(manifest))
    else:
        untimed, cells, profiled = pd.Series(dtype=bool), pd.DataFrame(), pd.DataFrame()
    return Run(run_dir, manifest, problem, records, unreadable, frame, cells, int(untimed.sum()),
               profiled)


