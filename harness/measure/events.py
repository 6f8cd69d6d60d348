"""What the features did during a run, as each paradigm reports it to the probe.

Validation results, the step at which early stopping ended training, checkpoints on disk and
where the data passes began: the evidence that the three paradigms *behaved* the same, kept
beside the timings of the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FeatureEvents:
    validations: list[dict[str, float]] = field(default_factory=list)  # {"step": s, metric: v}
    stopped_at: int | None = None  # the optimizer step after which early stopping ended it
    checkpoints: list[dict[str, Any]] = field(default_factory=list)  # files on disk at the end
    # (epoch, first sample position, optimizer steps done) of every pass over the data
    data_passes: list[tuple[int, int, int]] = field(default_factory=list)
    batches_per_epoch: int | None = None  # of this rank's training loader
    first_step: int = 0  # the global step this process started from (a resume's checkpoint)
    log_dir: str | None = None  # where the metric loggers wrote
    # the metrics feature: the last validation's values as the paradigm reported them, the
    # step of that validation, the metric calls' costs (``MetricCosts``), and the
    # (index, pred, target, rank) rows of the trained model on every rank's padded shard
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_step: int | None = None
    metric_costs: dict[str, Any] | None = None
    metric_predictions: dict[str, list[int]] | None = None
    # metrics on training steps: the values the paradigm reported for its last training batch
    # (rank 0's), the step, and that batch's (pred, target) rows
    step_metrics: dict[str, float] = field(default_factory=dict)
    step_metrics_step: int | None = None
    step_predictions: dict[str, list[int]] | None = None

    def validated(self, step: int, metrics: dict[str, float]) -> None:
        self.validations.append({"step": step, **{k: float(v) for k, v in metrics.items()}})

    def scored(self, step: int, values: dict[str, float]) -> None:
        """The metrics feature's values after the validation at ``step`` (the last one kept)."""
        self.metrics, self.metrics_step = dict(values), step

    def step_scored(self, step: int, values: dict[str, float]) -> None:
        """The metrics feature's values on the last training batch, at optimizer step ``step``."""
        self.step_metrics, self.step_metrics_step = dict(values), step


def checkpoint_files(folder: Path) -> list[dict[str, Any]]:
    """Every file under ``folder`` (recursively) with its size, by relative path."""
    if not folder.is_dir():
        return []
    return [{"file": str(p.relative_to(folder)), "bytes": p.stat().st_size}
            for p in sorted(folder.rglob("*")) if p.is_file()]
