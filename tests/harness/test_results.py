"""Result files: atomic writes, schema versions."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import time

import pytest

from harness.results import SCHEMA_VERSION, SchemaError, read_record, write_json_atomic


def _write_forever(path, payload_size):
    i = 0
    while True:
        i += 1
        write_json_atomic(path, {"schema_version": SCHEMA_VERSION, "i": i,
                                 "blob": "x" * payload_size})


def test_killed_writer_never_leaves_a_corrupt_file(tmp_path):
    path = tmp_path / "cells" / "r.json"
    write_json_atomic(path, {"schema_version": SCHEMA_VERSION, "i": 0, "blob": ""})
    rng = random.Random(0)
    ctx = mp.get_context("fork")
    for _ in range(15):
        proc = ctx.Process(target=_write_forever, args=(path, 200_000))
        proc.start()
        time.sleep(rng.uniform(0.005, 0.08))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        record = read_record(path)  # whole old or whole new, never a part
        assert record["schema_version"] == SCHEMA_VERSION
        assert len(record["blob"]) in (0, 200_000)


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(SchemaError, match="newer than this harness reads"):
        read_record(path)


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    (tmp_path / "a.json").write_text('{"schema_version": 1, "trunc')
    (tmp_path / "b.json").write_text('{"hello": 1}')
    for name in ("a.json", "b.json"):
        with pytest.raises(SchemaError):
            read_record(tmp_path / name)


def test_current_version_reads_back(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"schema_version": SCHEMA_VERSION, "v": [1.5, float("nan")]})
    assert read_record(path)["v"][0] == 1.5


def test_version_1_records_get_the_mean_step_as_their_step_time(tmp_path):
    path = tmp_path / "old.json"
    write_json_atomic(path, {"schema_version": 1, "measurements": {
        "step_time_s": 0.010, "mean_step_s": 0.012, "items_per_step": 24,
        "flops_per_step": 1.2e9, "peak_flops": 1e12}})
    m = read_record(path)["measurements"]
    assert m["step_time_s"] == 0.012 and m["median_window_step_s"] == 0.010
    assert "mean_step_s" not in m
    assert m["items_per_s"] == pytest.approx(2000.0) and m["mfu"] == pytest.approx(0.1)
