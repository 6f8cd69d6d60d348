"""Metric logs: the name the training loss is logged under, where each backend writes, and
readers that load the files back with each library's own reader (for the parity checks).

Every paradigm logs the training loss as ``train/loss`` under ``<cell folder>/logs``:
``tensorboard/`` (event files), ``csv/`` (a ``metrics.csv`` somewhere below), ``mlruns/`` (an
MLflow file store). MLflow 3 keeps its file store in maintenance mode and refuses it unless
``MLFLOW_ALLOW_FILE_STORE=true``; the harness opts in, so no database or server is needed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

METRIC = "train/loss"

# the module each backend needs; the csv one is pandas/Lightning/Ignite's own, always present
_MODULES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}


def missing_backends(backends: Iterable[str]) -> list[str]:
    """The backends whose library is not installed (``pip install .[loggers]`` adds them)."""
    return [b for b in backends
            if b in _MODULES and importlib.util.find_spec(_MODULES[b]) is None]


def mlflow_tracking_uri(folder: Path) -> str:
    """The file-store URI under ``folder`` (and the opt-in MLflow 3 requires for it)."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    return (folder / "mlruns").resolve().as_uri()


def read_tensorboard(folder: Path, tag: str = METRIC) -> list[tuple[int, float]]:
    """(step, value) of ``tag`` from every event file under ``folder/tensorboard``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: list[tuple[int, float]] = []
    for events in sorted((folder / "tensorboard").rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            out += [(e.step, e.value) for e in acc.Scalars(tag)]
    return sorted(out)


def read_csv(folder: Path, column: str = METRIC) -> list[tuple[int, float]]:
    """(step, value) of ``column`` from the ``metrics.csv`` under ``folder/csv`` (pandas)."""
    import pandas as pd

    out: list[tuple[int, float]] = []
    for path in sorted((folder / "csv").rglob("metrics.csv")):
        frame = pd.read_csv(path)
        if column in frame:
            rows = frame[["step", column]].dropna()
            out += [(int(s), float(v)) for s, v in rows.itertuples(index=False)]
    return sorted(out)


def read_mlflow(folder: Path, key: str = METRIC) -> list[tuple[int, float]]:
    """(step, value) of ``key`` from every run in the file store under ``folder/mlruns``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_tracking_uri(folder))
    out: list[tuple[int, float]] = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            out += [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
    return sorted(out)


READERS = {"tensorboard": read_tensorboard, "csv": read_csv, "mlflow": read_mlflow}
