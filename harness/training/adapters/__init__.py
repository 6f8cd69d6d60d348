"""Paradigm adapters: same-shaped modules, each with ``train(ctx) -> nn.Module``.

Each module imports its framework at the top, so importing the adapter *is* the framework
import, and the worker times it. ``load_adapter`` imports lazily for that reason.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.config import Paradigm

LOG_EVERY = 50  # the `defaults` profile logs every 50 steps: Lightning's log_every_n_steps default


def load_adapter(paradigm: Paradigm) -> ModuleType:
    """Import the adapter (and with it the framework) for ``paradigm``."""
    return importlib.import_module(f"{__name__}.{paradigm.adapter}")
