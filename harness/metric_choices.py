"""The settings of the ``metrics`` feature: which classification metrics, how F1 averages,
which library configuration, and how values meet across DDP ranks.

Each is an axis of its own because each moves the numbers (or the time) a user sees:

- ``Average``: torchmetrics' ``F1Score(task="multiclass")`` averages micro by default (equal to
  accuracy on single-label data), ``MulticlassF1Score`` and Ignite's ``Fbeta`` macro;
  ``default`` asks each library for its own default, the others name one;
- ``MetricStack``: ``defaults`` is each library as installed (torchmetrics checks its
  arguments on every update, Ignite keeps its state on the CPU); ``tuned`` turns the checks
  off and keeps Ignite's state on the model's device;
- ``MetricSync``: under DDP, ``state`` gathers the metric state before computing (torchmetrics'
  ``sync_on_compute``, what Ignite always does), ``sync_dist`` computes on each rank and
  averages the values (Lightning's ``self.log(..., sync_dist=True)``), ``off`` reports rank 0's
  own shard.
- ``MetricWhere``: on validation passes (an epoch-level value), on every training step (the
  batch's value, where a user logs it per step: Lightning's ``self.log(on_step=True)``,
  Ignite's metrics attached to the trainer per iteration, torchmetrics by hand), or both.
"""

from __future__ import annotations

from enum import Enum


class MetricName(str, Enum):
    """A classification metric the feature computes."""

    ACCURACY = "accuracy"
    F1 = "f1"  # under every averaging of ``metrics_average``
    PRECISION = "precision"  # per class
    RECALL = "recall"  # per class
    CONFUSION = "confusion"  # the confusion matrix, rows = targets


ALL_METRICS = "all"  # the command line's shorthand for every MetricName


class Average(str, Enum):
    """How F1 averages over classes."""

    MACRO = "macro"
    MICRO = "micro"
    WEIGHTED = "weighted"
    DEFAULT = "default"  # each library's own default (torchmetrics micro, Ignite macro)


class MetricStack(str, Enum):
    """The metric library as installed, or set up for speed."""

    DEFAULTS = "defaults"
    TUNED = "tuned"


class MetricSync(str, Enum):
    """How a metric's value meets across DDP ranks (nothing to meet at world size 1)."""

    STATE = "state"
    SYNC_DIST = "sync_dist"
    OFF = "off"


class MetricWhere(str, Enum):
    """Where the metrics are computed: validation passes, every training step, or both."""

    VALIDATION = "validation"
    TRAIN_STEP = "train-step"
    BOTH = "both"

    @property
    def on_validation(self) -> bool:
        return self is not MetricWhere.TRAIN_STEP

    @property
    def on_train_step(self) -> bool:
        return self is not MetricWhere.VALIDATION
