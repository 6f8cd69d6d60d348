"""Ignite: an evaluator ``Engine`` from ``create_supervised_evaluator``, whose step puts the
model in eval mode and runs it under ``torch.no_grad()`` (Ignite's choice, not inference
mode); its ``output_transform`` moves each batch's predictions to the host, and a handler on
``ITERATION_COMPLETED`` keeps them and calls the probe."""

from __future__ import annotations

from typing import Any

from ignite.engine import Engine, Events, create_supervised_evaluator
from ignite.utils import convert_tensor

from harness.predict import context
from harness.predict.context import Prediction


def predict(p: Prediction) -> list[Any]:
    probe = p.start_clock()
    outputs: list[Any] = []
    evaluator = create_supervised_evaluator(
        p.model, device=p.device, non_blocking=True,
        prepare_batch=lambda batch, device, non_blocking: (
            p.workload.model_input(convert_tensor(batch, device, non_blocking)), None),
        output_transform=lambda x, y, y_pred: context.to_host(y_pred),
    )

    @evaluator.on(Events.ITERATION_COMPLETED)
    def keep(engine: Engine) -> None:
        outputs.append(engine.state.output)
        probe.batch_end()

    evaluator.run(p.loader)
    return outputs
