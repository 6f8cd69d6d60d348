"""The cell config: everything that moves a number, in one frozen, JSON-friendly value.

A cell is one (workload, paradigm, profile, precision, world size, batch size, ...) point of
the matrix. Its ``key`` names its result file, so a resumed run can tell what is done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from harness.features import FeatureError, Features

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
"""Names that reach file names and reports: workloads, sizes, suites."""



class Paradigm(str, Enum):
    """How the training loop is driven."""

    PLAIN = "plain"
    LIGHTNING = "lightning"
    IGNITE = "ignite"


class Profile(str, Enum):
    """Which framework conveniences are on."""

    MINIMAL = "minimal"  # every optional convenience off: the loop-overhead figure
    DEFAULTS = "defaults"  # what each framework's quick-start gives a new user


class Precision(str, Enum):
    """Numeric precision of the training step."""

    FP32 = "fp32"
    BF16_MIXED = "bf16-mixed"
    FP16_MIXED = "fp16-mixed"  # with dynamic loss scaling (GradScaler)


class DataPath(str, Enum):
    """Where the training batches come from (the same in all three paradigms)."""

    HOST = "host"  # a DataLoader over host memory, copied to the device every step
    DEVICE = "device"  # the TensorDataset held on the cell's device, each batch gathered there


class CompileMode(str, Enum):
    """``torch.compile`` of the training region (``harness.training.compile``), or eager."""

    NONE = "none"  # eager, as before compilation was an axis
    DEFAULT = "default"
    REDUCE_OVERHEAD = "reduce-overhead"  # CUDA graphs; `unsupported` on CPU
    MAX_AUTOTUNE_NO_CUDAGRAPHS = "max-autotune-no-cudagraphs"


class CompileStyle(str, Enum):
    """Which region is compiled (only meaningful with a compile mode)."""

    MODEL = "model"  # the workload's nn.Module in all three: the fair comparison
    DOCUMENTED = "documented"  # each framework's documented way: what a user gets


class Scenario(str, Enum):
    """What a cell measures: training (the default), or what runs after it.

    ``export`` trains, then exports the model through every format and checks every artifact
    (``harness.export``); ``predict`` times batch inference through the paradigm's own loop,
    and each ``predict-<runtime>`` through an exported artifact without any framework
    (``harness.predict``). All predict scenarios of one config form one cell group.
    """

    TRAIN = "train"
    EXPORT = "export"
    PREDICT = "predict"
    PREDICT_TORCHSCRIPT = "predict-torchscript"
    PREDICT_ONNXRUNTIME = "predict-onnxruntime"
    PREDICT_EXPORTED_PROGRAM = "predict-exported-program"

    @property
    def predicts(self) -> bool:
        return self.value.startswith("predict")

    @property
    def runtime(self) -> str | None:
        """The artifact runtime of a ``predict-<runtime>`` cell; None for the others."""
        return self.value.removeprefix("predict-") if self.value.startswith("predict-") else None

    @property
    def group(self) -> Scenario:
        """The scenario a cell is grouped under: every runner of a prediction is compared."""
        return Scenario.PREDICT if self.predicts else self


class ConfigError(ValueError):
    """An impossible or unknown setting; raised before anything runs."""


def _enum(kind: type[Enum], value: Any, name: str | None = None) -> Any:
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(m.value for m in kind)
        raise ConfigError(f"unknown {name or kind.__name__.lower()} {value!r}; valid: {valid}"
                          ) from None


@dataclass(frozen=True)
class CellConfig:
    """One benchmark cell. Construct with validated values; ``from_dict`` coerces JSON."""

    workload: str
    paradigm: Paradigm
    size: str = "default"
    profile: Profile = Profile.MINIMAL
    precision: Precision = Precision.FP32
    batch_size: int = 32  # per process; global batch = batch_size x world_size
    steps: int = 100  # measured steps, after warm-up
    warmup: int = 10
    window: int = 10  # steps per timing window (device sync only at window edges)
    seed: int = 0
    device: str = "cpu"  # "cpu" or "cuda"
    threads: int = 1  # torch intra-op threads per process (and OMP/MKL_NUM_THREADS)
    world_size: int = 1  # processes in all; world_size / nnodes per node
    nnodes: int = 1  # machines joined by torchrun's c10d rendezvous
    workers: int = 0  # DataLoader worker processes
    data: DataPath = DataPath.HOST
    timeout_s: float = 600.0  # the harness watchdog: the whole cell process tree
    collective_timeout_s: float = 120.0  # process-group timeout: a rank stuck in a collective
    features: Features = Features()  # noqa: RUF009 - frozen, so one shared default is safe
    phases: bool = True  # time forward / backward / optimizer inside every step
    profiler: bool = False  # a profiling repetition (attribution), kept out of the timing
    compile: CompileMode = CompileMode.NONE
    compile_style: CompileStyle = CompileStyle.MODEL
    scenario: Scenario = Scenario.TRAIN  # train, or export / predict after it

    def __post_init__(self) -> None:
        problems = []
        if not NAME_PATTERN.match(self.size):
            problems.append(f"size {self.size!r} must match [A-Za-z0-9_.-]+")
        for name in ("batch_size", "steps", "warmup", "window", "threads", "world_size",
                     "nnodes"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        if self.workers < 0:
            problems.append(f"workers must be >= 0, got {self.workers}")
        if self.data is DataPath.DEVICE and self.workers:
            problems.append(f"data 'device' gathers batches in the training process on the "
                            f"device; workers must be 0, got {self.workers}")
        if self.device not in ("cpu", "cuda"):
            problems.append(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.steps % self.window:
            problems.append(f"steps ({self.steps}) must be a multiple of window ({self.window})")
        if self.timeout_s <= 0 or self.collective_timeout_s <= 0:
            problems.append("timeout_s and collective_timeout_s must be > 0")
        if self.features.active() and self.profile is not Profile.MINIMAL:
            problems.append("features go on top of the minimal profile; use profile "
                            f"'minimal', not {self.profile.value!r}")
        if self.features.raise_at_step > self.total_steps:
            problems.append(f"raise_at_step ({self.features.raise_at_step}) is after the last "
                            f"step ({self.total_steps})")
        if self.features.resume_at >= self.total_steps:
            problems.append(f"resume_at ({self.features.resume_at}) must come before the last "
                            f"step ({self.total_steps})")
        if self.nnodes > 0 and self.world_size % self.nnodes:
            problems.append(f"world_size ({self.world_size}) must be a multiple of nnodes "
                            f"({self.nnodes})")
        if self.compile is CompileMode.NONE and self.compile_style is not CompileStyle.MODEL:
            problems.append(f"compile_style {self.compile_style.value!r} needs a compile mode "
                            "(compile is 'none')")
        problems += self._scenario_problems()
        if problems:
            raise ConfigError("; ".join(problems))

    def _scenario_problems(self) -> list[str]:
        if self.scenario is Scenario.TRAIN:
            return []
        name, problems = self.scenario.value, []
        if self.world_size != 1 or self.nnodes != 1:
            problems.append(f"{name} cells run in one process; world_size must be 1")
        if self.precision is not Precision.FP32:
            problems.append(f"{name} cells run in fp32, not {self.precision.value!r}")
        if self.profiler:
            problems.append(f"{name} cells have no profiling repetition (attribution)")
        if self.scenario is Scenario.EXPORT and self.profile is not Profile.MINIMAL:
            problems.append("export cells train with the minimal profile (and a checkpoint "
                            f"at the last step), not {self.profile.value!r}")
        if self.compile is not CompileMode.NONE:
            problems.append(f"{name} cells run eager: compile applies to training cells")
        if self.scenario.predicts and self.features.active():
            problems.append(f"{name} cells train nothing, so take no features")
        if self.scenario.runtime and self.paradigm is not Paradigm.PLAIN:
            problems.append(f"{name} runs an exported artifact without any framework: "
                            f"paradigm must be 'plain', not {self.paradigm.value!r}")
        return problems

    @property
    def local_world_size(self) -> int:
        """Processes on each node."""
        return self.world_size // self.nnodes

    @property
    def total_steps(self) -> int:
        return self.warmup + self.steps

    @property
    def key(self) -> str:
        """A stable file-safe name for this cell (readable prefix + hash of the full config)."""
        identity = self.to_dict()
        # the axes added later hash only when set: eager training cells keep their old keys
        if self.compile is CompileMode.NONE:
            del identity["compile"], identity["compile_style"]
        if self.scenario is Scenario.TRAIN:
            del identity["scenario"]
        digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
        workload = self.workload.rsplit("/", 1)[-1].replace(":", "-").removesuffix(".py")
        parts = [workload, self.size, self.paradigm.value, self.profile.value,
                 self.precision.value, f"w{self.world_size}", f"b{self.batch_size}"]
        parts += ["f-" + "-".join(self.features.active())] if self.features.active() else []
        parts += ["data-device"] if self.data is DataPath.DEVICE else []
        if self.compile is not CompileMode.NONE:
            style = "-documented" if self.compile_style is CompileStyle.DOCUMENTED else ""
            parts.append(f"compile-{self.compile.value}{style}")
        parts += ["profiled"] if self.profiler else []
        parts += [self.scenario.value] if self.scenario is not Scenario.TRAIN else []
        safe = "_".join(parts)
        return "".join(c if NAME_PATTERN.match(c) else "-" for c in safe) + "_" + digest

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for k, v in out.items():
            if isinstance(v, Enum):
                out[k] = v.value
        out["features"] = self.features.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown cell settings: {', '.join(sorted(unknown))}")
        values = dict(data)
        values["paradigm"] = _enum(Paradigm, values["paradigm"])
        if "profile" in values:
            values["profile"] = _enum(Profile, values["profile"])
        if "precision" in values:
            values["precision"] = _enum(Precision, values["precision"])
        if "data" in values:
            values["data"] = _enum(DataPath, values["data"])
        if "compile" in values:
            values["compile"] = _enum(CompileMode, values["compile"], "compile mode")
        if "compile_style" in values:
            values["compile_style"] = _enum(CompileStyle, values["compile_style"],
                                            "compile style")
        if "scenario" in values:
            values["scenario"] = _enum(Scenario, values["scenario"])
        if not isinstance(values.get("features", {}), Features):
            try:
                values["features"] = Features.from_dict(values.get("features"))
            except FeatureError as exc:
                raise ConfigError(str(exc)) from None
        return cls(**values)

    def replace(self, **changes: Any) -> CellConfig:
        return dataclasses.replace(self, **changes)
