"""The one interface a user implements: a training problem, written once.

A workload knows nothing about paradigms, devices, precision or distribution. The harness
builds it from a size preset and hands its parts to each paradigm adapter.

Example (a complete workload; save it as ``workloads/linear.py`` and it is found by name)::

    import torch
    from torch import nn
    from torch.utils.data import TensorDataset
    from harness.workload import Workload

    class Linear(Workload):
        name = "linear"
        sizes = {"tiny": dict(features=8, samples=256), "default": dict(features=32, samples=4096)}
        default_batch_size = 32

        def __init__(self, features: int = 32, samples: int = 4096) -> None:
            self.features, self.samples = features, samples

        def build_model(self) -> nn.Module:
            return nn.Linear(self.features, 2)

        def build_dataset(self):
            g = torch.Generator().manual_seed(0)
            x = torch.randn(self.samples, self.features, generator=g)
            return TensorDataset(x, (x.sum(1) > 0).long())

        def loss(self, model, batch):
            x, y = batch
            return nn.functional.cross_entropy(model(x), y)

        def build_optimizer(self, params):
            return torch.optim.SGD(params, lr=0.1)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

if TYPE_CHECKING:
    from harness.features import Features


class LossWithLogits(NamedTuple):
    """What one training forward gives a classifier: the scalar loss the step backpropagates,
    and the logits ``(N, classes)`` and integer targets ``(N,)`` it was computed from."""

    loss: Tensor
    logits: Tensor
    targets: Tensor


class Workload(ABC):
    """A model, its data, its loss and its optimizer; nothing about how it is trained.

    Subclasses set ``name`` and implement the four abstract methods. ``sizes`` maps a preset
    name to the keyword arguments of ``__init__``; ``tiny`` keeps CPU tests fast and
    ``default`` is the realistic size. A preset may also carry ``batch_size``: the
    per-process batch a cell of that size gets when it names none (a small preset's dataset
    may hold fewer samples than ``default_batch_size``); it is not passed to ``__init__``.
    """

    name: ClassVar[str]
    sizes: ClassVar[Mapping[str, Mapping[str, Any]]] = {"default": {}}
    default_batch_size: ClassVar[int] = 32
    item_name: ClassVar[str] = "samples"
    """What throughput counts: "samples", "images", or "tokens" for a language model."""
    requires: ClassVar[Mapping[str, str]] = {}
    """Libraries beyond torch the workload builds on: top-level import name -> what to pip
    install for it, e.g. ``{"torchvision": "paradigm-bench[vision]"}``. Write it as a literal
    in the class body (``harness list`` reads it without importing anything) and import the
    library inside the methods, not at module level, so that the other workloads are still
    found when it is missing. The harness imports it before the framework (no paradigm's
    start-up is charged for it); where it is missing the cell is ``unsupported``, with the
    install command."""
    classes: int = 0
    """How many classes a classifier tells apart (one that defines ``classify``); a class
    attribute or set in ``__init__`` per size."""

    @classmethod
    def from_size(cls, size: str) -> Workload:
        """Build the workload at a named size preset."""
        if size not in cls.sizes:
            raise ValueError(
                f"workload {cls.name!r} has no size {size!r}; valid: {', '.join(cls.sizes)}"
            )
        return cls(**{k: v for k, v in cls.sizes[size].items() if k != "batch_size"})

    @classmethod
    def batch_size_for(cls, size: str) -> int:
        """The per-process batch size of a cell of this size that names none: the preset's
        ``batch_size``, else ``default_batch_size``."""
        return int(cls.sizes.get(size, {}).get("batch_size", cls.default_batch_size))

    def train_samples(self) -> int | None:
        """How many samples the training dataset holds, known without building it, so that a
        batch larger than it is refused before anything runs; None where unknown (then the
        cell finds out when it builds its loader). Default: a ``samples`` attribute, which
        every built-in workload has."""
        samples = getattr(self, "samples", None)
        return samples if isinstance(samples, int) else None

    @abstractmethod
    def build_model(self) -> nn.Module:
        """Return a freshly initialised model; the harness seeds torch just before calling."""

    @abstractmethod
    def build_dataset(self) -> Dataset:
        """Return a deterministic map-style training dataset (same items on every call)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> Tensor:
        """Run the forward pass on ``batch`` (already on the device) and return a scalar loss."""

    @abstractmethod
    def build_optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """Return the optimizer for ``params``."""

    # ---- optional, with defaults
    def build_val_dataset(self) -> Dataset | None:
        """Return a deterministic validation dataset, or None when the workload has none
        (cells with validation are then recorded ``unsupported``)."""
        return None

    def evaluate(self, model: nn.Module, batch: Any) -> Mapping[str, Tensor]:
        """Validation metrics of one batch, each a scalar batch mean; ``loss`` is required.

        Called under ``torch.no_grad()`` (or inference mode) with the model in eval mode.
        Default: cross-entropy and accuracy of ``classify`` for a classifier, the training
        loss otherwise; any other name is the workload's own.
        """
        if self.is_classifier():
            return classification_metrics(*self.classify(model, batch))
        return {"loss": self.loss(model, batch)}

    def classify(self, model: nn.Module, batch: Any) -> tuple[Tensor, Tensor]:
        """Logits ``(N, classes)`` and integer targets ``(N,)`` of one batch (on the device,
        under ``no_grad``, in eval mode): what the ``metrics`` feature scores. A classifier
        defines it and ``classes``; without it the workload is not one, and its cells with
        metrics are refused."""
        raise NotImplementedError(f"workload {self.name!r} is not a classifier: it defines no "
                                  "classify(model, batch)")

    def loss_with_logits(self, model: nn.Module, batch: Any) -> LossWithLogits:
        """The training loss of ``batch`` with the logits and targets behind it, from one
        forward pass (in training mode, inside autocast, with gradients): what the ``metrics``
        feature scores on every training step (``metrics_where=train-step`` or ``both``).

        Optional. Define it so that its ``loss`` is exactly what ``loss`` returns (the simplest
        way: ``loss`` returns ``self.loss_with_logits(model, batch).loss``); the harness calls
        it instead of ``loss`` only in cells that score training steps, so those cells train
        the same weights. Without it, such cells are refused."""
        raise NotImplementedError(f"workload {self.name!r} defines no "
                                  "loss_with_logits(model, batch)")

    @classmethod
    def scores_training_steps(cls) -> bool:
        """Whether the workload defines ``loss_with_logits`` (known without building it)."""
        return cls.loss_with_logits is not Workload.loss_with_logits

    @classmethod
    def is_classifier(cls) -> bool:
        """Whether the workload defines ``classify`` (known without building it)."""
        return cls.classify is not Workload.classify

    def build_scheduler(
        self, optimizer: torch.optim.Optimizer, total_steps: int
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """The LR scheduler for cells with ``scheduler`` on, stepped after every optimizer
        step; ``total_steps`` counts those steps. Default: cosine annealing over the run."""
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)

    def search_space(self, trial: Any) -> Mapping[str, Any] | None:
        """Hyper-parameters for a search (``python -m harness hpo``), or None for the default.

        Called on a fresh instance before the model and optimizer are built: sample with the
        Optuna ``trial`` (``trial.suggest_float(...)``), keep what ``build_optimizer`` needs
        on ``self``, and return the values. The default, None, lets the harness search a
        log-uniform scale of the learning rate of every param group ``build_optimizer``
        returns (the same scaling in all three paradigms).
        """
        return None

    def items_per_sample(self) -> int:
        """How many throughput items one sample holds (1, or the sequence length for tokens)."""
        return 1

    def model_input(self, batch: Any) -> Tensor:
        """The tensor the model is called with in ``batch`` (already on the device): what
        prediction feeds it and export traces it with (``harness.export``, ``harness.predict``).

        Default: the first element of a ``(x, y)`` batch. Export and prediction call the model
        with this one tensor; a workload whose batches are shaped otherwise overrides it, or
        its export and predict cells are recorded ``unsupported``.
        """
        if isinstance(batch, tuple | list) and batch and isinstance(batch[0], Tensor):
            return batch[0]
        raise NotImplementedError(f"workload {self.name!r} gives {type(batch).__name__} "
                                  "batches: define model_input(batch) to name the model's input")


def metrics_workload_problem(features: Features, workload: type[Workload]) -> str | None:
    """Why ``workload`` cannot serve the ``metrics`` feature as ``features`` set it (None when
    it can): metrics score a classifier, and scoring training steps needs the step's logits.
    Known from the class alone, so the command line refuses before anything runs."""
    if not features.metrics:
        return None
    if not workload.is_classifier():
        return (f"metrics score a classifier; workload {workload.name!r} defines no "
                "classify(model, batch)")
    if features.metrics_where.on_train_step and not workload.scores_training_steps():
        return (f"metrics_where={features.metrics_where.value} scores the training step's "
                f"logits; workload {workload.name!r} defines no loss_with_logits(model, batch)")
    return None


def classification_metrics(logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
    """Cross-entropy and accuracy of one batch, for ``Workload.evaluate`` of a classifier.

    ``logits`` is (N, classes) and ``targets`` (N,); sequence models flatten first.
    """
    return {
        "loss": nn.functional.cross_entropy(logits, targets),
        "accuracy": (logits.argmax(dim=-1) == targets).float().mean(),
    }

