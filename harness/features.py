"""The conveniences a cell switches on over ``minimal``: one frozen, typed value per cell.

Each feature is implemented the way its framework documents it (Lightning Trainer flags and
callbacks, Ignite handlers, a hand-written plain loop); this module only says *which* are on
and with what parameters, and validates combinations before anything runs. Fields left at
their defaults are off; ``Features()`` is the bare loop.

>>> from harness.features import Features
>>> f = Features.parse("val_every=20,early_stop_patience=3,log=csv+tensorboard")
>>> f.active()
['validate', 'early-stop', 'log']
>>> f.without("early-stop").label
'validate/20 + log[csv,tensorboard]/1'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

from harness.metric_choices import (
    ALL_METRICS,
    Average,
    MetricName,
    MetricStack,
    MetricSync,
    MetricWhere,
)


class FeatureError(ValueError):
    """An impossible feature setting or combination."""


class LogBackend(str, Enum):
    """Where metric logging writes; each read back with its own library in the tests."""

    TENSORBOARD = "tensorboard"
    CSV = "csv"
    MLFLOW = "mlflow"


# Feature name -> what it does. Each Features field names its feature in its metadata, so
# that ``FEATURE_FIELDS`` and ``harness list`` are read off the dataclass, not kept by hand.
FEATURES: dict[str, str] = {
    "validate": "a validation pass (loss and the workload's metrics) every N steps or each epoch",
    "early-stop": "stop when the validation loss stops improving",
    "checkpoint": "save model, optimizer, scheduler and scaler state every N steps",
    "checkpoint-best": "keep the best checkpoints by validation loss",
    "resume": "stop at a step, then resume from its checkpoint in a fresh process",
    "log": "log the training loss to metric loggers",
    "metrics": "classification metrics on validation passes and/or every training step, by "
               "each paradigm's own stack",
    "accumulate": "gradient accumulation over micro-batches (DDP no_sync on all but the last)",
    "clip": "clip the gradient norm",
    "scheduler": "the workload's learning-rate scheduler, stepped every optimizer step",
    "progress-bar": "each framework's progress bar (tqdm in the plain loop)",
    "fault": "an injected workload bug: an exception inside the step",
    "calibration": "a known busy-wait in a framework-native hook, to check the measurements",
}


def _setting(default: Any, feature: str, doc: str) -> Any:
    """A Features field: its default (which means off), its feature, and what it sets."""
    return dataclasses.field(default=default, metadata={"feature": feature, "doc": doc})


@dataclass(frozen=True)
class Features:
    """Which conveniences are on; every field's default means off."""

    val_every: int = _setting(0, "validate",
                              "validate every N optimizer steps (global count); 0 = never")
    val_epoch_end: bool = _setting(False, "validate", "validate at the end of every epoch")
    early_stop_patience: int = _setting(
        0, "early-stop", "stop after this many validations without improvement")
    early_stop_min_delta: float = _setting(
        0.0, "early-stop", "an improvement must lower the validation loss by more than this")
    ckpt_every: int = _setting(0, "checkpoint", "save a checkpoint every N steps")
    ckpt_best_k: int = _setting(0, "checkpoint-best",
                                "keep the k best checkpoints by validation loss")
    resume_at: int = _setting(0, "resume", "train to step N with a checkpoint, then resume "
                                           "from it in a new process")
    resume_from: str = _setting("", "resume", "a checkpoint of this cell's paradigm to resume "
                                              "training from (set by resume_at)")
    log: tuple[LogBackend, ...] = _setting(
        (), "log", "the backends to log the training loss to, joined by + ("
        + ", ".join(b.value for b in LogBackend) + ")")
    log_every: int = _setting(1, "log", "log every N optimizer steps")
    metrics: tuple[MetricName, ...] = _setting(
        (), "metrics", "the metrics, joined by + (" + ", ".join(m.value for m in MetricName)
        + f"; {ALL_METRICS} = every one); needs a classifier")
    metrics_where: MetricWhere = _setting(  # noqa: RUF009 - a field(), not a value
        MetricWhere.VALIDATION, "metrics", "validation (each pass; needs val_every or "
        "val_epoch_end), train-step (every training step's batch, logged per step) or both")
    metrics_average: tuple[Average, ...] = _setting(
        (Average.MACRO, Average.MICRO), "metrics",
        "the F1 averagings, joined by + (" + ", ".join(a.value for a in Average) + ")")
    metrics_stack: MetricStack = _setting(  # noqa: RUF009 - a field(), not a value
        MetricStack.DEFAULTS, "metrics", "the libraries as installed (defaults) or tuned: "
        "argument checks off, state on the model's device")
    metrics_sync: MetricSync = _setting(  # noqa: RUF009 - a field(), not a value
        MetricSync.STATE, "metrics", "under DDP: gather the state (state), average the ranks' "
        "values (sync_dist), or rank 0's shard (off)")
    accumulate: int = _setting(1, "accumulate", "micro-batches per optimizer step")
    clip_norm: float = _setting(0.0, "clip", "clip the gradient norm to this value; 0 = off")
    scheduler: bool = _setting(False, "scheduler", "step the workload's build_scheduler")
    progress_bar: bool = _setting(False, "progress-bar", "show the progress bar")
    raise_at_step: int = _setting(0, "fault", "raise inside the step at this step; 0 = never")
    hook_delay_us: float = _setting(0.0, "calibration",
                                    "busy-wait this many microseconds in a framework hook")
    # 2: alternate steps at random, so the same process holds delayed and undelayed steps
    hook_delay_every: int = _setting(1, "calibration", "after a random 1/N of the steps")

    def __post_init__(self) -> None:
        for name, kind in _LISTS.items():  # a set: log backends by name, the rest in enum order
            chosen = {kind(v) for v in getattr(self, name)}
            ordered = sorted(chosen, key=lambda m: m.value) if name == "log" else \
                [m for m in kind if m in chosen]
            object.__setattr__(self, name, tuple(ordered))
        for name, kind in _CHOICES.items():
            object.__setattr__(self, name, kind(getattr(self, name)))
        problems = self._metric_problems()
        for name in ("val_every", "early_stop_patience", "ckpt_every", "ckpt_best_k",
                     "raise_at_step", "resume_at"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("log_every", "accumulate", "hook_delay_every"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.clip_norm < 0 or self.early_stop_min_delta < 0 or self.hook_delay_us < 0:
            problems.append("clip_norm, early_stop_min_delta and hook_delay_us must be >= 0")
        if self.val_every and self.val_epoch_end:
            problems.append("validate either every N steps (val_every) or at epoch ends "
                            "(val_epoch_end), not both")
        validates = bool(self.val_every or self.val_epoch_end)
        if self.early_stop_patience and not validates:
            problems.append("early stopping watches the validation loss: set val_every or "
                            "val_epoch_end")
        if self.ckpt_best_k and not validates:
            problems.append("best-k checkpoints rank by validation loss: set val_every or "
                            "val_epoch_end")
        if problems:
            raise FeatureError("; ".join(problems))

    def _metric_problems(self) -> list[str]:
        if not self.metrics:
            tuned = [f.name for f in dataclasses.fields(self) if f.metadata["feature"] ==
                     "metrics" and getattr(self, f.name) != f.default]
            return [f"{', '.join(tuned)} only applies with metrics=NAME+..."] if tuned else []
        problems = []
        if self.metrics_where.on_validation and not self.validates:
            problems.append(f"metrics are computed on validation (metrics_where="
                            f"{self.metrics_where.value}): set val_every or val_epoch_end, or "
                            "metrics_where=train-step")
        if MetricName.F1 in self.metrics and not self.metrics_average:
            problems.append("f1 needs at least one averaging (metrics_average)")
        return problems

    # ---- construction from suite files and the command line
    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Features:
        """From a suite table or JSON record, e.g. ``{"val_every": 20, "log": ["csv"]}``."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FeatureError(f"unknown feature settings: {', '.join(sorted(unknown))}; "
                               f"valid: {', '.join(sorted(known))}")
        for name, kind in _LISTS.items():
            if name in data:
                data[name] = _members(name, kind, data[name])
        for name, kind in _CHOICES.items():
            if name in data:
                data[name] = _members(name, kind, [data[name]])[0]
        try:
            return cls(**data)
        except TypeError as exc:
            raise FeatureError(str(exc)) from None

    @classmethod
    def parse(cls, text: str) -> Features:
        """From ``"k=v,k=v"`` (the CLI's ``--features``); ``log=csv+mlflow`` lists backends."""
        if not text.strip() or text.strip() == "none":
            return cls()
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        data: dict[str, Any] = {}
        for item in text.split(","):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in defaults:
                raise FeatureError(f"bad feature setting {item!r}: expected NAME=VALUE with "
                                   f"NAME one of {', '.join(defaults)}")
            data[key] = _coerce(key, value.strip(), defaults[key])
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that differ from their defaults: a bare cell stays ``{}``."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = ([m.value for m in value] if f.name in _LISTS else
                               value.value if isinstance(value, Enum) else value)
        return out

    # ---- what is on, for labels and the feature-cost table
    def active(self) -> list[str]:
        """Names of the features that are on, in FEATURE_FIELDS order."""
        defaults = Features()
        return [name for name, fields in FEATURE_FIELDS.items()
                if any(getattr(self, f) != getattr(defaults, f) for f in fields)]

    def without(self, name: str) -> Features:
        """The same features with ``name`` turned off (its fields back to their defaults)."""
        defaults = Features()
        fields = FEATURE_FIELDS[name]
        return dataclasses.replace(self, **{f: getattr(defaults, f) for f in fields})

    def delays(self, step: int) -> bool:
        """Whether the calibration hook busy-waits after optimizer step ``step``: every step,
        or with ``hook_delay_every = N`` a pseudo-random 1/N of them (a fixed, seeded choice:
        not every N-th, which would line up with anything else periodic, such as epochs)."""
        if not self.hook_delay_us:
            return False
        return self.hook_delay_every == 1 or _draw(step) < 1 / self.hook_delay_every

    @property
    def validates(self) -> bool:
        return bool(self.val_every or self.val_epoch_end)

    @property
    def scores_validation(self) -> bool:
        """Whether the metrics feature scores validation passes."""
        return bool(self.metrics) and self.metrics_where.on_validation

    @property
    def scores_training_steps(self) -> bool:
        """Whether the metrics feature scores every training step."""
        return bool(self.metrics) and self.metrics_where.on_train_step

    @property
    def label(self) -> str:
        """A short human name: ``validate/20 + checkpoint/50``; ``none`` for the bare loop."""
        parts = {
            "validate": f"validate/{self.val_every}" if self.val_every else "validate/epoch",
            "early-stop": f"early-stop(p={self.early_stop_patience}, "
                          f"δ={self.early_stop_min_delta:g})",
            "checkpoint": f"checkpoint/{self.ckpt_every}",
            "checkpoint-best": f"best-{self.ckpt_best_k}",
            "resume": f"resume@{self.resume_at}" if self.resume_at else "resume",
            "log": f"log[{','.join(b.value for b in self.log)}]/{self.log_every}",
            "metrics": self._metrics_label(),
            "accumulate": f"accumulate×{self.accumulate}",
            "clip": f"clip≤{self.clip_norm:g}",
            "scheduler": "scheduler",
            "progress-bar": "progress bar",
            "fault": f"raise@{self.raise_at_step}",
            "calibration": f"hook delay {self.hook_delay_us:g} us"
                           + (f"/{self.hook_delay_every} steps" if self.hook_delay_every > 1
                              else ""),
        }
        return " + ".join(parts[n] for n in self.active()) or "none"

    def _metrics_label(self) -> str:
        """``metrics[accuracy,f1]/macro+micro`` plus where, the stack and the sync when not the
        default."""
        label = f"metrics[{','.join(m.value for m in self.metrics)}]"
        if self.metrics_where is not MetricWhere.VALIDATION:
            label += f"@{self.metrics_where.value}"
        if MetricName.F1 in self.metrics:
            label += "/" + "+".join(a.value for a in self.metrics_average)
        if self.metrics_stack is not MetricStack.DEFAULTS:
            label += f"/{self.metrics_stack.value}"
        if self.metrics_sync is not MetricSync.STATE:
            label += f"/sync={self.metrics_sync.value}"
        return label


# Fields holding a set of enum members (``log=csv+mlflow``), and fields holding one member.
_LISTS: dict[str, type[Enum]] = {"log": LogBackend, "metrics": MetricName,
                                 "metrics_average": Average}
_CHOICES: dict[str, type[Enum]] = {"metrics_stack": MetricStack, "metrics_sync": MetricSync,
                                   "metrics_where": MetricWhere}


def _members(name: str, kind: type[Enum], raw: Any) -> tuple[Any, ...]:
    """Enum members from names (``all`` for every metric); unknown names are refused."""
    raw = [raw] if isinstance(raw, str | Enum) else list(raw)
    if name == "metrics" and ALL_METRICS in raw:
        return tuple(MetricName)
    try:
        return tuple(kind(v) for v in raw)
    except ValueError:
        valid = ", ".join(m.value for m in kind)
        what = "log backend" if name == "log" else name.replace("_", " ")
        raise FeatureError(f"unknown {what} in {[getattr(v, 'value', v) for v in raw]!r}; "
                           f"valid: {valid}") from None


# Feature name -> the fields that make it up (resetting them to defaults turns it off).
FEATURE_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in dataclasses.fields(Features) if f.metadata["feature"] == name)
    for name in FEATURES}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return "+".join(getattr(v, "value", str(v)) for v in value)
    return "" if value in ((), "") else f"{value:g}" if isinstance(value, float) else str(value)


def describe() -> list[str]:
    """Every feature, its settings with their defaults (off) and what each does: the lines
    ``harness list`` prints, read off the ``Features`` fields."""
    fields = {f.name: f for f in dataclasses.fields(Features)}
    width = max(len(f"{n}={_shown(f.default)}") for n, f in fields.items())
    lines = []
    for feature, summary in FEATURES.items():
        lines.append(f"  {feature}: {summary}")
        for name in FEATURE_FIELDS[feature]:
            setting = f"{name}={_shown(fields[name].default)}"
            lines.append(f"      {setting.ljust(width)}  {fields[name].metadata['doc']}")
    return lines


def _draw(step: int) -> float:
    """A fixed pseudo-random number in [0, 1) for ``step`` (Knuth's multiplicative hash)."""
    return ((step * 2654435761) % 2**32) / 2**32


def _coerce(key: str, value: str, default: Any) -> Any:
    if key in _LISTS:
        return [v for v in value.split("+") if v]
    if key in _CHOICES:
        return value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise FeatureError(f"feature {key}={value!r}: expected {type(default).__name__}"
                           ) from None
    return value
