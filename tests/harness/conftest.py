"""Fixtures shared by the harness tests."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import harness.matrix.matrix as matrix
from harness.results import SCHEMA_VERSION, record_path, write_json_atomic


@pytest.fixture
def fake_runs(monkeypatch):
    """run_cell replaced: the plain loop takes 1 ms, Lightning 1.2 ms; noise per group."""
    calls = []

    def fake_run_cell(cell, run_dir, rep, environment, launch=None, tags=None):
        calls.append((cell.key, rep))
        noise = 1e-6 if cell.batch_size == 8 else 1e-4  # batch 8: 0.1% noise, batch 64: 10%
        rng = np.random.default_rng(zlib.crc32(f"{cell.key}:{rep}".encode()))
        step = (1.2e-3 if cell.paradigm.value == "lightning" else 1e-3) + rng.normal(0, noise)
        record = {"schema_version": SCHEMA_VERSION, "key": cell.key, "repetition": rep,
                  "config": cell.to_dict(), "status": "ok", "process_wall_s": 1.0,
                  "measurements": {"step_time_s": step}, **(tags or {})}
        write_json_atomic(record_path(run_dir, cell.key, rep), record)
        return record

    monkeypatch.setattr(matrix, "run_cell", fake_run_cell)
    return calls
