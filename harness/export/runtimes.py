"""An artifact loaded the way a service loads it, and run on a batch.

- TorchScript: ``torch.jit.load(path, map_location=device)``, called as loaded (a module saved
  in training mode stays in training mode);
- ExportedProgram: ``torch.export.load(path).module()`` (it runs where it was exported; its
  ``eval()`` raises ``NotImplementedError`` in torch 2.13, so what it carries is what runs);
- ONNX: an ONNX Runtime ``InferenceSession`` with its default graph optimisations, the
  ``CUDAExecutionProvider`` for a CUDA device (TF32 off, as the harness's fp32 means IEEE fp32)
  and the ``CPUExecutionProvider`` otherwise, and as many intra-op threads as torch gets. It
  is fed host numpy arrays, the simplest call ONNX Runtime documents.

``harness.predict`` times these same runners; export cells check them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from harness.export.formats import Format, onnx_missing
from harness.precision import UnsupportedConfig

Runner = Callable[[Tensor], Any]  # a batch in, the artifact's output out


class OnnxRunner:
    """An ONNX Runtime session called like a module: a tensor in, a numpy array out."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, x: Tensor) -> Any:
        return self.session.run(None, {self.input_name: x.detach().cpu().numpy()})[0]


def onnx_session(path: Path, device: torch.device, threads: int, optimise: bool = True) -> Any:
    """An ``InferenceSession`` on ``device``; ``optimise=False`` turns ONNX Runtime's graph
    optimisations off (to show what the graph itself says, optimisations aside)."""
    missing = onnx_missing()
    if missing:
        raise UnsupportedConfig(missing)
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not optimise:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    providers: list[Any] = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise UnsupportedConfig(
                f"onnxruntime {ort.__version__} has no CUDAExecutionProvider here (only "
                f"{', '.join(ort.get_available_providers())}): install the GPU build "
                "(pip install onnxruntime-gpu) to run ONNX on a CUDA device")
        providers.insert(0, ("CUDAExecutionProvider",
                             {"device_id": device.index or 0, "use_tf32": 0}))
    session = ort.InferenceSession(str(path), options, providers=providers)
    if device.type == "cuda" and session.get_providers()[0] != "CUDAExecutionProvider":
        raise UnsupportedConfig(f"onnxruntime fell back to {session.get_providers()} for a "
                                "CUDA cell (is CUDA/cuDNN for onnxruntime-gpu installed?)")
    return session


def load(fmt: Format, path: Path, device: torch.device, threads: int,
         optimise: bool = True) -> Runner:
    """The artifact at ``path`` ready to run on ``device``."""
    if fmt in (Format.TORCHSCRIPT, Format.TORCHSCRIPT_TRACE):
        return torch.jit.load(str(path), map_location=device)
    if fmt is Format.EXPORTED_PROGRAM:
        return torch.export.load(str(path)).module()
    return OnnxRunner(onnx_session(path, device, threads, optimise))


def as_tensor(output: Any) -> Tensor:
    """A runner's output as a CPU tensor (ONNX Runtime returns numpy arrays)."""
    if isinstance(output, Tensor):
        return output.detach().cpu()
    return torch.from_numpy(output)

