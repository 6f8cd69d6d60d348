"""The Ignite adapter runs the same harness code on every release: ``Engine.run`` without
``max_iters`` (0.5.3 and older) ends a run exactly as a current one does."""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("ignite", reason="needs pytorch-ignite: pip install pytorch-ignite "
                    "(or from a wheel folder: docs, page gpu)")

from ignite.engine import Engine, Events

from harness.config import Paradigm
from harness.launch.worker import prepare, train
from tests.conftest import tiny_cell

WATCHED = (Events.ITERATION_COMPLETED, Events.EPOCH_COMPLETED, Events.TERMINATE,
           Events.COMPLETED)
REAL_RUN = Engine.run  # before any test replaces it


def _run_through_the_adapter(monkeypatch, old_release: bool, steps: int) -> dict:
    """Train tiny Linear through the Ignite adapter in this process; what the trainer had
    attached when its run started, the arguments of the run and the events that fired."""
    seen: dict = {"fired": Counter()}

    def record(engine: Engine, kwargs: dict) -> None:
        seen["kwargs"] = sorted(kwargs)
        seen["handlers"] = {e.name: len(engine._event_handlers[e]) for e in WATCHED}
        for event in WATCHED:
            engine.add_event_handler(event, lambda e, name=event.name: seen["fired"].update(
                [name]))

    def current(self, data=None, max_epochs=None, max_iters=None, epoch_length=None):
        kwargs = {k: v for k, v in (("max_epochs", max_epochs), ("max_iters", max_iters),
                                    ("epoch_length", epoch_length)) if v is not None}
        record(self, kwargs)
        return REAL_RUN(self, data, **kwargs)

    def old(self, data=None, max_epochs=None, epoch_length=None):  # Ignite 0.5.3's signature
        kwargs = {k: v for k, v in (("max_epochs", max_epochs), ("epoch_length", epoch_length))
                  if v is not None}
        record(self, kwargs)
        return REAL_RUN(self, data, **kwargs)

    monkeypatch.setattr(Engine, "run", old if old_release else current)
    # 256 samples / 16 = 16 iterations per epoch
    cfg = tiny_cell("linear", Paradigm.IGNITE, steps=steps - 2, warmup=2, window=1)
    prepared = prepare(cfg, rank=0, local_rank=0, world=1)
    train(prepared)
    seen["steps"] = prepared.ctx.probe.step
    return seen


@pytest.mark.parametrize("steps", [20, 32], ids=["mid-epoch", "epoch-end"])
def test_a_release_without_max_iters_runs_the_same_handlers_and_ends_the_same_way(
        monkeypatch, tmp_path, steps):
    monkeypatch.chdir(tmp_path)
    current = _run_through_the_adapter(monkeypatch, old_release=False, steps=steps)
    old = _run_through_the_adapter(monkeypatch, old_release=True, steps=steps)
    assert current["steps"] == old["steps"] == steps
    assert current["kwargs"] == old["kwargs"] == ["max_epochs"]
    assert current["handlers"] == old["handlers"]  # no extra handler on any release
    assert current["fired"] == old["fired"]
    assert current["fired"]["ITERATION_COMPLETED"] == steps
    # the epochs that completed, and a terminate only where the last step is mid-epoch
    assert current["fired"]["EPOCH_COMPLETED"] == steps // 16
    assert current["fired"]["TERMINATE"] == (1 if steps % 16 else 0)
