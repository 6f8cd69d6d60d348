"""Studies in a suite file: ``[[hpo]]`` tables, run after the suite's cells into
``<run>/hpo/`` (with their own page, ``hpo/hpo.html``, linked from the report).

Each table names one comparison; list-valued ``workload``, ``precision`` and ``workers``
expand as a product, and ``paradigm`` (default all three) gives one study each. The keys are
the cell settings of a ``[[matrix]]`` table (``size``, ``batch_size``, ``steps``, ``warmup``,
``window``, ``seed``, ``device``, ``threads``, ``data``, ``features``, ``timeout`` per study
process), where ``workers`` counts study processes and ``loader_workers`` the DataLoader's,
plus the study's own: ``trials`` (required), ``sampler``, ``sampler_seed``, ``pruner``,
``pruner_startup_trials``, ``pruner_warmup_steps``, ``val_every``, ``study_name``. The
suite's ``[defaults]`` do not apply (they carry repetition plans, which a study has no use
for). Example::

    [[hpo]]
    workload = "mlp"
    size = "tiny"
    trials = 12
    workers = [1, 2]
    steps = 60
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from harness.config import CellConfig, ConfigError, Paradigm
from harness.features import FeatureError, Features
from harness.search.spec import SpecError, StudySpec

STUDY_KEYS = {"trials": "trials", "sampler": "sampler", "sampler_seed": "sampler_seed",
              "pruner": "pruner", "pruner_startup_trials": "pruner_startup_trials",
              "pruner_warmup_steps": "pruner_warmup_steps", "study_name": "prefix"}
EXPANDED = ("workload", "precision", "workers", "paradigm")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def studies_from_tables(tables: list[dict[str, Any]], device: str | None = None
                        ) -> list[StudySpec]:
    """Every study the ``[[hpo]]`` tables ask for (storage left for the runner to fill)."""
    from harness.discovery import default_batch_size

    out: list[StudySpec] = []
    for i, table in enumerate(tables):
        entry = {"paradigm": [p.value for p in Paradigm.frameworks()], "workers": 1,
                 "precision": "fp32", **table}
        if device:
            entry["device"] = device
        try:
            if "trials" not in entry or "workload" not in entry:
                raise SpecError("workload and trials are required")
            study = {STUDY_KEYS[k]: entry.pop(k) for k in list(entry) if k in STUDY_KEYS}
            axes = {k: _as_list(entry.pop(k)) for k in EXPANDED}
            cell = _cell_settings(entry)
            for workload, precision, workers, paradigm in itertools.product(
                    *(axes[k] for k in EXPANDED)):
                settings = {**cell, "workload": workload, "precision": precision,
                            "paradigm": paradigm}
                if "batch_size" not in settings:
                    settings["batch_size"] = default_batch_size(
                        workload, settings.get("size", "default"))
                if settings.get("threads", "auto") == "auto":  # the cores, shared by workers
                    settings["threads"] = max(1, (os.cpu_count() or 1) // workers)
                out.append(StudySpec(CellConfig.from_dict(settings), workers=workers, **study))
        except (ConfigError, FeatureError, SpecError, LookupError, TypeError,
                ValueError) as exc:
            raise SpecError(f"[[hpo]] #{i + 1}: {exc}") from None
    return out


def _cell_settings(entry: dict[str, Any]) -> dict[str, Any]:
    """A table's cell settings: validation every ``val_every`` steps on top of its features,
    ``loader_workers`` as the DataLoader's workers, ``timeout`` per study process."""
    cell = dict(entry)
    features = dict(cell.pop("features", {}) or {})
    if "val_every" in cell:
        features["val_every"] = cell.pop("val_every")
    cell["features"] = Features.from_dict(features).to_dict()
    cell["workers"] = cell.pop("loader_workers", 0)
    cell["timeout_s"] = cell.pop("timeout", 3600.0)
    cell["phases"] = False  # a trial's time split has its own clock
    return cell
