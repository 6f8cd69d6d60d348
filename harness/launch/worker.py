"""One cell, inside its own fresh process: ``python -m harness.launch.worker CONFIG.json OUT_DIR``.

Launched by the runner directly (world size 1), by torchrun (one per rank), or forked by the
fork server (``harness.launch.forkserver``, world size 1), which has run this module's imports
once. Each rank writes ``OUT_DIR/rank<R>.json`` with its status and measurements; the runner
merges them. Torch is imported first and timed, the framework is imported (and timed) only once
the config is known, so that the start-up figures are each paradigm's own. Every rank file
carries ``lifecycle``: the wall-clock time of each phase boundary, in seconds since the spawn
(or the fork request) the runner passed in ``PARADIGM_BENCH_SPAWN_TIME``.
"""

from __future__ import annotations

import time

_WALL0, _PERF0 = time.time(), time.perf_counter()
import torch  # noqa: E402  (timed on purpose)
import torch._dynamo  # noqa: E402

# torch defers importing torch._dynamo (about 1 s here) until first needed: by the first
# forward/backward of a plain loop, or by Lightning's and Ignite's own imports. Paid here, it
# counts as torch's import for every paradigm, instead of inflating one framework's import
# and the plain loop's first step.

IMPORT_TORCH_S = time.perf_counter() - _PERF0

import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from harness.config import CellConfig, Scenario  # noqa: E402
from harness.launch import readout  # noqa: E402
from harness.launch.failures import classify  # noqa: E402
from harness.process_env import SPAWN_TIME_ENV  # noqa: E402
from harness.results import Status, write_json_atomic  # noqa: E402

TRACEBACK_TAIL_LINES = 30
# Wall-clock time of each phase boundary of this process (``mark``). A forked child starts
# from its own ``forked`` mark: what came before it (interpreter start, these imports) was the
# fork server's, paid once and given as ``PRELOADED_S``.
LIFECYCLE: dict[str, float] = {"interpreter_started": _WALL0,
                               "torch_imported": _WALL0 + IMPORT_TORCH_S,
                               "harness_imported": time.time()}
PRELOADED_S = 0.0  # the fork server's spawn to ready (set in a forked child; 0 when spawned)
PAGES: dict[str, Any] | None = None  # a forked child's ``pages.Owned`` (None when spawned)
# The harness modules ``prepare`` imports before the paradigm's timed import; the fork server
# imports exactly these (and this module), so that a forked child's framework import starts
# from the same loaded modules as a spawned one's. ``harness.measure.flops`` (counted after
# the step; it loads torch.utils.flop_counter, which Lightning's import also loads) is among
# them so that no paradigm's timed import pays for it.
PREPARE_MODULES = ("harness.discovery", "harness.measure.flops", "harness.measure.memory",
                   "harness.measure.phases", "harness.training.adapters",
                   "harness.training.context", "harness.training.faults")


def mark(name: str) -> None:
    """Record a phase boundary of this process (``lifecycle`` in the rank file)."""
    LIFECYCLE[name] = time.time()


def import_harness() -> None:
    """Import what ``prepare`` needs before the framework import (no paradigm among it)."""
    for name in PREPARE_MODULES:
        importlib.import_module(name)


def configure_process(cfg: CellConfig, local_rank: int) -> torch.device:
    """Threads and backend flags: set by the harness, identically for every paradigm (rule 10)."""
    torch.set_num_threads(cfg.threads)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = False
    # fp32 means IEEE fp32 for matmuls and convolutions alike (torch's default lets cuDNN use
    # TF32), pinned here so that no framework changes it and MFU has one meaning.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if cfg.device == "cuda":
        if not torch.cuda.is_available():
            # an error, not `unsupported`: the host or the install is at fault, not the cell,
            # so a resume on a CUDA host (or with a CUDA torch) runs the cell again
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise RuntimeError(f"device 'cuda' requested but torch {torch.__version__} "
                               f"({build}) sees no CUDA device")
        torch.cuda.set_device(local_rank)
        # the CUDA context, created here for every cell (a synchronize needs one and allocates
        # nothing): whether the dataset goes to the device or the model does first, the
        # context's creation lands before the clock, and after the NVML idle baseline
        torch.cuda.synchronize(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


@dataclass
class Prepared:
    """A cell ready to train: its run context (clock not started) and the paradigm's adapter."""

    ctx: Any  # harness.training.context.RunContext (imported lazily: it imports the trackers)
    adapter: Any
    pristine_loss: Any  # the workload's own ``loss``, before any probe or fault wraps it
    import_framework_s: float


def prepare(cfg: CellConfig, rank: int, local_rank: int, world: int) -> Prepared:
    """Build the workload and its data, import the paradigm (timed), attach the probes."""
    import_harness()
    mark("harness_ready")
    from harness.discovery import import_requirements, resolve
    from harness.measure.memory import nvml_idle_snapshot
    from harness.measure.phases import PROBED_FRACTION, PhaseTimer
    from harness.training.adapters import load_adapter
    from harness.training.context import RunContext, placed
    from harness.training.faults import inject_bug

    idle = nvml_idle_snapshot() if cfg.device == "cuda" else None  # before any CUDA context
    mark("nvml_ready")
    device = configure_process(cfg, local_rank)
    mark("device_ready")
    workload_cls = resolve(cfg.workload)
    import_requirements(workload_cls)  # or `unsupported`; before the paradigm's timed import
    workload = workload_cls.from_size(cfg.size)
    import_model_code(workload)
    mark("workload_built")
    dataset = workload.build_dataset()
    mark("dataset_built")
    dataset = placed(dataset, cfg, device)
    mark("data_placed")
    pristine = workload.loss  # the FLOP count after training runs the workload's own code

    t0 = time.perf_counter()
    adapter = load_adapter(cfg.paradigm)
    import_framework_s = time.perf_counter() - t0
    mark("framework_imported")

    if cfg.features.raise_at_step:
        inject_bug(workload, cfg.features.raise_at_step, cfg.features.accumulate)
    # a calibration cell checks attribution, not overhead: every step is probed there
    phases = PhaseTimer(1.0 if cfg.features.hook_delay_us else PROBED_FRACTION,
                        timed_syncs=device.type == "cuda") \
        if cfg.phases else None
    if phases is not None:
        phases.attach(workload)
    ctx = RunContext(cfg, workload, dataset, device, rank, local_rank, world,
                     work_dir=Path.cwd(), phases=phases, idle_memory=idle)
    mark("prepared")
    return Prepared(ctx, adapter, pristine, import_framework_s)


def import_model_code(workload: Any) -> None:
    """For a workload built by a library (``requires``): build the model once on the meta
    device (shapes only: no memory, no arithmetic), before the paradigm's timed import and its
    clock.

    Libraries import a model's code on first use (transformers imports the model's module, and
    with it torchvision, when the model is first built), and Lightning's own import pulls in
    some of the same modules (its torchmetrics imports torchvision). Without this, the plain
    loop's and Ignite's first step would pay imports that Lightning's import had paid.
    The seeded build inside the clock comes after, unchanged.
    """
    if not workload.requires:
        return  # a model written with torch alone imports nothing on first use
    try:
        with torch.device("meta"):
            workload.build_model()
    except Exception as exc:  # it still builds for real, inside the clock, as before
        print(f"[harness] building the model on the meta device failed ({exc!r:.200}); "
              "its lazy imports fall inside the first step", file=sys.stderr)


def train(prepared: Prepared) -> torch.nn.Module:
    """Start the clock and train through the paradigm; check every step ran."""
    ctx = prepared.ctx
    probe = ctx.start_clock()
    model = prepared.adapter.train(ctx)
    mark("trained")
    if probe.events.stopped_at is not None:
        probe.finish()  # stopped early: read the peaks the last step would have read
    elif probe.step != ctx.cfg.total_steps:
        raise RuntimeError(f"{ctx.cfg.paradigm.value} ran {probe.step} of "
                           f"{ctx.cfg.total_steps} steps")
    ctx.workload.loss = prepared.pristine_loss
    return model


def run(cfg: CellConfig, rank: int, local_rank: int, world: int, cell: dict[str, Any]
        ) -> dict[str, Any]:
    """Build the workload, import the paradigm, train, and return this rank's measurements.

    ``cell`` receives the run context as soon as it exists, so that a failure later on can
    still report what was measured up to it (``partial``).
    """
    if cfg.scenario is not Scenario.TRAIN:
        return after_training(cfg, cell)
    prepared = prepare(cfg, rank, local_rank, world)
    cell["ctx"] = ctx = prepared.ctx
    model = train(prepared)
    out = readout.measurements(ctx, model, on_flops_counted=lambda: mark("flops_counted"))
    ends = ctx.probe.timer.step_ends
    LIFECYCLE.update(first_step=_wall(ends[0]), warmed_up=_wall(ends[cfg.warmup - 1]),
                     last_step=_wall(ends[-1]))
    out["startup"] = {
        "import_torch_s": IMPORT_TORCH_S,
        "import_framework_s": prepared.import_framework_s,
        "to_first_step_s": out["timing"]["first_step_s"],
        # a forked child adds the server's spawn to ready: what a spawned process pays itself
        "spawn_to_first_step_s": PRELOADED_S + _wall(ends[0]) - spawn_time(),
        "preloaded_s": PRELOADED_S,
    }
    return out


def _wall(perf: float) -> float:
    """A perf_counter() reading as wall-clock time (the monotonic clock survives a fork)."""
    return _WALL0 + (perf - _PERF0)


def spawn_time() -> float:
    """When the runner started this process (spawned, or asked the fork server for it)."""
    return float(os.environ.get(SPAWN_TIME_ENV, _WALL0))


def lifecycle() -> dict[str, float]:
    """The phase boundaries so far, in seconds since the spawn, in order."""
    spawn = spawn_time()
    return {name: wall - spawn for name, wall in sorted(LIFECYCLE.items(), key=lambda m: m[1])}


def after_training(cfg: CellConfig, cell: dict[str, Any]) -> dict[str, Any]:
    """An export cell (train, then ``harness.export``) or a predict cell (``harness.predict``,
    nothing trained): one process, the scenario's own figures plus the import times."""
    from harness.measure.environment import capture_runtime

    if cfg.scenario is Scenario.EXPORT:
        from harness.export import cell as export

        prepared = prepare(export.training_config(cfg), 0, 0, 1)
        cell["ctx"] = prepared.ctx
        out = export.run(prepared, train(prepared))
    else:
        from harness.predict import cell as predict

        prepared = prepare(cfg, 0, 0, 1)
        out = predict.run(prepared)
    out.setdefault("startup", {}).update(import_torch_s=IMPORT_TORCH_S,
                                         import_framework_s=prepared.import_framework_s)
    out.update(scenario=cfg.scenario.value, runtime=capture_runtime())
    return out


def main(argv: list[str]) -> int:
    config_path, out_dir = Path(argv[0]), Path(argv[1])
    cfg = CellConfig.from_dict(json.loads(config_path.read_text()))
    mark("config_read")
    rank = int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    out: dict[str, Any] = {"rank": rank}
    cell: dict[str, Any] = {}
    try:
        out.update(run(cfg, rank, local_rank, world, cell), status=Status.OK.value)
        code = 0
    except BaseException as exc:  # recorded, never lost: the runner reads this file
        tail = traceback.format_exc().splitlines()[-TRACEBACK_TAIL_LINES:]
        out.update(
            status=classify(exc).value,
            error_type=type(exc).__name__,
            message=str(exc)[:2000],
            traceback_tail="\n".join(tail),
        )
        print(f"[harness] rank {rank}: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        if "ctx" in cell and getattr(cell["ctx"], "probe", None) is not None:
            out["partial"] = readout.partial(cell["ctx"])  # what it measured is kept
    mark("measured")
    if PAGES is not None:
        out["pages"] = PAGES
    out["lifecycle"] = lifecycle()  # the runner adds when the file was written and the exit
    write_json_atomic(out_dir / f"rank{rank}.json", out)
    return code


def exit_now(code: int) -> None:
    """End the process once its rank file is written, without the interpreter's teardown
    (about a second with torch loaded, measured by ``benchmarks/process_cost.py``): nothing
    after the rank file is measured, and the runner ends whatever the process left running
    (DataLoader or compile workers) with its session."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed stream must not keep the process alive
            pass
    os._exit(code)


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
