"""Run a matrix of cells: interleaved repetitions, resume, progress, Ctrl-C.

Repetitions are interleaved (rep 0 of every cell, then rep 1, ...; within a rep the paradigms
of one config follow each other), so slow drift of the machine hits every paradigm alike.
A run folder holds ``manifest.json`` and ``cells/<key>__r<rep>.json``; running into an existing
folder resumes it: records that are ``ok`` or ``unsupported`` are kept, everything else
(missing, error, oom, timeout, crashed, interrupted) is run again.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness.config import CellConfig
from harness.environment import capture_host
from harness.results import (
    SCHEMA_VERSION,
    SchemaError,
    Status,
    read_record,
    record_path,
    write_json_atomic,
)
from harness.runner import SINGLE_NODE, Launch, run_cell

FINAL_STATUSES = {Status.OK.value, Status.UNSUPPORTED.value}


Repetitions = int | Mapping[CellConfig, int]


def reps_of(repetitions: Repetitions, cell: CellConfig) -> int:
    return repetitions if isinstance(repetitions, int) else repetitions[cell]


def plan(cells: list[CellConfig], repetitions: Repetitions) -> list[tuple[CellConfig, int]]:
    """Every (cell, repetition), repetition-major so that repetitions interleave.

    ``repetitions`` is one count for all cells or a count per cell; a cell with more
    repetitions than the others keeps running in the later rounds alone.
    """
    rounds = max((reps_of(repetitions, c) for c in cells), default=0)
    return [(cell, rep) for rep in range(rounds) for cell in cells
            if rep < reps_of(repetitions, cell)]


def is_done(run_dir: Path, cell: CellConfig, rep: int, node_rank: int = 0) -> bool:
    path = record_path(run_dir, cell.key, rep, node_rank)
    if not path.exists():
        return False
    try:
        return read_record(path)["status"] in FINAL_STATUSES
    except SchemaError:
        return False


def _manifest(run_dir: Path, name: str, cells: Iterable[CellConfig], repetitions: Repetitions,
              environment: dict[str, Any], **extra: Any) -> None:
    cells = list(cells)
    counts = [reps_of(repetitions, c) for c in cells]
    write_json_atomic(run_dir / "manifest.json", {
        "schema_version": SCHEMA_VERSION,
        "suite": name,
        "repetitions": max(counts, default=0),
        "cells": [{**c.to_dict(), "repetitions": n} for c, n in zip(cells, counts)],
        "environment": environment,
        **extra,
    })


def execute(cells: list[CellConfig], run_dir: Path, repetitions: Repetitions,
            name: str = "adhoc",
            progress: bool = True, launch: Launch = SINGLE_NODE) -> dict[str, Any]:
    """Run what is not done yet; return a summary. Re-raises KeyboardInterrupt after saving."""
    run_dir.mkdir(parents=True, exist_ok=True)
    environment = capture_host()
    planned = plan(cells, repetitions)
    todo = [(c, r) for c, r in planned if not is_done(run_dir, c, r, launch.node_rank)]
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    _manifest(run_dir, name, cells, repetitions, environment, started_at=started, state="running")
    t0, walls, counts = time.perf_counter(), [], dict.fromkeys((s.value for s in Status), 0)
    state = "finished"
    bar = tqdm(todo, desc=name, unit="cell", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    try:
        for cell, rep in bar:
            bar.set_postfix_str(f"{cell.workload}/{cell.paradigm.value} r{rep}", refresh=False)
            record = run_cell(cell, run_dir, rep, environment, launch)
            counts[record["status"]] += 1
            walls.append(record["process_wall_s"])
            if record["status"] != Status.OK.value:
                bar.write(f"[{record['status']}] {cell.key} r{rep}: {record.get('message')}")
    except KeyboardInterrupt:
        state = "interrupted"
        counts[Status.INTERRUPTED.value] += 1
        raise
    finally:
        bar.close()
        summary = {
            "state": state,
            "ran": len(walls),
            "skipped_done": len(planned) - len(todo),
            "statuses": {k: v for k, v in counts.items() if v},
            "wall_s": time.perf_counter() - t0,
            "cell_process_wall_s": walls,
        }
        _manifest(run_dir, name, cells, repetitions, environment, started_at=started, **summary)
    return summary
