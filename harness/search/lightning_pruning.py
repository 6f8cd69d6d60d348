"""optuna-integration's Lightning pruning callback, for the ``pytorch_lightning`` namespace.

``optuna_integration.pytorch_lightning.PyTorchLightningPruningCallback`` (5.0.0) subclasses
``lightning.pytorch.Callback``: without the ``lightning`` distribution it cannot be built, and
with it a ``pytorch_lightning`` Trainer refuses it (the two namespaces are separate copies of
the same code). The harness measures ``pytorch_lightning`` everywhere, so rather than move the
whole adapter to the other namespace (which would change every Lightning figure, its import
time first), it uses the equivalent Optuna's maintainers point ``pytorch_lightning`` users to:
the same callback written against ``pytorch_lightning.Callback``. Same rules, single process:
skip the sanity check, read the monitored metric from ``trainer.callback_metrics``, report it
(``.item()``) at ``current_epoch``, prune by raising ``optuna.TrialPruned``.
``tests/harness/search/test_pruning.py`` runs the published callback's hook and this one on
the same trainer and holds them to the same calls.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
import pytorch_lightning as pl


class PruningCallback(pl.Callback):
    """Report the monitored validation metric to the trial after each validation; prune."""

    def __init__(self, trial: Any, monitor: str) -> None:
        super().__init__()
        self.trial, self.monitor = trial, monitor

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size > 1:  # the published callback's DDP path needs an RDB storage
            raise NotImplementedError("pruning a DDP trial is not supported here")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:  # Lightning calls this hook for its sanity check too
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None:
            warnings.warn(f"The metric '{self.monitor}' is not in the evaluation logs for "
                          "pruning. Please make sure you set the correct metric name.",
                          stacklevel=1)
            return
        epoch = pl_module.current_epoch
        self.trial.report(score.item(), step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"Trial was pruned at epoch {epoch}.")
