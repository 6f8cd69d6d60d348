"""Export and predict records -> tables: the comparison with the plain loop's artifact, and
the prediction overhead with its interval (records are made up: no processes)."""

from __future__ import annotations

import pytest

from harness.analyse.exports import export_frame, export_table
from harness.analyse.predictions import predict_frame, predict_table
from harness.results import SCHEMA_VERSION
from tests.conftest import tiny_cell


def artifact(outputs, mode="eval", fmt="onnx", stochastic=False):
    sha = "-".join(map(str, outputs))
    return {"source": "trained", "format": fmt, "call": "c", "status": "ok", "passed": True,
            "tolerance": 1e-5, "mode_at_export": "train", "export_s": 1.0, "size_bytes": 10,
            "warnings": [], "outputs_sha256": sha, "outputs": outputs,
            "behaviour": {"mode": mode, "batchnorm": "none", "dropout": "none",
                          "stochastic": stochastic, "max_diff_eval": 0.0}}


def export_record(paradigm, *entries, rep=0):
    cell = tiny_cell("mlp", paradigm, scenario="export")
    return {"schema_version": SCHEMA_VERSION, "key": cell.key, "repetition": rep,
            "config": cell.to_dict(), "status": "ok",
            "measurements": {"exports": list(entries), "sources": {}}}


@pytest.mark.parametrize("mine, verdict", [
    (artifact([1.0, 2.0]), "identical"),
    (artifact([1.0, 2.5]), "differs"),  # same mode, same weights: must not differ
    (artifact([1.0, 2.5], mode="train"), "other mode"),  # differs by design, shown in its cell
    (artifact([1.0, 2.5], stochastic=True), "random"),  # ONNX Runtime's own dropout
])
def test_artifacts_are_held_against_the_plain_loops(mine, verdict):
    records = [export_record("plain", artifact([1.0, 2.0])), export_record("ignite", mine)]
    table = export_table(export_frame(records)).set_index("paradigm")
    assert table.loc["plain", "vs_plain"] == "baseline"
    assert table.loc["ignite", "vs_plain"] == verdict
    if verdict == "differs":
        assert table.loc["ignite", "vs_plain_gap"] == pytest.approx(0.5)


def predict_record(paradigm, scenario, rep, step, first=(1.0,)):
    cell = tiny_cell("mlp", paradigm, scenario=scenario)
    return {"schema_version": SCHEMA_VERSION, "key": cell.key, "repetition": rep,
            "session": "s", "config": cell.to_dict(),
            "status": "ok", "measurements": {
                "step_time_s": step, "items_per_s": 16 / step, "item_name": "samples",
                "first_batch_s": 0.01, "memory": {"host_peak_rss_bytes": 1},
                "predictions": {"first_sha256": str(first), "first": list(first)}}}


def test_prediction_overhead_pairs_repetitions_and_has_an_interval_from_six():
    records = [predict_record("plain", "predict", r, 1e-3 + r * 1e-5) for r in range(6)]
    records += [predict_record("lightning", "predict", r, 1.5e-3 + r * 1e-5) for r in range(6)]
    records += [predict_record("plain", "predict-onnxruntime", r, 0.9e-3, first=(1.0 + 1e-7,))
                for r in range(6)]
    table = predict_table(predict_frame(records)).set_index("path")
    assert list(table.index) == ["plain", "lightning", "onnxruntime"]
    assert table.loc["lightning", "overhead_s"] == pytest.approx(5e-4)
    lo, hi = table.loc["lightning", "overhead_ci"]
    assert lo == pytest.approx(5e-4) and hi == pytest.approx(5e-4)
    assert table.loc["lightning", "overhead_method"] == "sign test"
    assert table.loc["lightning", "predictions"] == "identical"
    assert table.loc["onnxruntime", "predictions"] == "close"  # within ONNX's tolerance
    assert table.loc["onnxruntime", "overhead_frac"] < 0
