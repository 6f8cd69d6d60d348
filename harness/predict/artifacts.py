"""An exported artifact run without any framework: TorchScript, ONNX Runtime, ExportedProgram.

Before the clock: the model is put in eval mode and exported through torch's own calls (the
path a careful user takes: eval first), with the first batch as the example. With the clock:
the artifact is loaded as a service loads it (``harness.export.runtimes``) and run over the
batches under ``torch.inference_mode()``. ONNX Runtime is fed host arrays, so its batches are
not copied to the device first; the other two get device batches, as the plain loop does.
"""

from __future__ import annotations

from typing import Any

import torch

from harness.export import runtimes
from harness.export.cell import message
from harness.export.formats import FILE_NAMES, TORCH_CALLS, Format, onnx_missing
from harness.precision import UnsupportedConfig
from harness.predict.context import Prediction
from harness.training.data import to_device

FORMATS = {"torchscript": Format.TORCHSCRIPT, "onnxruntime": Format.ONNX,
           "exported-program": Format.EXPORTED_PROGRAM}


def export(p: Prediction, fmt: Format) -> Any:
    """The model in eval mode exported to ``fmt``; an exporter's refusal is ``unsupported``."""
    if fmt is Format.ONNX and (missing := onnx_missing()):
        raise UnsupportedConfig(missing)
    [call] = [c for c in TORCH_CALLS if c.format is fmt]
    folder = p.work_dir / "artifacts" / fmt.value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAMES[fmt]
    example = p.workload.model_input(to_device(next(iter(p.loader)), p.device))
    try:
        call.write(p.model.eval(), example, path)
    except Exception as exc:
        raise UnsupportedConfig(f"{fmt.value} export failed: {message(exc)}") from exc
    return path


def predict(p: Prediction) -> list[Any]:
    runtime = p.cfg.scenario.runtime
    assert runtime is not None, "an artifact predict cell names its runtime"
    fmt = FORMATS[runtime]
    path = export(p, fmt)
    batch_device = torch.device("cpu") if fmt is Format.ONNX else p.device
    probe = p.start_clock()
    run = runtimes.load(fmt, path, p.device, p.cfg.threads)
    outputs = []
    with torch.inference_mode():
        for batch in p.loader:
            outputs.append(run(p.workload.model_input(to_device(batch, batch_device))))
            probe.batch_end()
    return outputs
