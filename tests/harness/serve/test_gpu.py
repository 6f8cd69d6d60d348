"""The model on the GPU behind the same endpoint (thin: the CPU path with another device)."""

import pytest
import torch

from harness.serve import sweep
from harness.serve.prepare import prepare
from harness.serve.spec import ServeSpec, Target

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="needs a CUDA device")]


def test_the_plain_model_on_the_gpu_is_served_and_matches_within_tolerance(tmp_path):
    spec = ServeSpec("tabular", "tiny", paradigms=("plain",), paths=("model", "torchscript"),
                     rates=(20.0,), duration_s=0.8, warmup_s=0.1, warmup_requests=5,
                     repetitions=1, device="cuda")
    prepared = prepare(spec, tmp_path)
    for target in spec.targets:
        record = sweep.measure(spec, prepared, Target(target.paradigm, target.path), 0,
                               tmp_path, None, None)
        assert record["status"] == "ok", record
        assert record["parity"] in ("bitwise", "within tolerance")
