"""Paradigm adapters: same-shaped modules, each with ``train(ctx) -> nn.Module``.

Each module imports its framework at the top, so importing the adapter *is* the framework
import, and the worker times it. ``load_adapter`` imports lazily for that reason.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.config import Paradigm
from harness.discovery import MissingLibrary

# the framework each paradigm imports: (its top module, its distribution)
FRAMEWORKS = {Paradigm.LIGHTNING: ("pytorch_lightning", "pytorch-lightning"),
              Paradigm.IGNITE: ("ignite", "pytorch-ignite")}

LOG_EVERY = 50  # the `defaults` profile logs every 50 steps: Lightning's log_every_n_steps default


def load_adapter(paradigm: Paradigm) -> ModuleType:
    """Import the adapter (and with it the framework) for ``paradigm``."""
    return import_paradigm_module(f"{__name__}.{paradigm.adapter}", paradigm)


def import_paradigm_module(name: str, paradigm: Paradigm) -> ModuleType:
    """Import ``name``, a module built on ``paradigm``'s framework; a framework that is not
    installed is MissingLibrary (the cell is ``unsupported``), with the install command."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        module, distribution = FRAMEWORKS.get(paradigm, ("", ""))
        if not module or (exc.name or "").partition(".")[0] != module:
            raise
        raise MissingLibrary(
            f"paradigm {paradigm.value!r} needs {distribution}, which is not installed: pip "
            f"install {distribution} (without a registry: its wheel in a folder, "
            f"python -m harness.install --find-links DIR)") from exc
