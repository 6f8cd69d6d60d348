"""Shared fixtures: tiny cell configs and a helper that runs cells in fresh processes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from harness.config import CellConfig, Paradigm

FIXTURES = Path(__file__).parent / "fixtures"
PARADIGMS = Paradigm.frameworks()


def tiny_cell(workload: str, paradigm: Paradigm | str = Paradigm.PLAIN, **overrides) -> CellConfig:
    """A cell small enough for a CPU test: tiny size, a few steps, one thread."""
    settings = dict(workload=workload, paradigm=Paradigm(paradigm), size="tiny", batch_size=16,
                    steps=12, warmup=2, window=4, threads=1, timeout_s=120)
    settings.update(overrides)
    return CellConfig.from_dict({k: getattr(v, "value", v) for k, v in settings.items()})


@pytest.fixture(autouse=True, scope="session")
def _own_cost_cache(tmp_path_factory):
    """The runs tests start record their costs in a cache of the session's own, never in the
    user's (``harness.plan.costs``); cell processes and CLI subprocesses inherit it."""
    import os

    from harness.plan.costs import CACHE_ENV

    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("costs") / "costs.json")
    yield
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


@pytest.fixture(autouse=True, scope="session")
def _one_environment_for_the_fork_servers():
    """A fork server serves only cells whose environment it was started with
    (``harness.launch.process``), and pytest names the running test and its phase in
    ``PYTEST_CURRENT_TEST``: left in, every test's set-up and call would start fork servers of
    their own (torch's import, and a warm one's framework import, again and again). The
    cells' environment leaves it out, so the session's servers serve every test as a run's
    serve every cell; no framework reads it."""
    from harness.launch import runner

    own = runner.child_env

    def child_env(cfg: CellConfig, cache: Path | None = None) -> dict[str, str]:
        env = own(cfg, cache)
        env.pop("PYTEST_CURRENT_TEST", None)
        return env

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "child_env", child_env)
        yield


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        # the marker, not ``"gpu" in item.keywords``: keywords hold every parent folder's name,
        # so a checkout in a folder named "gpu" would skip every test
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


class SharedCells:
    """Cell records run once per test session, whatever module asks: a test that only reads
    a cell's record (and the files it kept) need not pay for its own process. Each caller
    gets its own copy of the record; the cell's work folder is kept and shared, read-only.

    Cells start warm by default: forked from the server that has imported their paradigm,
    as a run's steady-state repetitions are, so that each does not pay the framework's import
    again (Lightning's: 5-20 s on a 2-core VM). They train and measure what a cold cell does
    (tests/harness/launch/test_warm_start.py proves it); a test that reads the start-up
    figures asks for ``warm=False``. A world size above one is always spawned (torchrun)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._records: dict[tuple[CellConfig, bool], dict[str, Any]] = {}

    def run(self, cfg: CellConfig, warm: bool = True) -> dict[str, Any]:
        from harness.launch.runner import run_cell

        if (cfg, warm) not in self._records:
            # the repetition number keeps a cold and a warm record of one cell apart
            self._records[cfg, warm] = run_cell(cfg, self.run_dir, int(warm), {},
                                                keep_files=True, warm=warm)
        return copy.deepcopy(self._records[cfg, warm])


@pytest.fixture(scope="session")
def shared_cells(tmp_path_factory) -> SharedCells:
    return SharedCells(tmp_path_factory.mktemp("shared-cells"))


# pytest-benchmark's benchmarks run once, unmeasured, unless ``--benchmark-enable`` asks. Not in
# pyproject's ``addopts``: without the plugin (a GPU host's pytest may lack it), pytest would
# refuse ``--benchmark-disable`` as an unknown option and collect nothing (exit 4). This
# conftest is an initial one (testpaths), so the hook runs before the plugin reads the option.


@pytest.hookimpl(tryfirst=True)  # before the plugin's own pytest_configure reads the option
def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("benchmark"):
        config.option.benchmark_disable = True  # --benchmark-enable still wins over it
