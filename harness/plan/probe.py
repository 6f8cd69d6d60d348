"""``python -m harness.plan.probe``: measure what a plan's estimate lacks, in a fresh process.

Reads a JSON request on stdin (``harness.plan.estimate.probe_missing``) and prints one JSON
line: the seconds this interpreter took to import torch (when asked), each requested
paradigm's import on top of it (its adapter, as a cell process times it: what a forked cell
process pays before its first step, the torch import being the fork server's), the FLOP rate
of one thread (CPU) or of the device (CUDA) on a timed fp32 matmul, and FLOPs per step of each
requested workload shape, counted on the meta device as the cell process counts them, a timed
plain training step of each of those shapes (eager, CPU), and the
cold compile (an empty inductor cache) of each requested compiled shape.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from harness.process_env import SPAWN_TIME_ENV

MATMUL_N = {"cpu": 256, "cuda": 4096}
LIGHTEST_FIRST = ("plain", "ignite", "lightning")  # the order the probe imports them
MATMUL_SECONDS = 0.3  # long enough to be past the first calls' warm-up, short for a plan


def _flop_rate(device: str) -> float | None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return None
    if device == "cpu":
        torch.set_num_threads(1)  # per thread: the plan scales it by the cell's threads
    n = MATMUL_N[device]
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < MATMUL_SECONDS:
        torch.mm(a, b)
        calls += 1
        if device == "cuda":
            torch.cuda.synchronize()
    return 2 * n**3 * calls / (time.perf_counter() - start)


def _framework_imports(paradigms: list[str]) -> dict[str, float]:
    """Seconds to import each paradigm's adapter after torch, lightest first: what one
    framework shares with the next (few modules) is counted once, for the lighter one."""
    from harness.config import Paradigm
    from harness.launch.worker import import_harness
    from harness.training.adapters import load_adapter

    import_harness()  # what a cell process has imported before its timed framework import
    out: dict[str, float] = {}
    for name in sorted(paradigms, key=LIGHTEST_FIRST.index):
        t0 = time.perf_counter()
        try:
            load_adapter(Paradigm(name))
        except ImportError as exc:  # a paradigm not installed: its cells are `unsupported`
            print(f"{name} not imported: {exc!r:.200}", file=sys.stderr)
            continue
        out[name] = time.perf_counter() - t0
    return out


def _flops(request: dict[str, Any]) -> int | None:
    from harness.discovery import resolve
    from harness.measure.flops import count_step_flops_on_meta
    from harness.training.data import build_loader

    try:
        workload = resolve(request["workload"]).from_size(request["size"])
        loader = build_loader(workload.build_dataset(), request["batch_size"], request["seed"])
        return count_step_flops_on_meta(workload, next(iter(loader)))
    except Exception as exc:  # a workload without meta kernels: its step stays unknown
        print(f"FLOPs of {request['workload']} not counted: {exc!r:.200}", file=sys.stderr)
        return None


STEP_SECONDS = 0.5  # timed steps per shape: a few of a BERT's, hundreds of a tiny MLP's


def _step_time(request: dict[str, Any]) -> float | None:
    """Seconds per plain training step (forward, backward, optimizer) of one shape on one
    CPU thread x the cell's threads, after two untimed steps: closer to a small model's step
    than its FLOPs over the matmul rate, which ignore what each op costs outside arithmetic."""
    import torch

    from harness.discovery import resolve
    from harness.training.data import build_loader

    if request.get("device", "cpu") != "cpu":
        return None
    try:
        torch.set_num_threads(int(request.get("threads", 1)))
        workload = resolve(request["workload"]).from_size(request["size"])
        batch = next(iter(build_loader(workload.build_dataset(), request["batch_size"],
                                       request["seed"])))
        model = workload.build_model()
        optimizer = workload.build_optimizer(model.parameters())
        steps, start = -2, 0.0
        while steps < 1 or time.perf_counter() - start < STEP_SECONDS:
            if steps == 0:
                start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            workload.loss(model, batch).backward()
            optimizer.step()
            steps += 1
        return (time.perf_counter() - start) / steps
    except Exception as exc:  # as _flops: this shape's step falls back to its FLOPs
        print(f"step of {request['workload']} not timed: {exc!r:.200}", file=sys.stderr)
        return None


def _cold_compile(request: dict[str, Any]) -> float | None:
    """Seconds for the first forward + backward of ``torch.compile(model)`` with an empty
    inductor cache (its own folder): what a compiled cell's cold first repetition adds."""
    import tempfile

    import torch

    from harness.discovery import resolve
    from harness.training.data import build_loader

    try:
        with tempfile.TemporaryDirectory(prefix="probe-inductor-") as cache:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # read by inductor on each use
            torch._dynamo.reset()
            workload = resolve(request["workload"]).from_size(request["size"])
            batch = next(iter(build_loader(workload.build_dataset(), request["batch_size"],
                                           request["seed"])))
            compiled: Any = torch.compile(workload.build_model(), mode=request["mode"])
            t0 = time.perf_counter()
            workload.loss(compiled, batch).backward()
            return time.perf_counter() - t0
    except Exception as exc:  # a compile that fails here fails in the cell: it says why
        print(f"cold compile of {request['workload']} not timed: {exc!r:.200}", file=sys.stderr)
        return None


def main() -> None:
    needs = json.loads(sys.stdin.read())
    import torch  # (timed from the spawn: what every cell process pays first)

    out: dict[str, Any] = {}
    spawned = os.environ.get(SPAWN_TIME_ENV)
    if needs.get("torch_import") and spawned:
        out["torch_import_s"] = time.time() - float(spawned)
    out["framework_import_s"] = _framework_imports(needs.get("framework_import", []))
    rates = {d: _flop_rate(d) for d in needs.get("flop_rate", [])}
    out["flop_rate"] = {d: r for d, r in rates.items() if r}
    flops = {r["shape"]: _flops(r) for r in needs.get("flops", [])}
    out["flops"] = {s: f for s, f in flops.items() if f}
    steps = {r["shape"]: _step_time(r) for r in needs.get("flops", [])}
    out["step_s"] = {s: t for s, t in steps.items() if t}
    if needs.get("cold_compile"):
        torch.set_num_threads(1)  # as the cells that compile (one thread each on CPU)
    cold = {r["shape"]: _cold_compile(r) for r in needs.get("cold_compile", [])}
    out["cold_compile_s"] = {s: c for s, c in cold.items() if c}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
