"""Where framework time goes, by function: a sampling profile of the steady-state steps.

Runs only in a cell's *profiling repetition* (``CellConfig.profiler``), which the statistics
never use: a profiler slows Python code down, so its absolute figures are not step times.

The profiler is pyinstrument, chosen over the alternatives for what attribution needs:
- it samples (every 100 us here) and weights each sample by the time since the last one, so
  a function's share does not depend on how many calls it makes. cProfile charges a fixed
  cost to every Python call and so inflates Lightning's many small calls against torch's few
  large ones: the very comparison being made;
- it keeps whole Python stacks, which is what attributing time to a framework's own functions
  and hooks requires. torch.profiler records operators and its Python stacks are costly.

Each sample's stack is read from the innermost frame outwards and charged to the first frame
that decides it: the harness's forward call, autograd's backward, the optimizer's step
(compute, as in ``phases``); DataLoader code (data loading); the harness's probes; or a frame
of the framework or the adapter (framework time, charged to that function, so a torch call
made by Lightning counts for the Lightning function that made it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from types import CodeType

COMPUTE = ("forward", "backward", "optimizer")
CATEGORIES = (*COMPUTE, "data loading", "harness probe", "framework", "other")
TOP_FUNCTIONS = 40
SAMPLE_INTERVAL_S = 1e-4

FRAMEWORK_PACKAGES = ("pytorch_lightning", "lightning_fabric", "lightning_utilities",
                      "lightning", "torchmetrics", "ignite", "tqdm", "tensorboard",
                      "mlflow")
_PACKAGE_PATH = re.compile(r"(?:site-packages|dist-packages)/(.+)\.py$")
_HARNESS_PATH = re.compile(r"/(harness/.+)\.py$")
_BACKWARD = ("backward", "_engine_run_backward")


@dataclass
class AttributionResult:
    """Seconds per category and per framework function over ``steps`` profiled steps."""

    steps: int = 0
    sampled_s: float = 0.0
    samples: int = 0
    interval_s: float = SAMPLE_INTERVAL_S
    categories: dict[str, float] = field(default_factory=dict)
    functions: dict[str, float] = field(default_factory=dict)  # label -> seconds, top ones


@dataclass(frozen=True)
class Frame:
    function: str
    path: str
    cls: str

    @classmethod
    def parse(cls, identifier: str) -> Frame:
        head, *attrs = identifier.split("\x01")
        function, path, *_ = [*head.split("\x00"), "", ""]
        owner = next((a[1:] for a in attrs if a.startswith("c")), "")
        return cls(function, path, owner)

    @property
    def module(self) -> str:
        path = self.path.replace("\\", "/")
        for pattern in (_PACKAGE_PATH, _HARNESS_PATH):
            match = pattern.search(path)
            if match:
                return match.group(1).replace("/", ".")
        return path

    @property
    def label(self) -> str:
        name = f"{self.cls}.{self.function}" if self.cls else self.function
        return f"{self.module}:{name}"


def _in_package(path: str, packages: tuple[str, ...]) -> bool:
    match = _PACKAGE_PATH.search(path.replace("\\", "/"))
    return bool(match) and match.group(1).split("/", 1)[0] in packages


def classify(stack: list[str], optimizer_step: CodeType | None) -> tuple[str, str | None]:
    """(category, framework function label or None) of one sample's stack (outermost first)."""
    for identifier in reversed(stack):
        f = Frame.parse(identifier)
        path = f.path.replace("\\", "/")
        if path.endswith("harness/trackers/phases.py") and f.function == "timed_loss":
            return "forward", None
        if f.function in _BACKWARD and ("/torch/autograd/" in path or
                                        path.endswith("torch/_tensor.py")):
            return "backward", None
        if (optimizer_step is not None and f.function == optimizer_step.co_name
                and path == optimizer_step.co_filename.replace("\\", "/")):
            return "optimizer", None
        if "/torch/utils/data/" in path:
            return "data loading", None
        if "/harness/trackers/" in path or path.endswith("harness/context.py"):
            return "harness probe", None
        if ("/harness/adapters/" in path or path.endswith("harness/calibration.py")
                or "/harness/features/" in path or _in_package(path, FRAMEWORK_PACKAGES)):
            return "framework", f.label
    return "other", None


def aggregate(records: list[tuple[list[str], float]], steps: int,
              optimizer_step: CodeType | None, interval_s: float = SAMPLE_INTERVAL_S
              ) -> AttributionResult:
    """Fold pyinstrument's frame records (stack, seconds) into categories and functions."""
    categories: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
    functions: dict[str, float] = defaultdict(float)
    for stack, seconds in records:
        category, label = classify(stack, optimizer_step)
        categories[category] += seconds
        if label:
            functions[label] += seconds
    ranked = sorted(functions.items(), key=lambda kv: -kv[1])
    top = dict(ranked[:TOP_FUNCTIONS])
    rest = sum(v for _, v in ranked[TOP_FUNCTIONS:])
    if rest:
        top["(other framework functions)"] = rest
    return AttributionResult(steps, sum(s for _, s in records), len(records), interval_s,
                             categories, top)


class AttributionProfiler:
    """Starts pyinstrument at the end of warm-up and stops it after the last step."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        from pyinstrument import Profiler  # only profiling repetitions need it

        self.interval_s = interval_s
        self._profiler = Profiler(interval=interval_s, async_mode="disabled")
        self._running = False

    def start(self) -> None:
        self._profiler.start()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._profiler.stop()
            self._running = False

    def result(self, steps: int, optimizer_step: CodeType | None) -> AttributionResult:
        self.stop()
        session = self._profiler.last_session
        records = list(session.frame_records) if session else []
        return aggregate(records, steps, optimizer_step, self.interval_s)
