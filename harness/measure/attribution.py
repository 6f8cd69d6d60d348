"""Where framework time goes, by function: a deterministic profile of the steady-state steps.

Runs only in a cell's *profiling repetition* (``CellConfig.profiler``), which the statistics
never use. The profiler is cProfile (Python calls only, ``builtins=False``), chosen after
measuring the alternatives against a known 200 us busy-wait injected into a per-step hook:

- cProfile times every Python call exactly and counts them: the hook read 201-203 us in all
  three paradigms, and "calls per step" is itself a figure a framework maintainer wants. Its
  cost is a fixed amount per call, which would inflate a framework of many small calls
  (Lightning: about a thousand Python calls per step) against torch's few large ones; that
  amount is calibrated in the same process before profiling and subtracted per call;
- pyinstrument samples from inside the process, so a sample's cost and its time-weighting land
  where the sample falls: the same hook read 198 us (plain), 262 us (Lightning) and 173 us
  (Ignite) while its real duration was 205 us in each;
- py-spy samples from outside, but ``--nonblocking`` reads raced the interpreter (half the
  samples failed, leaving torn stacks) and blocking reads stopped the worker so often that a
  Lightning cell ran five times slower; torch.profiler records operators, not Python callers.

Attribution: every function's own time is charged to the nearest *deciding* frame up its call
graph: the harness's forward call, autograd's backward, the optimizer's step (compute, as in
``harness.measure.phases``); DataLoader code (data loading); the harness's probes (the step
probe, the trackers, and the data-wait wrapper around the training loader's iterator in
``harness.training.data``); or a frame
of the framework or the adapter (framework time, charged to that function). A function that
decides nothing (a torch utility called by Lightning) passes its time to its callers in
proportion to the time each caller spent in it, so a torch call made by Lightning counts for
the Lightning function that made it.
"""

from __future__ import annotations

import cProfile
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from types import CodeType
from typing import Any

COMPUTE = ("forward", "backward", "optimizer")
CATEGORIES = (*COMPUTE, "data loading", "harness probe", "framework", "other")
TOP_FUNCTIONS = 40
FRAMEWORK_PACKAGES = ("pytorch_lightning", "lightning_fabric", "lightning_utilities",
                      "lightning", "torchmetrics", "ignite", "tqdm", "tensorboard",
                      "mlflow")
_PACKAGE_PATH = re.compile(r"(?:site-packages|dist-packages)/(.+)\.py$")
_HARNESS_PATH = re.compile(r"/(harness/.+)\.py$")
_BACKWARD = ("backward", "_engine_run_backward")
# the data-wait probe: the training loader's timing wrapper around torch's iterator, called
# by whichever framework code asks for a batch, but the harness's, not that framework's
_DATA_WAIT_PROBE = ("TimedLoader.", "_TimedBatches.")
_MAX_DEPTH = 200


@dataclass
class AttributionResult:
    """Seconds (profiler cost removed) per category and per framework function, over
    ``steps`` profiled steps; ``calls`` per framework function, as counted."""

    steps: int = 0
    profiled_s: float = 0.0  # wall time with the profiler on
    python_calls: int = 0
    overhead_per_call_s: float = 0.0  # the profiler's own cost per call, subtracted
    categories: dict[str, float] = field(default_factory=dict)
    functions: dict[str, float] = field(default_factory=dict)  # label -> seconds, top ones
    calls: dict[str, int] = field(default_factory=dict)  # label -> times it ran
    error: str | None = None


def _module(path: str) -> str:
    path = path.replace("\\", "/")
    for pattern in (_PACKAGE_PATH, _HARNESS_PATH):
        match = pattern.search(path)
        if match:
            return match.group(1).replace("/", ".")
    return path


def label(code: CodeType) -> str:
    """``package.module:Qualified.name`` of a function."""
    return f"{_module(code.co_filename)}:{getattr(code, 'co_qualname', code.co_name)}"


def _in_package(path: str, packages: tuple[str, ...]) -> bool:
    match = _PACKAGE_PATH.search(path)
    return match is not None and match.group(1).split("/", 1)[0] in packages


def decide(code: CodeType | str, optimizer_step: CodeType | None) -> tuple[str, str | None] | None:
    """(category, framework label) if this function decides where its time goes, else None."""
    if isinstance(code, str):  # a builtin (only with builtins=True)
        return None
    path, name = code.co_filename.replace("\\", "/"), code.co_name
    if path.endswith("harness/measure/phases.py") and name == "timed_loss":
        return "forward", None
    if name in _BACKWARD and ("/torch/autograd/" in path or path.endswith("torch/_tensor.py")):
        return "backward", None
    if optimizer_step is not None and code is optimizer_step:
        return "optimizer", None
    if "/torch/utils/data/" in path:
        return "data loading", None
    if ("/harness/measure/" in path or path.endswith("harness/training/context.py")
            or (path.endswith("harness/training/data.py")
                and getattr(code, "co_qualname", name).startswith(_DATA_WAIT_PROBE))):
        return "harness probe", None
    if ("/harness/training/adapters/" in path or path.endswith("harness/training/calibration.py")
            or "/harness/training/features/" in path or path.endswith("harness/features.py")
            or _in_package(path, FRAMEWORK_PACKAGES)):
        return "framework", label(code)
    return None


class _Graph:
    """cProfile's entries as a caller graph, and each function's share of every decider."""

    def __init__(self, entries: list[Any], optimizer_step: CodeType | None) -> None:
        self.optimizer_step = optimizer_step
        self.callers: dict[Any, list[tuple[Any, float]]] = defaultdict(list)
        for e in entries:
            for sub in e.calls or ():
                self.callers[sub.code].append((e.code, sub.totaltime))
        self._memo: dict[Any, dict[tuple[str, str | None], float]] = {}

    def deciders(self, code: Any, depth: int = 0, seen: frozenset[Any] = frozenset()
                 ) -> dict[tuple[str, str | None], float]:
        """Fractions of ``code``'s time that belong to each (category, label)."""
        decided = decide(code, self.optimizer_step)
        if decided:
            return {decided: 1.0}
        if code in self._memo:
            return self._memo[code]
        callers = [(c, t) for c, t in self.callers.get(code, ()) if c not in seen]
        total = sum(t for _, t in callers)
        if not callers or total <= 0 or depth > _MAX_DEPTH:
            return {("other", None): 1.0}
        out: dict[tuple[str, str | None], float] = defaultdict(float)
        for caller, t in callers:
            for key, share in self.deciders(caller, depth + 1, seen | {code}).items():
                out[key] += share * t / total
        if not seen:  # only a result free of cycle cuts is safe to reuse
            self._memo[code] = dict(out)
        return out


def aggregate(entries: list[Any], steps: int, overhead_per_call_s: float,
              optimizer_step: CodeType | None, profiled_s: float) -> AttributionResult:
    """Charge each function's own time (less the profiler's cost per call) to its deciders."""
    graph = _Graph(entries, optimizer_step)
    categories: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
    functions: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = {}
    python_calls = 0
    for e in entries:
        python_calls += e.callcount
        own = max(e.inlinetime - e.callcount * overhead_per_call_s, 0.0)
        decided = decide(e.code, optimizer_step)
        if decided and decided[1]:
            calls[decided[1]] = e.callcount
        for (category, name), share in graph.deciders(e.code).items():
            categories[category] += own * share
            if name:
                functions[name] += own * share
    ranked = sorted(functions.items(), key=lambda kv: -kv[1])
    top = dict(ranked[:TOP_FUNCTIONS])
    rest = sum(v for _, v in ranked[TOP_FUNCTIONS:])
    if rest:
        top["(other framework functions)"] = rest
    return AttributionResult(steps, profiled_s, python_calls, overhead_per_call_s, categories,
                             top, {k: v for k, v in calls.items() if k in top})


def _empty() -> None:
    return None


def _calls(n: int) -> None:
    for _ in range(n):
        _empty()


def per_call_overhead(n: int = 20_000, trials: int = 3) -> float:
    """What cProfile adds per Python call here (best of ``trials``), measured in-process."""
    best = float("inf")
    for _ in range(trials):
        start = perf_counter()
        _calls(n)
        bare = perf_counter() - start
        profile = cProfile.Profile(builtins=False)
        start = perf_counter()
        profile.enable()
        _calls(n)
        profile.disable()
        best = min(best, (perf_counter() - start - bare) / n)
    return max(best, 0.0)


class AttributionProfiler:
    """Profiles the steps between ``start`` (end of warm-up) and ``stop`` (the last step).

    ``clock`` replaces the wall clock (seconds, as a float) for the profile and its span: a
    test's deterministic clock, which the profiler's own calls do not advance, so nothing is
    subtracted for them."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.overhead_per_call_s = per_call_overhead() if clock is None else 0.0
        self._clock = clock or perf_counter
        self._profile = (cProfile.Profile(builtins=False) if clock is None
                         else cProfile.Profile(clock, builtins=False))
        self._start: float | None = None
        self.profiled_s = 0.0

    def start(self) -> None:
        self._start = self._clock()
        self._profile.enable()

    def stop(self) -> None:
        if self._start is not None:
            self._profile.disable()
            self.profiled_s = self._clock() - self._start
            self._start = None

    def result(self, steps: int, optimizer_step: CodeType | None) -> AttributionResult:
        self.stop()
        entries = self._profile.getstats()
        if not entries or steps <= 0:
            return AttributionResult(error="no steps were profiled")
        return aggregate(entries, steps, self.overhead_per_call_s, optimizer_step,
                         self.profiled_s)
