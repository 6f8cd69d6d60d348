"""The export formats, each paradigm's documented call for each, and how close is close enough.

Lightning has its own export API on the LightningModule: ``to_torchscript`` (``method="script"``
by default, or ``"trace"``) and ``to_onnx``; ``torch.export`` has no Lightning wrapper, and
Lightning's deprecation message for ``to_torchscript`` points users to it. Ignite documents no
export API, so an Ignite user (like a plain-loop user) calls torch's: ``torch.jit.script``,
``torch.jit.trace``, ``torch.onnx.export`` with the current exporter (``dynamo=True``, torch's
default since 2.9) and ``torch.export.export``. Each call is made as a user makes it on the
object they hold: nothing here calls ``eval()`` first, because whether the documented path
does is one of the things the scenario measures.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


class Format(str, Enum):
    """An artifact format, in the order an export cell writes them."""

    TORCHSCRIPT = "torchscript"  # scripted
    TORCHSCRIPT_TRACE = "torchscript-trace"
    EXPORTED_PROGRAM = "exported-program"  # torch.export, saved with torch.export.save
    ONNX = "onnx"


class Source(str, Enum):
    """What an artifact is exported from."""

    TRAINED = "trained"  # the object training left, in the mode the framework left it in
    CHECKPOINT = "checkpoint"  # the paradigm's checkpoint loaded into the workload's nn.Module,
    # then eval(), as PyTorch's saving-and-loading tutorial tells a user to do before inference


FILE_NAMES = {Format.TORCHSCRIPT: "model.pt", Format.TORCHSCRIPT_TRACE: "model.pt",
              Format.EXPORTED_PROGRAM: "model.pt2", Format.ONNX: "model.onnx"}

# Largest |artifact - eager model in eval mode|, relative to max(1, max |eager|), that passes.
# TorchScript and an ExportedProgram run torch's own kernels on the same device; ONNX Runtime
# runs its own (fused Gemm, BatchNorm folded into the matmul), so it rounds differently. On a GPU
# TorchScript may fuse pointwise kernels. The same artifact from two paradigms with identical
# weights must match bit for bit whatever the format (checked in ``harness.analyse.exports``).
TOLERANCE: dict[tuple[str, Format], float] = {
    ("cpu", Format.TORCHSCRIPT): 1e-6,
    ("cpu", Format.TORCHSCRIPT_TRACE): 1e-6,
    ("cpu", Format.EXPORTED_PROGRAM): 1e-6,
    ("cpu", Format.ONNX): 1e-5,
    ("cuda", Format.TORCHSCRIPT): 1e-5,
    ("cuda", Format.TORCHSCRIPT_TRACE): 1e-5,
    ("cuda", Format.EXPORTED_PROGRAM): 1e-5,
    ("cuda", Format.ONNX): 1e-4,
}

INSTALL = "pip install 'paradigm-bench[export]'"
ONNX_MODULES = ("onnx", "onnxscript", "onnxruntime")  # export, its translator, the runtime


def onnx_missing() -> str | None:
    """Why ONNX cannot be exported or run here (with the install command), or None."""
    missing = []
    for name in ONNX_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if not missing:
        return None
    return f"ONNX export needs {', '.join(missing)}, which is not installed: {INSTALL}"


@dataclass(frozen=True)
class ExportCall:
    """One documented export call: its format, how the report names it, and the call itself
    (``write(obj, example, path)`` exports ``obj`` and saves the artifact at ``path``)."""

    format: Format
    text: str
    write: Callable[[Any, Tensor, Path], None]


def _script(model: nn.Module, example: Tensor, path: Path) -> None:
    torch.jit.save(torch.jit.script(model), str(path))


def _trace(model: nn.Module, example: Tensor, path: Path) -> None:
    torch.jit.save(torch.jit.trace(model, (example,)), str(path))


def _exported(model: nn.Module, example: Tensor, path: Path) -> None:
    torch.export.save(torch.export.export(model, (example,)), str(path))


def _onnx(model: nn.Module, example: Tensor, path: Path) -> None:
    torch.onnx.export(model, (example,), str(path), dynamo=True)


def _lightning_script(module: Any, example: Tensor, path: Path) -> None:
    module.to_torchscript(file_path=str(path))


def _lightning_trace(module: Any, example: Tensor, path: Path) -> None:
    module.to_torchscript(file_path=str(path), method="trace", example_inputs=example)


def _lightning_onnx(module: Any, example: Tensor, path: Path) -> None:
    module.to_onnx(str(path), example)


EXPORTED = ExportCall(Format.EXPORTED_PROGRAM,
                      "torch.export.save(torch.export.export(model, (x,)), path)", _exported)
TORCH_CALLS = (
    ExportCall(Format.TORCHSCRIPT, "torch.jit.save(torch.jit.script(model), path)", _script),
    ExportCall(Format.TORCHSCRIPT_TRACE, "torch.jit.save(torch.jit.trace(model, (x,)), path)",
               _trace),
    EXPORTED,
    ExportCall(Format.ONNX, "torch.onnx.export(model, (x,), path, dynamo=True)", _onnx),
)
LIGHTNING_CALLS = (
    ExportCall(Format.TORCHSCRIPT, "module.to_torchscript(file_path=path)", _lightning_script),
    ExportCall(Format.TORCHSCRIPT_TRACE,
               "module.to_torchscript(file_path=path, method='trace', example_inputs=x)",
               _lightning_trace),
    ExportCall(Format.EXPORTED_PROGRAM,
               "torch.export.save(torch.export.export(module, (x,)), path)", _exported),
    ExportCall(Format.ONNX, "module.to_onnx(path, x)", _lightning_onnx),
)


def tolerance(device: torch.device | str, fmt: Format) -> float:
    kind = torch.device(device).type
    return TOLERANCE.get((kind, fmt), TOLERANCE[("cuda", fmt)])
