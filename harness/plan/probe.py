"""``python -m harness.plan.probe``: measure what a plan's estimate lacks, in a fresh process.

Reads a JSON request on stdin (``harness.plan.estimate.probe_missing``) and prints one JSON
line: the seconds this interpreter took to import torch (when asked), each requested
paradigm's import on top of it (its adapter, as a cell process times it: what a forked cell
process pays before its first step, the torch import being the fork server's), the FLOP rate
of one thread (CPU) or of the device (CUDA) on a timed matmul in each requested precision's
dtype (fp32, bf16, fp16: a GPU's rates differ several times over), and FLOPs per step of each
requested workload shape, counted on the meta device as the cell process counts them, a timed
plain training step of each of those shapes (eager, CPU, each step drawing its batch from the
cells' loader), each shape's set-up (what a cell process spends outside its steady steps:
building the data, model and optimizer, its first steps' excess over the steady one, the FLOP
count), the cost of a fork that makes the fork server's pages its own (what every forked cell
pays first, ``harness.launch.pages``), and the cold compile (an empty inductor cache) of each
requested compiled shape.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from harness.process_env import SPAWN_TIME_ENV

MATMUL_N = {"cpu": 256, "cuda": 4096}
LIGHTEST_FIRST = ("plain", "plain-aa", "ignite", "lightning")  # the order the probe imports them
MATMUL_SECONDS = 0.3  # long enough to be past the first calls' warm-up, short for a plan


MATMUL_DTYPE = {"fp32": "float32", "bf16-mixed": "bfloat16", "fp16-mixed": "float16"}


def _flop_rate(key: str) -> float | None:
    """FLOP/s of a square matmul on ``key``'s device (``cpu/fp32``, ``cuda/bf16-mixed``...)
    in the dtype its precision multiplies in (a mixed-precision step's matmuls run in it)."""
    import torch

    device, _, precision = key.partition("/")
    dtype = getattr(torch, MATMUL_DTYPE.get(precision, "float32"))
    if device == "cuda" and not torch.cuda.is_available():
        return None
    if device == "cpu":
        torch.set_num_threads(1)  # per thread: the plan scales it by the cell's threads
    n = MATMUL_N[device]
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
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
        except (ImportError, NotImplementedError) as exc:  # not installed: `unsupported`
            print(f"{name} not imported: {exc!r:.200}", file=sys.stderr)
            continue
        out[name] = time.perf_counter() - t0
    return out


def _flops(request: dict[str, Any]) -> tuple[int | None, float]:
    """FLOPs per step of one shape, and the seconds the count took (a cell counts them too)."""
    from harness.discovery import resolve
    from harness.measure.flops import count_step_flops_on_meta
    from harness.training.data import build_loader

    try:
        workload = resolve(request["workload"]).from_size(request["size"])
        loader = build_loader(workload.build_dataset(), request["batch_size"], request["seed"])
        batch = next(iter(loader))
        t0 = time.perf_counter()
        return count_step_flops_on_meta(workload, batch), time.perf_counter() - t0
    except Exception as exc:  # a workload without meta kernels: its step stays unknown
        print(f"FLOPs of {request['workload']} not counted: {exc!r:.200}", file=sys.stderr)
        return None, 0.0


def _batches(loader: Any) -> Iterator[Any]:
    """The loader's batches, epoch after epoch, as a cell draws them."""
    while True:
        yield from loader


STEP_SECONDS = 0.5  # timed steps per shape: a few of a BERT's, hundreds of a tiny MLP's


def _step_time(request: dict[str, Any]) -> tuple[float | None, float | None]:
    """Seconds per plain training step (forward, backward, optimizer, the next batch from the
    cells' loader) of one shape on one CPU thread x the cell's threads, after two untimed
    steps: closer to a small model's step than its FLOPs over the matmul rate, which ignore
    what each op costs outside arithmetic. And the set-up before the steady steps: building
    the data, model and optimizer, and the two first steps' excess over two steady ones."""
    import torch

    from harness.config import Precision
    from harness.discovery import resolve
    from harness.precision import AmpPolicy
    from harness.training.data import build_loader

    if request.get("device", "cpu") != "cpu":
        return None, None
    # a mixed-precision step autocasts its forward and loss as the cells do (bf16 on a CPU
    # without bf16 units: several times the fp32 step)
    amp = AmpPolicy(Precision(request.get("precision", "fp32")), "cpu")
    try:
        torch.set_num_threads(int(request.get("threads", 1)))
        built = time.perf_counter()
        workload = resolve(request["workload"]).from_size(request["size"])
        batches = _batches(build_loader(workload.build_dataset(), request["batch_size"],
                                        request["seed"]))
        model = workload.build_model()
        optimizer = workload.build_optimizer(model.parameters())
        steps, start = -2, 0.0
        while steps < 1 or time.perf_counter() - start < STEP_SECONDS:
            if steps == 0:
                start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with amp.autocast():
                loss = workload.loss(model, next(batches))
            loss.backward()
            optimizer.step()
            steps += 1
        step = (time.perf_counter() - start) / steps
        return step, max(start - built - 2 * step, 0.0)
    except Exception as exc:  # as _flops: this shape's step falls back to its FLOPs
        print(f"step of {request['workload']} not timed: {exc!r:.200}", file=sys.stderr)
        return None, None


def _fork_s() -> float | None:
    """Seconds from a fork to the child's exit, the child first making this process's pages
    its own as a forked cell does (``harness.launch.pages``): what a cell forked from a fork
    server pays before its config is read. None where this host cannot fork that way (the
    runner spawns there: the torch import stands in)."""
    from harness.launch.pages import make_own, resident_pages, unfit

    pages = resident_pages()
    if unfit(pages) is not None or not hasattr(os, "fork"):
        return None
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: nothing but the pages, then gone (no atexit, no buffers)
        try:
            make_own(pages)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return time.perf_counter() - start


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
    import torch._dynamo  # (as the cell worker: counted in torch's import, not a framework's)

    out: dict[str, Any] = {}
    spawned = os.environ.get(SPAWN_TIME_ENV)
    if needs.get("torch_import") and spawned:
        out["torch_import_s"] = time.time() - float(spawned)
    if needs.get("fork"):  # as the bare fork server: torch and the harness, no framework
        from harness.launch.worker import import_harness

        import_harness()
        out["fork_s"] = _fork_s()
    out["framework_import_s"] = _framework_imports(needs.get("framework_import", []))
    rates = {d: _flop_rate(d) for d in needs.get("flop_rate", [])}
    out["flop_rate"] = {d: r for d, r in rates.items() if r}
    shapes = {r["shape"]: r for r in [*needs.get("flops", []), *needs.get("setup", [])]}
    flops = {s: _flops(r) for s, r in shapes.items()}
    out["flops"] = {s: f for s, (f, _) in flops.items() if f}
    steps = {s: _step_time(r) for s, r in shapes.items()}
    out["step_s"] = {s: t for s, (t, _) in steps.items() if t}
    out["setup_s"] = {s: setup + flops[s][1] for s, (_, setup) in steps.items()
                      if setup is not None}
    if needs.get("cold_compile"):
        torch.set_num_threads(1)  # as the cells that compile (one thread each on CPU)
    cold = {r["shape"]: _cold_compile(r) for r in needs.get("cold_compile", [])}
    out["cold_compile_s"] = {s: c for s, c in cold.items() if c}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
