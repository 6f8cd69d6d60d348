"""The conveniences written by hand, as a careful engineer adds them to a plain loop.

Each piece is what Lightning and Ignite provide, with the same observable behaviour, so that
the three paradigms can be held against each other: the same validation metrics at the same
steps, early stopping on the same rule, checkpoints holding the same state, the same values in
the same metric logs. Nothing here is used by the other two adapters.
"""

from __future__ import annotations

import csv
import heapq
import math
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from harness.features import Features, LogBackend
from harness.training.data import to_device
from harness.training.features.checkpoints import plain_checkpoint_name
from harness.training.features.logs import METRIC, mlflow_tracking_uri
from harness.workload import Workload


def validate(workload: Workload, model: nn.Module, loader: DataLoader, device: torch.device,
             autocast: Any) -> dict[str, float]:
    """Mean of the workload's batch metrics over the validation set, under ``no_grad``."""
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    batches = 0
    with torch.no_grad():
        for batch in loader:
            with autocast():
                metrics = workload.evaluate(model, to_device(batch, device))
            for name, value in metrics.items():
                v = value.detach().double()  # accumulated on the device, read once
                sums[name] = sums[name] + v if name in sums else v
            batches += 1
    model.train(was_training)
    return {name: total.item() / batches for name, total in sums.items()}


class EarlyStopping:
    """Lightning's rule: an improvement lowers the best loss by more than ``min_delta``; stop
    after ``patience`` validations in a row without one (Ignite's with cumulative_delta)."""

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best, self.wait = math.inf, 0

    def should_stop(self, loss: float) -> bool:
        if loss < self.best - self.min_delta:
            self.best, self.wait = loss, 0
            return False
        self.wait += 1
        return self.wait >= self.patience


class Checkpointer:
    """``torch.save`` of everything a resume needs: every N steps, and the best k by val loss."""

    def __init__(self, folder: Path, features: Features) -> None:
        self.periodic, self.best = folder / "periodic", folder / "best"
        self.every, self.best_k = features.ckpt_every, features.ckpt_best_k
        self._kept: list[tuple[float, int, Path]] = []  # heap of (-loss, step, path)

    def after_step(self, step: int, state: dict[str, Any]) -> None:
        if self.every and step % self.every == 0:
            self.periodic.mkdir(parents=True, exist_ok=True)
            torch.save(state, self.periodic / plain_checkpoint_name(step))

    def after_validation(self, step: int, loss: float, state: dict[str, Any]) -> None:
        if not self.best_k:
            return
        if len(self._kept) == self.best_k and -self._kept[0][0] <= loss:
            return  # not better than the worst kept
        self.best.mkdir(parents=True, exist_ok=True)
        path = self.best / plain_checkpoint_name(step)
        torch.save(state, path)
        heapq.heappush(self._kept, (-loss, step, path))
        if len(self._kept) > self.best_k:
            _, _, worst = heapq.heappop(self._kept)
            worst.unlink(missing_ok=True)


class MetricLogs:
    """The training loss to TensorBoard, CSV and MLflow through the libraries themselves."""

    def __init__(self, folder: Path, backends: Iterable[LogBackend]) -> None:
        self.writers: list[Any] = []
        backends = set(backends)
        if LogBackend.TENSORBOARD in backends:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(folder / "tensorboard"))
        if LogBackend.CSV in backends:
            (folder / "csv").mkdir(parents=True, exist_ok=True)
            self.csv_file = open(folder / "csv" / "metrics.csv", "w", newline="")  # noqa: SIM115
            self.csv = csv.writer(self.csv_file)
            self.csv.writerow(["step", METRIC])
        if LogBackend.MLFLOW in backends:
            import mlflow

            mlflow.set_tracking_uri(mlflow_tracking_uri(folder))
            self.mlflow = mlflow
            mlflow.start_run()
        self.backends = backends

    def log(self, step: int, loss: torch.Tensor) -> None:
        value = loss.item()  # the one host sync logging needs
        if LogBackend.TENSORBOARD in self.backends:
            self.tb.add_scalar(METRIC, value, step)
        if LogBackend.CSV in self.backends:
            self.csv.writerow([step, repr(value)])
        if LogBackend.MLFLOW in self.backends:
            self.mlflow.log_metric(METRIC, value, step=step)

    def close(self) -> None:
        if LogBackend.TENSORBOARD in self.backends:
            self.tb.close()
        if LogBackend.CSV in self.backends:
            self.csv_file.close()
        if LogBackend.MLFLOW in self.backends:
            self.mlflow.end_run()


def progress(loader: DataLoader, epoch: int, enabled: bool) -> Iterator[Any] | DataLoader:
    """The loader, wrapped in a tqdm bar per epoch when the progress bar is on."""
    if not enabled:
        return loader
    from tqdm import tqdm

    return iter(tqdm(loader, desc=f"Epoch {epoch}", file=sys.stderr,
                     disable=os.environ.get("RANK", "0") != "0"))
