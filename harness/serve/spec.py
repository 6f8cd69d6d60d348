"""A serving comparison as a frozen value, checked before anything heavy is imported.

A *target* is one server: a paradigm and the inference path it serves through. ``model`` is
the framework's own inference object called per request (plain: ``model(x)`` under
``torch.inference_mode()``; Ignite: ``Engine.run`` of an evaluator per request; Lightning: the
LightningModule called under ``torch.no_grad()`` after ``eval()``, as Lightning's deployment
page shows), all on FastAPI/uvicorn; ``litserve`` is Lightning's own serving library (Lightning
only); ``torchscript``, ``onnxruntime`` and ``exported-program`` serve the artifact exported from
that paradigm's object with ``harness.export``'s documented calls, on FastAPI/uvicorn (the
control: the same artifact whoever exported it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from harness.config import Paradigm


class ServePath(str, Enum):
    MODEL = "model"
    LITSERVE = "litserve"
    TORCHSCRIPT = "torchscript"
    ONNXRUNTIME = "onnxruntime"
    EXPORTED_PROGRAM = "exported-program"


ARTIFACT_PATHS = (ServePath.TORCHSCRIPT, ServePath.ONNXRUNTIME, ServePath.EXPORTED_PROGRAM)
STATIC_ROWS_PATHS = (ServePath.ONNXRUNTIME, ServePath.EXPORTED_PROGRAM)  # exported at n rows
NOOP = "noop"  # the generator's ceiling: an endpoint that runs no model
NEEDS = ("fastapi", "uvicorn", "litserve", "aiohttp")
INSTALL = "pip install 'paradigm-bench[serve]'"
# LitServe batches when max_batch_size > 1; the FastAPI paths never batch. Off for all.
MAX_BATCH_SIZE = 1
BATCH_TIMEOUT_S = 0.0


class SpecError(ValueError):
    """An impossible serving comparison; raised before anything runs."""


def missing_packages() -> list[str]:
    """The packages serving needs that are not installed (found without importing them)."""
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


@dataclass(frozen=True)
class Target:
    paradigm: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.paradigm}/{self.path}"


# A CPU server's start to its first /health, with its model built and warmed up: the cpu
# suite's table (4 servers a repetition, 2 repetitions) took 80 s on a 2-core AMD EPYC on
# 2026-12-06, 33 s of it points; a GPU server's CUDA context adds seconds of its own.
SERVER_START_S = 6.0
CEILING_BEYOND = (2, 4, 8)  # the no-op sweep goes on to these multiples of the top rate


@dataclass(frozen=True)
class ServeSpec:
    """One comparison: every target of ``paradigms`` x ``paths`` swept over ``rates``
    (requests/s, ascending) for ``duration_s`` seconds a point, the first ``warmup_s`` of them
    excluded; a point passes when its p99 is within ``slo_ms`` and no request failed."""

    workload: str
    size: str = "tiny"
    paradigms: tuple[str, ...] = tuple(p.value for p in Paradigm.frameworks())
    paths: tuple[str, ...] = tuple(p.value for p in ServePath)
    rates: tuple[float, ...] = (25.0, 50.0, 100.0)
    duration_s: float = 3.0
    warmup_s: float = 0.5
    warmup_requests: int = 20  # sent one by one before the first point, untimed (JIT, caches)
    slo_ms: float = 50.0
    repetitions: int = 2
    seed: int = 0  # the model's weights and, + repetition, the arrival schedule
    device: str = "cpu"
    threads: int = 1  # torch threads in each server
    rows: int = 1  # rows per request
    max_rows: int = 64  # the most rows a request may carry
    max_body_bytes: int = 1 << 20
    request_timeout_s: float = 5.0
    health_timeout_s: float = 120.0
    windows: int = 5  # a point's measured span in this many windows ...
    stable_windows: int = 3  # ... the last of which must agree ...
    stable_tolerance: float = 0.10  # ... within this fraction of their mean (as perf_analyzer)

    def __post_init__(self) -> None:
        problems = []
        paradigms = {p.value for p in Paradigm.frameworks()}
        paths = {p.value for p in ServePath}
        for p in self.paradigms:
            if p not in paradigms:
                problems.append(f"unknown paradigm {p!r}; valid: {', '.join(sorted(paradigms))}")
        for p in self.paths:
            if p not in paths:
                problems.append(f"unknown serving path {p!r}; valid: "
                                f"{', '.join(x.value for x in ServePath)}")
        if not self.rates or any(not 0 < r < 1e6 for r in self.rates):
            problems.append(f"rates must be positive requests/s, got {list(self.rates)}")
        elif list(self.rates) != sorted(set(self.rates)):
            problems.append(f"rates must rise, each once, got {list(self.rates)}")
        if not 0 <= self.warmup_s < self.duration_s:
            problems.append(f"warm-up ({self.warmup_s} s) must be shorter than a point "
                            f"({self.duration_s} s)")
        if self.warmup_requests < 0:
            problems.append(f"warm-up requests must be >= 0, got {self.warmup_requests}")
        if self.slo_ms <= 0:
            problems.append(f"--slo-ms must be positive, got {self.slo_ms}")
        if self.repetitions < 1 or self.threads < 1:
            problems.append("repetitions and threads must be at least 1")
        if not 1 <= self.rows <= self.max_rows:
            problems.append(f"rows per request must be 1..{self.max_rows}, got {self.rows}")
        if self.device not in ("cpu", "cuda"):
            problems.append(f"device must be cpu or cuda, got {self.device!r}")
        if not 1 <= self.stable_windows <= self.windows:
            problems.append("stable_windows must be between 1 and windows")
        if problems:
            raise SpecError("; ".join(problems))

    def estimated_s(self, server_start_s: float = SERVER_START_S) -> float:
        """Seconds the comparison takes, for a budget: every server's start (the no-op one
        too) and every point's duration, the no-op sweep's points past the grid included."""
        servers = len(self.targets) + 1
        points = len(self.targets) * len(self.rates) + len(self.rates) + len(CEILING_BEYOND)
        return self.repetitions * (servers * server_start_s + points * self.duration_s)

    @property
    def targets(self) -> list[Target]:
        """Every server to sweep; LitServe is Lightning's, so it serves the Lightning model."""
        return [Target(paradigm, path) for paradigm in self.paradigms for path in self.paths
                if path != ServePath.LITSERVE.value or paradigm == Paradigm.LIGHTNING.value]

    @property
    def name(self) -> str:
        workload = self.workload.rsplit("/", 1)[-1].replace(":", "-").removesuffix(".py")
        digest = hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()
        return f"{workload}_{self.size}_{self.device}_{digest[:8]}"

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServeSpec:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in data.items()}
        try:
            return cls(**values)
        except TypeError as exc:
            raise SpecError(f"not a serving comparison: {exc}") from None
