"""Batch prediction through each paradigm and through each exported artifact.

One module-scoped set of cells, run in this process through the worker's own function
(``worker.after_training``; tests/harness/export runs an export cell through the runner, which
takes the same path to it in a fresh process).
"""

from __future__ import annotations

import math
import sys

import pytest
import torch

from harness.analyse.predictions import predict_frame, predict_table
from harness.analyse.stopping import group_of, member_of
from harness.config import ConfigError, Scenario
from tests.conftest import tiny_cell
from tests.harness.scenarios import in_process

SETTINGS = dict(steps=6, warmup=2, window=2, batch_size=16)
PATHS = {"plain": ("plain", "predict"), "lightning": ("lightning", "predict"),
         "ignite": ("ignite", "predict"),
         "torchscript": ("plain", "predict-torchscript"),
         "onnxruntime": ("plain", "predict-onnxruntime"),
         "exported-program": ("plain", "predict-exported-program")}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("predict")
    out = {}
    for path, (paradigm, scenario) in PATHS.items():
        out[path] = in_process(tiny_cell("tabular", paradigm, scenario=scenario, **SETTINGS),
                               run_dir)
    for path, record in out.items():
        assert record["status"] == "ok", (path, record.get("message"),
                                          record.get("traceback_tail"))
    return out


def test_every_path_predicts_every_batch_and_is_timed(records):
    for path, record in records.items():
        m = record["measurements"]
        assert m["path"] == path and m["predictions"]["batches"] == 8
        assert len(m["window_step_s"]) == 3 and all(w > 0 for w in m["window_step_s"])
        assert m["step_time_s"] > 0 and math.isclose(m["items_per_s"], 16 / m["step_time_s"])
        assert m["first_batch_s"] > 0 and m["memory"]["host_peak_rss_bytes"] > 0
        assert m["startup"]["import_torch_s"] > 0


def test_the_paths_predict_the_same(records):
    table = predict_table(predict_frame(list(records.values()))).set_index("path")
    for path in ("lightning", "ignite", "torchscript", "exported-program"):
        assert table.loc[path, "predictions"] == "identical", path  # torch's kernels, eval mode
    assert table.loc["onnxruntime", "predictions"] in ("identical", "close")
    assert table.loc["plain", "predictions"] == "baseline"
    # one repetition: an overhead, and no interval for it
    assert table.loc["lightning", "overhead_method"] == "n too small"
    assert not math.isnan(table.loc["lightning", "overhead_s"])


def test_without_onnxruntime_the_cell_is_unsupported_with_the_install_command(
        monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    cell = tiny_cell("tabular", "plain", scenario="predict-onnxruntime", **SETTINGS)
    record = in_process(cell, tmp_path)
    assert record["status"] == "unsupported"
    assert "pip install 'paradigm-bench[export]'" in record["message"]


def test_prediction_paths_form_one_cell_group_and_artifacts_run_without_a_framework():
    cells = [tiny_cell("tabular", p, scenario=s) for p, s in PATHS.values()]
    assert len({group_of(c) for c in cells}) == 1
    assert [member_of(c) for c in cells] == list(PATHS)
    assert group_of(tiny_cell("tabular", "plain")) != group_of(cells[0])
    with pytest.raises(ConfigError, match="without any framework: paradigm must be 'plain'"):
        tiny_cell("tabular", "lightning", scenario=Scenario.PREDICT_ONNXRUNTIME.value)


@pytest.mark.gpu
def test_onnxruntime_runs_on_the_cuda_provider(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDAExecutionProvider here (onnxruntime-gpu)")
    from harness.export import runtimes
    from harness.export.formats import Format

    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 3)).cuda().eval()
    x = torch.randn(32, 8, device="cuda")
    torch.onnx.export(model, (x,), str(tmp_path / "m.onnx"), dynamo=True)
    session = runtimes.onnx_session(tmp_path / "m.onnx", torch.device("cuda", 0), threads=1)
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    run = runtimes.load(Format.ONNX, tmp_path / "m.onnx", torch.device("cuda", 0), threads=1)
    with torch.inference_mode():
        expected = model(x).cpu()
    assert torch.allclose(runtimes.as_tensor(run(x)), expected, atol=1e-4, rtol=0)
    from tests.harness.gpu_cells import predict_cell

    record = in_process(predict_cell(), tmp_path / "run")
    assert record["status"] == "ok", record.get("message")
    assert record["measurements"]["memory"]["cuda_max_allocated_bytes"] is not None
