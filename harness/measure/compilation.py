"""What ``torch.compile`` did in a cell, read from dynamo's and inductor's own records.

- compile time: dynamo's ``calculate_time_spent()``: the time inside dynamo's frame compiles
  (tracing, AOTAutograd, inductor's code generation and C++/Triton compilation, cache loads)
  plus the backward graphs' compiles, which AOTAutograd runs lazily at the first backward. It
  is paid inside the first step(s); the step time after warm-up does not contain it.
- graphs, graph breaks: ``torch._dynamo.utils.counters`` (``stats.unique_graphs``, the
  ``graph_break`` reasons); recompilations: every compile of a frame after its first (dynamo's
  compile ids, ``frame/compile``), with the guard failures dynamo gives as the reasons
  (``torch._dynamo.utils.guard_failures``); a frame that reached the recompile limit
  (``torch._dynamo.config.recompile_limit``) runs eagerly from then on and is counted under
  ``unimplemented``, so an endlessly recompiling workload ends, with its count.
- the inductor cache: FX graph and AOTAutograd cache hits and misses (a warm cache hits);
  ``harness.analyse.aggregate.cache_state`` turns them into the repetition's cache state.
- host-device syncs per step (CUDA only): counted with torch's sync debug mode over the second
  half of the warm-up (after the compile, before the clock), so that a per-step ``.item()``
  (Ignite's default output, Lightning's DDP broadcast) shows as a number, not only as a slower
  step; the measured steps run without it.

Everything is read twice: at the end of warm-up and at the end of training, so that a compile
that happened among the measured steps shows as such.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

TOP_REASONS = 5
REASON_CHARS = 240
SYNC_WARNING = "synchronizing"  # torch's sync-debug-mode warning: "called a synchronizing ..."


@dataclass
class CompileSnapshot:
    """Dynamo's process-wide totals at one moment."""

    compile_s: float = 0.0
    frame_compile_s: float = 0.0
    backward_compile_s: float = 0.0
    graphs: int = 0
    graph_breaks: int = 0
    recompiles: int = 0

    @classmethod
    def now(cls) -> CompileSnapshot:
        from torch._dynamo.convert_frame import FRAME_COMPILE_COUNTER
        from torch._dynamo.utils import calculate_time_spent, counters

        spent = calculate_time_spent()
        return cls(compile_s=spent.get("total_wall_time", 0.0),
                   frame_compile_s=spent.get("entire_frame_compile", 0.0),
                   backward_compile_s=spent.get("entire_backward_compile", 0.0),
                   graphs=int(counters["stats"]["unique_graphs"]),
                   graph_breaks=int(sum(counters["graph_break"].values())),
                   # a frame's compile ids count 0, 1, 2...: every one past 0 is a recompile
                   # (the attempt that the recompile limit refuses included, as dynamo's
                   # own "recompiles" log counts it)
                   recompiles=sum(n - 1 for n in FRAME_COMPILE_COUNTER.values() if n > 1))

    def minus(self, other: CompileSnapshot) -> CompileSnapshot:
        return CompileSnapshot(*(getattr(self, f) - getattr(other, f)
                                 for f in self.__dataclass_fields__))


@dataclass
class CompileResult:
    total: CompileSnapshot = field(default_factory=CompileSnapshot)
    after_warmup: CompileSnapshot = field(default_factory=CompileSnapshot)  # measured steps
    break_reasons: dict[str, int] = field(default_factory=dict)  # the most frequent, clipped
    recompile_reasons: list[str] = field(default_factory=list)
    recompile_limit: int = 0
    recompile_limit_hit: bool = False
    frames: int = 0
    cache: dict[str, int] = field(default_factory=dict)  # inductor / AOTAutograd hits, misses
    cpp_compiler: str | None = None
    syncs_per_step: float | None = None  # CUDA only: the second half of the warm-up


def _clip(reason: str) -> str:
    """A reason on one line, up to dynamo's hint (what it is and why, not how to fix it)."""
    one_line = " ".join(reason.split("Hint:", 1)[0].split())
    return one_line if len(one_line) <= REASON_CHARS else one_line[: REASON_CHARS - 1] + "…"


class SyncCounter:
    """Counts host-device synchronisations with ``torch.cuda.set_sync_debug_mode("warn")``."""

    def __init__(self) -> None:
        self._caught: Any = None
        self._records: list[warnings.WarningMessage] = []

    def start(self) -> None:
        self._caught = warnings.catch_warnings(record=True)
        self._records = self._caught.__enter__()
        warnings.simplefilter("always")  # every sync warns, not only the first per line
        torch.cuda.set_sync_debug_mode("warn")

    def stop(self) -> int:
        torch.cuda.set_sync_debug_mode("default")
        self._caught.__exit__(None, None, None)
        syncs = [w for w in self._records if SYNC_WARNING in str(w.message)]
        for w in self._records:  # anything else caught meanwhile is shown as it would be
            if SYNC_WARNING not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return len(syncs)


class CompileTracker:
    """Created with the probe of a compiled cell; ``step_end`` after every step."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup = warmup
        self._at_warmup: CompileSnapshot | None = None  # None until the warm-up ends
        self._sync_from = max(1, warmup // 2)
        self._syncs = SyncCounter() if device.type == "cuda" and warmup >= 2 else None
        self._syncs_per_step: float | None = None

    def step_end(self, ran: int) -> None:
        """``ran``: steps this process has run. Cheap outside the two warm-up moments."""
        if self._syncs is not None and ran == self._sync_from:
            self._syncs.start()
        if ran == self.warmup:
            if self._syncs is not None:
                self._syncs_per_step = self._syncs.stop() / (self.warmup - self._sync_from)
            self._at_warmup = CompileSnapshot.now()

    def result(self) -> CompileResult:
        from torch._dynamo import config
        from torch._dynamo.utils import counters, guard_failures

        total = CompileSnapshot.now()
        reasons = sorted(counters["graph_break"].items(), key=lambda kv: -kv[1])
        # dynamo records the failed guard of each cache entry it checked before recompiling
        recompiles = list(dict.fromkeys(_clip(str(r)) for v in guard_failures.values()
                                        for r in v))
        limit_hit = any("recompile limit" in str(k).lower() for k in counters["unimplemented"])
        cache = {f"{kind}_{name}": int(counters[kind][f"{prefix}_{name}"])
                 for kind, prefix in (("inductor", "fxgraph_cache"),
                                      ("aot_autograd", "autograd_cache"))
                 for name in ("hit", "miss")}
        return CompileResult(
            total=total,
            # a run that failed in warm-up measured no step: nothing compiled "after" it
            after_warmup=total.minus(self._at_warmup) if self._at_warmup else CompileSnapshot(),
            break_reasons={_clip(str(k)): int(v) for k, v in reasons[:TOP_REASONS]},
            recompile_reasons=recompiles[:TOP_REASONS],
            recompile_limit=int(config.recompile_limit),
            recompile_limit_hit=limit_hit,
            frames=int(counters["frames"]["total"]),
            cache=cache,
            cpp_compiler=_cpp_compiler(),
            syncs_per_step=self._syncs_per_step,
        )


def _cpp_compiler() -> str | None:
    """The C++ compiler inductor found (None where it found none)."""
    from torch._inductor import cpp_builder, exc

    try:
        return str(cpp_builder.get_cpp_compiler())
    except (exc.InvalidCxxCompiler, RuntimeError, OSError):
        return None
