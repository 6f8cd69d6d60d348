"""In the command's process, before any server starts: the model's weights saved for the
servers, each paradigm's artifacts exported, the request bodies and their reference outputs.

The model is the workload's, seeded and in eval mode, untrained: what a forward costs does not
depend on the weights' values (as in ``harness.predict``), and every server loads the same
weights file, so every path serves the same function. The artifacts are exported from each
paradigm's own object with ``harness.export``'s documented calls (Lightning's
``to_torchscript``/``to_onnx`` on its LightningModule, torch's calls for the other two), in eval
mode, at the request's number of rows. The references are the eager model's outputs in this
process for exactly the rows of each request body: a served answer must equal them bit for bit
(fp32 on the CPU), or, for ONNX Runtime's own kernels, within ``harness.export``'s tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from harness.config import Paradigm
from harness.discovery import import_requirements, resolve
from harness.export.cell import message
from harness.export.formats import (
    FILE_NAMES,
    LIGHTNING_CALLS,
    TORCH_CALLS,
    Format,
    onnx_missing,
    tolerance,
)
from harness.predict.data import prediction_loader
from harness.serve.protocol import InputSpec, request_body
from harness.serve.spec import ServePath, ServeSpec

ARTIFACT_FORMATS = {ServePath.TORCHSCRIPT: Format.TORCHSCRIPT,
                    ServePath.ONNXRUNTIME: Format.ONNX,
                    ServePath.EXPORTED_PROGRAM: Format.EXPORTED_PROGRAM}
BODIES = 64  # distinct request bodies, sent in turn


@dataclass
class Prepared:
    """What the servers and the generator are given."""

    input_spec: InputSpec
    bodies: list[bytes]
    references: list[list[float]]  # per body, the eager outputs flattened (fp32 values)
    weights: Path
    artifacts: dict[tuple[str, str], Path] = field(default_factory=dict)
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # why not exported

    def tolerance(self, path: str, device: str) -> float:
        """The largest |served - reference| that passes: 0 (bit for bit) for torch's own
        kernels on the CPU, ``harness.export``'s tolerance otherwise."""
        served = ServePath(path)
        if served is ServePath.ONNXRUNTIME or device != "cpu":
            return tolerance(device, ARTIFACT_FORMATS.get(served, Format.TORCHSCRIPT))
        return 0.0


def requests(spec: ServeSpec, workload: object, device: torch.device) -> list[Tensor]:
    """``BODIES`` requests of ``spec.rows`` rows each: the dataset in order."""
    loader = prediction_loader(workload.build_dataset(), spec.rows, BODIES)  # type: ignore[attr-defined]
    return [workload.model_input(batch).to(device) for batch in loader]  # type: ignore[attr-defined]


def export_all(spec: ServeSpec, model: nn.Module, example: Tensor, folder: Path
               ) -> tuple[dict[tuple[str, str], Path], dict[tuple[str, str], str]]:
    """Each paradigm's artifact of each artifact path it serves, or why it could not be made."""
    from harness.serve.lightning import ServedModule

    done, refused = {}, {}
    for target in spec.targets:
        path = ServePath(target.path)
        if path not in ARTIFACT_FORMATS:
            continue
        fmt = ARTIFACT_FORMATS[path]
        key = (target.paradigm, target.path)
        if fmt is Format.ONNX and (missing := onnx_missing()):
            refused[key] = missing
            continue
        lightning = target.paradigm == Paradigm.LIGHTNING.value
        calls = LIGHTNING_CALLS if lightning else TORCH_CALLS
        [call] = [c for c in calls if c.format is fmt]
        obj = ServedModule(model).eval() if lightning else model.eval()
        out = folder / "artifacts" / target.paradigm / fmt.value / FILE_NAMES[fmt]
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            call.write(obj, example, out)
        except Exception as exc:
            refused[key] = f"{call.text} failed: {message(exc)}"
            continue
        done[key] = out
    return done, refused


def prepare(spec: ServeSpec, folder: Path) -> Prepared:
    """Weights, artifacts, bodies and references for ``spec``, written under ``folder``."""
    cls = resolve(spec.workload)
    import_requirements(cls)
    workload = cls.from_size(spec.size)
    device = torch.device(spec.device)
    torch.manual_seed(spec.seed)
    model = workload.build_model().to(device).eval()
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "weights.pt"
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, weights)
    rows = requests(spec, workload, device)
    with torch.inference_mode():
        references = [model(x).float().cpu().reshape(-1).tolist() for x in rows]
    first = rows[0]
    input_spec = InputSpec(tuple(first.shape[1:]), str(first.dtype).removeprefix("torch."),
                           spec.max_rows, spec.max_body_bytes)
    artifacts, refused = export_all(spec, model, first, folder)
    return Prepared(input_spec, [request_body(x.cpu()) for x in rows], references, weights,
                    artifacts, refused)
