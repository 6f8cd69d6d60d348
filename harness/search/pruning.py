"""Pruning, each paradigm's own way, wired in through ``RunContext.extensions``.

- Ignite: optuna-integration's ``PyTorchIgnitePruningHandler`` as published, on the
  validation evaluator's ``COMPLETED`` event (Optuna's example does the same). It reports
  ``evaluator.state.metrics["loss"]`` at ``trainer.state.epoch`` (1-based).
- Lightning: optuna-integration's ``PyTorchLightningPruningCallback`` imports the
  ``lightning.pytorch`` namespace, and a ``lightning`` Callback handed to a
  ``pytorch_lightning`` Trainer is refused; so the harness passes the callback's documented
  equivalent for the ``pytorch_lightning`` namespace (``lightning_pruning.py``), which
  reports ``trainer.callback_metrics["val_loss"]`` at ``current_epoch`` (0-based).
- Plain loop: by hand, as Optuna's own PyTorch example does: ``trial.report`` of the
  validation loss at the optimizer step, then ``should_prune``.

Each raises ``optuna.TrialPruned`` from inside the run; the objective lets it through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.config import Paradigm
from harness.search.spec import METRIC
from harness.training.context import Extensions


def extensions(paradigm: Paradigm, trial: Any) -> Extensions:
    """The pruning integration of ``paradigm`` for this trial."""
    if paradigm is Paradigm.LIGHTNING:
        from harness.search.lightning_pruning import PruningCallback

        return Extensions(lightning_callbacks=[PruningCallback(trial, monitor="val_" + METRIC)])
    if paradigm is Paradigm.IGNITE:
        return Extensions(ignite_validation=[_ignite_handler(trial)])
    return Extensions(plain_validation=[_by_hand(trial)])


def _ignite_handler(trial: Any) -> Callable[[Any, Any], None]:
    def attach(trainer: Any, evaluator: Any) -> None:
        from ignite.engine import Events
        from optuna_integration.pytorch_ignite import PyTorchIgnitePruningHandler

        evaluator.add_event_handler(Events.COMPLETED,
                                    PyTorchIgnitePruningHandler(trial, METRIC, trainer))

    return attach


def _by_hand(trial: Any) -> Callable[[int, dict[str, float]], None]:
    def check(step: int, metrics: dict[str, float]) -> None:
        import optuna

        trial.report(metrics[METRIC], step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"Trial was pruned at step {step}.")

    return check
