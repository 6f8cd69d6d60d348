"""Plain PyTorch: ``model.eval()`` and a ``torch.inference_mode()`` loop, each batch's
predictions moved to the host (``context.to_host``)."""

from __future__ import annotations

from typing import Any

import torch

from harness.predict import context
from harness.predict.context import Prediction
from harness.training.data import to_device


def predict(p: Prediction) -> list[Any]:
    probe = p.start_clock()
    model, outputs = p.model, []
    model.eval()
    with torch.inference_mode():
        for batch in p.loader:
            x = p.workload.model_input(to_device(batch, p.device))
            outputs.append(context.to_host(model(x)))
            probe.batch_end()
    return outputs
