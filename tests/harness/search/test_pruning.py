"""The pruning glue: the Lightning callback does what optuna-integration's does, on the
``pytorch_lightning`` namespace; the plain loop's check by hand; the Ignite handler as
published."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch

optuna = pytest.importorskip("optuna", reason="needs Optuna: pip install '.[search]'")
pytest.importorskip("optuna_integration",
                    reason="needs optuna-integration: pip install '.[search]'")

from optuna_integration.pytorch_lightning import PyTorchLightningPruningCallback

from harness.config import Paradigm
from harness.search.lightning_pruning import PruningCallback
from harness.search.pruning import extensions


class _Trial:
    def __init__(self, prune: bool):
        self.prune, self.reports = prune, []

    def report(self, value, step):
        self.reports.append((value, step))

    def should_prune(self):
        return self.prune


def _published(trial) -> PyTorchLightningPruningCallback:
    """optuna-integration's callback without its __init__, which refuses to build unless the
    ``lightning`` distribution is installed; its hook is what the harness's must match."""
    callback = object.__new__(PyTorchLightningPruningCallback)
    callback._trial, callback.monitor, callback.is_ddp_backend = trial, "val_loss", False
    return callback


def _run(callback, sanity: bool = False, metrics=None):
    trainer = SimpleNamespace(sanity_checking=sanity,
                              callback_metrics={"val_loss": torch.tensor(0.25)}
                              if metrics is None else metrics)
    module = SimpleNamespace(current_epoch=3)
    try:
        callback.on_validation_end(trainer, module)
    except optuna.TrialPruned as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("prune", [False, True])
def test_lightning_callback_reports_and_prunes_as_the_published_one(prune):
    ours, theirs = _Trial(prune), _Trial(prune)
    assert _run(PruningCallback(ours, "val_loss")) == _run(_published(theirs))
    assert ours.reports == theirs.reports == [(0.25, 3)]  # current_epoch, as a float


def test_lightning_callback_skips_the_sanity_check_and_warns_on_a_missing_metric():
    ours, theirs = _Trial(True), _Trial(True)
    assert _run(PruningCallback(ours, "val_loss"), sanity=True) is None
    assert _run(_published(theirs), sanity=True) is None
    with pytest.warns(UserWarning, match="not in the evaluation logs"):
        assert _run(PruningCallback(ours, "val_loss"), metrics={}) is None
    assert ours.reports == theirs.reports == []
    assert isinstance(PruningCallback(ours, "val_loss"), pl.Callback)


def test_each_paradigm_gets_its_own_integration_only():
    trial = _Trial(False)
    light, ignite, plain = (extensions(p, trial) for p in
                            (Paradigm.LIGHTNING, Paradigm.IGNITE, Paradigm.PLAIN))
    assert [type(c) for c in light.lightning_callbacks] == [PruningCallback]
    assert not (light.ignite_validation or light.plain_validation)
    assert len(ignite.ignite_validation) == 1 and not ignite.lightning_callbacks
    assert len(plain.plain_validation) == 1 and not plain.ignite_validation


def test_plain_loop_reports_at_the_optimizer_step_and_prunes_by_hand():
    trial = _Trial(True)
    (check,) = extensions(Paradigm.PLAIN, trial).plain_validation
    with pytest.raises(optuna.TrialPruned, match="step 32"):
        check(32, {"loss": 0.5, "accuracy": 0.9})
    assert trial.reports == [(0.5, 32)]


def test_ignite_handler_is_optuna_integrations_on_the_evaluator():
    pytest.importorskip("ignite", reason="needs pytorch-ignite")
    from ignite.engine import Engine, Events
    from optuna_integration.pytorch_ignite import PyTorchIgnitePruningHandler

    trainer, evaluator = Engine(lambda e, b: None), Engine(lambda e, b: None)
    (attach,) = extensions(Paradigm.IGNITE, _Trial(False)).ignite_validation
    attach(trainer, evaluator)
    handlers = [h for h, *_ in evaluator._event_handlers[Events.COMPLETED]]
    assert any(isinstance(h, PyTorchIgnitePruningHandler) for h in handlers)
