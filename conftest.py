"""pytest-benchmark's benchmarks run once, unmeasured, unless ``--benchmark-enable`` asks.

Not in pyproject's ``addopts``: without the plugin (a GPU host's pytest may lack it), pytest
would refuse ``--benchmark-disable`` as an unknown option and collect nothing (exit 4).
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)  # before the plugin's own pytest_configure reads the option
def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("benchmark"):
        config.option.benchmark_disable = True  # --benchmark-enable still wins over it
