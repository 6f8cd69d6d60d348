"""In the server process: the function each path answers a request with (a tensor of rows in,
the model's outputs out), built from the server's configuration.

The model is the workload's, seeded, with the weights the command saved (``prepare``); each
path calls it the way its users do:

- plain ``model``: ``model.eval()``, then ``model(x)`` under ``torch.inference_mode()``;
- Ignite ``model``: an evaluator ``Engine`` from ``create_supervised_evaluator`` built once,
  ``engine.run([x])`` per request (its step puts the model in eval mode and runs under
  ``torch.no_grad()``), the output read from ``engine.state.output``;
- Lightning ``model`` and ``litserve``: the LightningModule put in eval mode and called under
  ``torch.no_grad()``, as Lightning's "deploy" documentation shows;
- an artifact: loaded as a service loads it (``harness.export.runtimes``) and called under
  ``torch.inference_mode()``; ONNX Runtime is fed host arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from harness.config import Paradigm
from harness.discovery import import_requirements, resolve
from harness.export import runtimes
from harness.serve.prepare import ARTIFACT_FORMATS
from harness.serve.spec import ServePath

Predictor = Callable[[Tensor], Tensor]


def load_model(config: dict[str, Any], device: torch.device) -> nn.Module:
    """The workload's model with the saved weights, on ``device``."""
    cls = resolve(config["workload"])
    import_requirements(cls)
    torch.manual_seed(config["seed"])
    model = cls.from_size(config["size"]).build_model()
    model.load_state_dict(torch.load(config["weights"], map_location="cpu", weights_only=True))
    return model.to(device)


def _plain(model: nn.Module, device: torch.device) -> Predictor:
    model.eval()

    def predict(x: Tensor) -> Tensor:
        with torch.inference_mode():
            return model(x.to(device))

    return predict


def _ignite(model: nn.Module, device: torch.device) -> Predictor:
    from ignite.engine import create_supervised_evaluator

    engine = create_supervised_evaluator(
        model, device=device, prepare_batch=lambda batch, device, non_blocking: (
            batch.to(device, non_blocking=non_blocking), None),
        output_transform=lambda x, y, y_pred: y_pred)

    def predict(x: Tensor) -> Tensor:
        engine.run([x])
        return engine.state.output  # type: ignore[return-value]

    return predict


def _lightning(model: nn.Module, device: torch.device) -> Predictor:
    from harness.serve.lightning import ServedModule

    module = ServedModule(model).to(device)
    module.eval()

    def predict(x: Tensor) -> Tensor:
        with torch.no_grad():
            return module(x.to(device))

    return predict


def _artifact(path: ServePath, file: str, device: torch.device, threads: int) -> Predictor:
    fmt = ARTIFACT_FORMATS[path]
    run = runtimes.load(fmt, Path(file), device, threads)
    host = fmt.value == "onnx"

    def predict(x: Tensor) -> Tensor:
        with torch.inference_mode():
            return runtimes.as_tensor(run(x if host else x.to(device)))

    return predict


def build(config: dict[str, Any]) -> Predictor:
    """The predictor of the server described by ``config`` (see ``sweep.server_config``)."""
    device = torch.device(config["device"])
    torch.set_num_threads(config["threads"])
    path = ServePath(config["path"])
    if path in ARTIFACT_FORMATS:
        return _artifact(path, config["artifact"], device, config["threads"])
    model = load_model(config, device)
    paradigm = Paradigm(config["paradigm"])
    if path is ServePath.LITSERVE or paradigm is Paradigm.LIGHTNING:
        return _lightning(model, device)
    if paradigm is Paradigm.IGNITE:
        return _ignite(model, device)
    return _plain(model, device)
