"""The Ignite adapter on releases without ``Engine.run(max_iters=...)`` (0.5.3 and older)."""

from __future__ import annotations

from ignite.engine import Engine

from harness.training.adapters.ignite import _run


class OldEngine(Engine):
    """An Engine whose ``run`` has the signature of Ignite 0.5.3: no ``max_iters``."""

    def run(self, data, max_epochs=None, epoch_length=None):  # type: ignore[override]
        return super().run(data, max_epochs=max_epochs, epoch_length=epoch_length)


def test_an_engine_without_max_iters_stops_after_exactly_the_iterations():
    seen = []
    engine = OldEngine(lambda e, batch: seen.append(batch))
    _run(engine, list(range(4)), iterations=10)  # two and a half epochs
    assert engine.state.iteration == 10 and seen == [0, 1, 2, 3] * 2 + [0, 1]


def test_a_current_engine_uses_max_iters():
    engine = Engine(lambda e, batch: None)
    _run(engine, list(range(4)), iterations=6)
    assert engine.state.iteration == 6 and engine.state.max_iters == 6
