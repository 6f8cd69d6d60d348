"""Lightning: ``trainer.predict`` with a LightningModule whose ``predict_step`` calls the model.

``minimal`` is ``Trainer(barebones=True)``; ``defaults`` is the Trainer's defaults (for
prediction: the progress bar). ``trainer.predict`` puts the module in eval mode, runs under
``torch.inference_mode()`` (the Trainer's default) and returns every batch's prediction, moved
to the CPU after the ``on_predict_batch_end`` hooks; ``predict_step`` moves it first, so that
the copy falls inside the batch's timed span as in every other path. The
probe sits in the module's own ``on_predict_batch_end`` hook, as the training probe sits in
``on_train_batch_end``.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from torch import Tensor, nn

from harness.config import Profile
from harness.predict import context
from harness.predict.context import Prediction
from harness.predict.probe import BatchProbe
from harness.workload import Workload


class PredictModule(pl.LightningModule):
    def __init__(self, model: nn.Module, workload: Workload, probe: BatchProbe) -> None:
        super().__init__()
        self.model, self.workload, self.probe = model, workload, probe

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        # on the host before the probe's batch end, as every path (Lightning's own move of
        # the returned predictions to the CPU then finds them there)
        return context.to_host(self(self.workload.model_input(batch)))

    def on_predict_batch_end(self, *_: Any) -> None:
        self.probe.batch_end()


def predict(p: Prediction) -> list[Any]:
    probe = p.start_clock()
    module = PredictModule(p.model, p.workload, probe)
    mode: dict[str, Any] = {"barebones": True} if p.cfg.profile is Profile.MINIMAL else {}
    trainer = pl.Trainer(accelerator="gpu" if p.device.type == "cuda" else "cpu", devices=1,
                         use_distributed_sampler=False,
                         default_root_dir=str(p.work_dir / "lightning"), **mode)
    return trainer.predict(module, dataloaders=p.loader) or []
