"""A study: what one Optuna study over one paradigm is, as a frozen, JSON-friendly value.

The three studies of a comparison differ only in ``cell.paradigm``: the same workload and
trial length, search space, sampler and seed, pruner, number of trials and worker processes.
Sampler and pruner are named here (``SAMPLERS``, ``PRUNERS``) and built by ``sampler()`` and
``pruner()``, which import Optuna; naming them is checked without it, before anything runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from harness.config import NAME_PATTERN, CellConfig, ConfigError

SAMPLERS = ("tpe", "random")
# Pruners whose decisions do not depend on where a paradigm's integration counts its steps
# from (see docs/pages/hpo.md, Pruning): median with n_warmup_steps = 0 and "none".
# The step-indexed ones (halving, hyperband, median with warm-up steps) are offered too; the
# parity section then shows where they part.
PRUNERS = ("median", "halving", "hyperband", "none")
DIRECTION: Final = "minimize"  # the validation loss
RESUME_SEED_STRIDE = 1009  # a resumed study's seed: + this x the trials it already holds
METRIC = "loss"  # the workload's validation metric the studies report and minimise


class SpecError(ValueError):
    """An unknown sampler or pruner, or an impossible study; raised before anything runs."""


@dataclass(frozen=True)
class StudySpec:
    """One study: ``trials`` trials of ``cell`` (each a short training run inside the study's
    process), sampled by ``sampler`` from ``sampler_seed``, pruned by ``pruner``, run by
    ``workers`` processes sharing ``storage``.

    ``cell.features.val_every`` is the validation (and pruning) interval in optimizer steps;
    0 means one epoch of the training loader, resolved in the study process.
    """

    cell: CellConfig
    trials: int
    workers: int = 1
    sampler: str = "tpe"
    sampler_seed: int = 0
    pruner: str = "median"
    pruner_startup_trials: int = 5  # trials before pruning starts (median)
    pruner_warmup_steps: int = 0  # reports before pruning starts (median; step-indexed)
    storage: str = ""  # a journal file path or an RDB URL; "" until the command fills it in
    prefix: str = "hpo"
    arm: str = ""  # "aa": the A/A check's second study of the same paradigm

    def __post_init__(self) -> None:
        problems = []
        if self.sampler not in SAMPLERS:
            problems.append(f"unknown sampler {self.sampler!r}; valid: {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            problems.append(f"unknown pruner {self.pruner!r}; valid: {', '.join(PRUNERS)}")
        if self.trials <= 0 or self.workers <= 0:
            problems.append(f"trials and workers must be > 0, got {self.trials} and "
                            f"{self.workers}")
        if self.pruner_startup_trials < 0 or self.pruner_warmup_steps < 0:
            problems.append("pruner startup trials and warm-up steps must be >= 0")
        if not NAME_PATTERN.match(self.prefix):
            problems.append(f"study name prefix {self.prefix!r} must match [A-Za-z0-9_.-]+")
        if self.cell.world_size != 1:
            problems.append("a trial runs inside the study's process: world size must be 1, "
                            f"got {self.cell.world_size}")
        if self.cell.features.resume_at or self.cell.features.resume_from:
            problems.append("a trial cannot resume from a checkpoint (resume_at)")
        if self.cell.features.val_epoch_end:
            problems.append("a study validates every N steps: use val_every, not val_epoch_end")
        if self.arm not in ("", "aa"):
            problems.append(f"unknown arm {self.arm!r}; valid: aa")
        if problems:
            raise SpecError("; ".join(problems))

    @property
    def name(self) -> str:
        """The study's name in the storage: readable, plus a hash of everything that makes it
        this study (not the number of trials: a later command with more extends it)."""
        return self._label(self.entry, f"w{self.workers}", self._digest())

    @property
    def entry(self) -> str:
        """The study's place in its comparison: the paradigm, or ``plain-aa`` for the A/A
        check's second study of the plain loop."""
        return self.cell.paradigm.value + (f"-{self.arm}" if self.arm else "")

    @property
    def group(self) -> str:
        """What the paradigms' studies of one comparison share (all but the paradigm): parity
        and the per-trial overhead are computed within a group."""
        return self._label(f"w{self.workers}", self._digest(drop=("paradigm", "arm")))

    @property
    def family(self) -> str:
        """A group without its number of workers: trials per hour at 1, 2, ... workers."""
        return self._label(self._digest(drop=("paradigm", "workers", "arm")))

    def _digest(self, drop: tuple[str, ...] = ()) -> str:
        identity = {k: v for k, v in self.to_dict().items()
                    if k not in ("trials", "storage", *drop)}
        identity["cell"] = {k: v for k, v in identity["cell"].items() if k not in drop}
        return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]

    def _label(self, *tail: str) -> str:
        workload = self.cell.workload.rsplit("/", 1)[-1].replace(":", "-").removesuffix(".py")
        parts = [self.prefix, workload, self.cell.size, self.cell.precision.value, *tail]
        return "".join(c if NAME_PATTERN.match(c) else "-" for c in "_".join(parts))

    def to_dict(self) -> dict[str, Any]:
        out = {"cell": self.cell.to_dict(), "trials": self.trials, "workers": self.workers,
               "sampler": self.sampler, "sampler_seed": self.sampler_seed,
               "pruner": self.pruner, "pruner_startup_trials": self.pruner_startup_trials,
               "pruner_warmup_steps": self.pruner_warmup_steps, "storage": self.storage,
               "prefix": self.prefix}
        if self.arm:  # absent otherwise: the names of existing studies stay what they were
            out["arm"] = self.arm
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySpec:
        values = dict(data)
        try:
            values["cell"] = CellConfig.from_dict(values["cell"])
        except ConfigError as exc:
            raise SpecError(str(exc)) from None
        try:
            return cls(**values)
        except TypeError as exc:
            raise SpecError(f"not a study: {exc}") from None

    def replace(self, **changes: Any) -> StudySpec:
        return dataclasses.replace(self, **changes)

    def sampler_for(self, worker: int, existing: int = 0) -> Any:
        """The sampler of worker process ``worker`` joining a study that holds ``existing``
        trials: seeded ``sampler_seed + worker`` for a new study, so that one worker
        reproduces it and several do not all draw the same points; a resumed study moves the
        seed on, since Optuna's samplers restart their random state from the seed in a new
        process and would repeat the first session's random start-up points."""
        import optuna

        seed = self.sampler_seed + worker + RESUME_SEED_STRIDE * existing
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed)

    def build_pruner(self) -> Any:
        import optuna

        if self.pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=self.pruner_startup_trials,
                                               n_warmup_steps=self.pruner_warmup_steps)
        if self.pruner == "halving":
            return optuna.pruners.SuccessiveHalvingPruner()
        if self.pruner == "hyperband":
            return optuna.pruners.HyperbandPruner()
        return optuna.pruners.NopPruner()
