"""The ``metrics`` feature's metric stacks, one per library, built from the cell's settings.

- torchmetrics (Lightning, and the plain loop): a ``MetricCollection`` of the task wrappers a
  user writes from torchmetrics' and Lightning's docs (``Accuracy(task="multiclass")``,
  ``F1Score``, ``Precision``/``Recall`` with ``average="none"``, ``ConfusionMatrix``). The plain
  loop calls the same collection by hand: torchmetrics is PyTorch's own metrics library, not
  Lightning's (it documents its use in a hand-written loop), and it is what such a loop uses
  for F1 and a confusion matrix under DDP instead of writing and all-reducing counts itself;
  so plain against Lightning isolates what Lightning's logging adds.
- Ignite: ``ignite.metrics`` (``Accuracy``, ``Precision``/``Recall(average=False)``, ``Fbeta``,
  ``ConfusionMatrix``) attached to the evaluator; micro F1 is ``MetricsLambda`` of micro
  precision and recall, as Ignite's docs compose F1.

On training steps (``metrics_where=train-step`` or ``both``) each stack scores every training
batch from the step's own forward (``step_loss``: the workload's ``loss_with_logits``): Lightning
calls a second collection in ``training_step`` and logs its batch values with
``self.log_dict(on_step=True, on_epoch=False)``; Ignite attaches its metrics to the trainer with
``usage=BatchWise()`` (reset, update and compute every iteration); the plain loop calls the
collection by hand (its forward: the batch's values). Under DDP with ``metrics_sync=state`` the
batch value is over every rank's batch (torchmetrics' ``dist_sync_on_step``; Ignite always).

Every stack reports the same flat names: ``accuracy``, ``f1_<averaging>`` (``f1_default``:
the library's own default), ``precision/<class>``, ``recall/<class>``,
``confusion/<target>/<prediction>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from harness.features import Features
from harness.metric_choices import Average, MetricName, MetricStack, MetricSync
from harness.precision import UnsupportedConfig
from harness.workload import LossWithLogits, Workload, classification_metrics

PREFIX = "metric/"  # where Lightning logs them (apart from the ``val_`` batch means)
STEP_PREFIX = "step_metric/"  # the training steps' values (Lightning's log, Ignite's trainer)


def f1_name(average: Average) -> str:
    return f"f1_{average.value}"


def evaluate_batch(workload: Workload, model: nn.Module, batch: Any
                   ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """The batch means validation reports, and the logits and targets the metrics score: one
    forward, unless the workload has its own ``evaluate`` (then that runs as well)."""
    logits, targets = workload.classify(model, batch)
    # the default evaluate, not overridden nor wrapped on the instance (a search's clock)
    if getattr(workload.evaluate, "__func__", None) is Workload.evaluate:
        return classification_metrics(logits, targets), logits, targets
    return dict(workload.evaluate(model, batch)), logits, targets


def step_loss(probe: Any, workload: Workload, model: nn.Module, batch: Any) -> LossWithLogits:
    """A training step's loss with its logits and targets, from the step's one forward; the
    logits detached (the metrics read them, gradients flow through the loss only) and kept on
    the probe, a reference without a copy, for the reference values after the run."""
    out = workload.loss_with_logits(model, batch)
    scored = LossWithLogits(out.loss, out.logits.detach(), out.targets)
    probe.scored_batch = (scored.logits, scored.targets)
    return scored


# ---- torchmetrics (Lightning, plain)
def torchmetrics_collection(f: Features, classes: int, per_step: bool = False) -> Any:
    """The ``MetricCollection`` of the cell's metrics (state moves with ``.to(device)``);
    ``per_step``: called on training batches, its batch values synced on each call under
    ``metrics_sync=state``."""
    from torchmetrics import MetricCollection
    from torchmetrics.classification import Accuracy, ConfusionMatrix, F1Score, Precision, Recall

    common: dict[str, Any] = {"task": "multiclass", "num_classes": classes}
    if f.metrics_stack is MetricStack.TUNED:
        common["validate_args"] = False
    if f.metrics_sync is not MetricSync.STATE:  # each rank computes its own shard
        common["sync_on_compute"] = False
    elif per_step:
        common["dist_sync_on_step"] = True
    chosen: dict[str, Any] = {}
    if MetricName.ACCURACY in f.metrics:
        chosen["accuracy"] = Accuracy(**common)
    if MetricName.F1 in f.metrics:
        for average in f.metrics_average:
            named = {} if average is Average.DEFAULT else {"average": average.value}
            chosen[f1_name(average)] = F1Score(**common, **named)
    if MetricName.PRECISION in f.metrics:
        chosen["precision"] = Precision(**common, average="none")
    if MetricName.RECALL in f.metrics:
        chosen["recall"] = Recall(**common, average="none")
    if MetricName.CONFUSION in f.metrics:
        chosen["confusion"] = ConfusionMatrix(**common)
    return MetricCollection(chosen)


# ---- Ignite
def ignite_metrics(f: Features, classes: int, device: torch.device, distributed: bool
                   ) -> dict[str, Any]:
    """Name -> ``ignite.metrics`` Metric reading ``{"logits", "y"}`` outputs, or
    ``unsupported`` where Ignite has no such setting."""
    from ignite.metrics import Accuracy, ConfusionMatrix, Fbeta, MetricsLambda, Precision, Recall

    if Average.WEIGHTED in f.metrics_average and MetricName.F1 in f.metrics:
        raise UnsupportedConfig("Ignite has no weighted F1: Fbeta averages macro or not at all, "
                                "and F1 of weighted precision and recall is not weighted F1")
    if distributed and f.metrics_sync is not MetricSync.STATE:
        raise UnsupportedConfig(f"metrics_sync={f.metrics_sync.value}: Ignite's metrics "
                                "all-reduce their state in every compute, with no switch")
    kw: dict[str, Any] = {"output_transform": lambda out: (out["logits"], out["y"])}
    if f.metrics_stack is MetricStack.TUNED:
        kw["device"] = device  # the default keeps the state on the CPU
    out: dict[str, Any] = {}
    if MetricName.ACCURACY in f.metrics:
        out["accuracy"] = Accuracy(**kw)
    precision, recall = Precision(average=False, **kw), Recall(average=False, **kw)
    if MetricName.F1 in f.metrics:
        for average in f.metrics_average:
            if average is Average.MICRO:
                p, r = Precision(average="micro", **kw), Recall(average="micro", **kw)
                out[f1_name(average)] = MetricsLambda(lambda p, r: 2 * p * r / (p + r + 1e-20),
                                                      p, r)
            else:  # macro, Ignite's default
                out[f1_name(average)] = Fbeta(1.0, precision=precision, recall=recall)
    if MetricName.PRECISION in f.metrics:
        out["precision"] = precision
    if MetricName.RECALL in f.metrics:
        out["recall"] = recall
    if MetricName.CONFUSION in f.metrics:
        out["confusion"] = ConfusionMatrix(classes, **kw)
    return out


def updated_metrics(metrics: Mapping[str, Any]) -> Iterator[Any]:
    """The distinct Ignite metrics that update on each batch (``MetricsLambda`` only combines
    them at compute time), each once however many named metrics share it."""
    from ignite.metrics import MetricsLambda

    seen: dict[int, Any] = {}
    stack = list(metrics.values())
    while stack:
        m = stack.pop()
        if isinstance(m, MetricsLambda):
            stack += [a for a in m.args if hasattr(a, "iteration_completed")]
        else:
            seen.setdefault(id(m), m)
    return iter(seen.values())


# ---- values
def flatten(values: Mapping[str, Any]) -> dict[str, Tensor]:
    """Name -> scalar tensor: a vector ``v`` becomes ``name/i``, a matrix ``name/i/j``."""
    out: dict[str, Tensor] = {}
    for name, value in values.items():
        t = torch.as_tensor(value)
        if t.ndim == 0:
            out[name] = t
        else:
            for index in torch.cartesian_prod(*(torch.arange(n) for n in t.shape)).view(
                    -1, t.ndim).tolist():
                out["/".join([name, *map(str, index)])] = t[tuple(index)]
    return out


def as_floats(values: Mapping[str, Tensor]) -> dict[str, float]:
    """The values on the host (one copy for them all)."""
    names = list(values)
    if not names:
        return {}
    stacked = torch.stack([values[n].detach().double().reshape(()) for n in names]).cpu()
    return dict(zip(names, stacked.tolist()))


# ---- the validation shard each rank scores, and the predictions behind the values
def final_predictions(workload: Workload, model: nn.Module, dataset: Any, batch_size: int,
                      world_size: int, device: torch.device, autocast: Any) -> dict[str, list]:
    """Every rank's validation batches through the trained model again, after the run, with the
    batches and autocast of the validation: the (sample, prediction, target, rank) rows the
    reference values are computed from, over the padded set (``harness.analyse.metric_values``).
    """
    from harness.training.data import shard_sampler, to_device

    rows: dict[str, list] = {"index": [], "pred": [], "target": [], "rank": []}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for rank in range(world_size):
            indices = list(shard_sampler(len(dataset), rank, world_size))
            for start in range(0, len(indices), batch_size):
                chunk = indices[start:start + batch_size]
                batch = to_device(_gather(dataset, chunk), device)
                with autocast():
                    logits, targets = workload.classify(model, batch)
                rows["index"] += chunk
                rows["pred"] += logits.argmax(dim=-1).tolist()
                rows["target"] += targets.tolist()
                rows["rank"] += [rank] * len(chunk)
    model.train(was_training)
    return rows


def _gather(dataset: Any, indices: list[int]) -> Any:
    from torch.utils.data import default_collate

    return default_collate([dataset[i] for i in indices])


# ---- torchmetrics called by hand (the plain loop)
class HandMetrics:
    """The plain loop's metrics: the torchmetrics collection updated on each validation batch
    and computed after the pass; with ``metrics_sync=sync_dist`` under DDP each value is then
    all-reduced and averaged by hand (what ``self.log(..., sync_dist=True)`` does)."""

    def __init__(self, f: Features, classes: int, device: torch.device, clock: Any,
                 distributed: bool) -> None:
        self.collection = torchmetrics_collection(f, classes).to(device)
        self.clock = clock
        self.sync_dist = distributed and f.metrics_sync is MetricSync.SYNC_DIST
        self.update = clock.timed("update", self.collection.update)
        self.compute = clock.timed("compute", self._compute)

    def score(self, logits: Tensor, targets: Tensor) -> None:
        self.clock.batch()
        self.update(logits, targets)

    def _compute(self) -> dict[str, float]:
        values = flatten(self.collection.compute())
        if self.sync_dist:
            values = rank_mean(values)
        self.collection.reset()
        self.clock.pass_end()
        return as_floats(values)


class HandStepMetrics:
    """The plain loop's metrics on training steps: a torchmetrics collection called on each
    training batch (its forward: the batch's values, added to its running state), the values
    kept as tensors where the loop's user reads them (no host copy per step); with
    ``metrics_sync=sync_dist`` under DDP each value all-reduced and averaged by hand."""

    def __init__(self, f: Features, classes: int, device: torch.device, clock: Any,
                 distributed: bool) -> None:
        self.collection = torchmetrics_collection(f, classes, per_step=True).to(device)
        self.sync_dist = distributed and f.metrics_sync is MetricSync.SYNC_DIST
        self.last: dict[str, Tensor] = {}
        self.score = clock.timed("step", self._score)

    def _score(self, logits: Tensor, targets: Tensor) -> None:
        values = flatten(self.collection(logits, targets))
        self.last = rank_mean(values) if self.sync_dist else values


def rank_mean(values: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Each value all-reduced and averaged over the ranks, by hand (what Lightning's
    ``sync_dist=True`` does), in float32 as Lightning's logged values."""
    import torch.distributed as dist

    out = {name: value.float() for name, value in values.items()}  # a count is an integer
    for value in out.values():
        dist.all_reduce(value)  # a sum: gloo has no average
        value /= dist.get_world_size()
    return out
