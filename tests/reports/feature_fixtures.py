"""Synthetic records with features, phase probes, profiling repetitions and a calibration cell.

The numbers are chosen so that each derived figure has one right answer: every paradigm's
step time (the mean step) is ``BASE_S[p]`` plus the per-step cost of its features (``COST_S``)
plus a small repetition-to-repetition wobble that is the same for the cells with and without a
feature, so the cost comes out exact; the framework time moves with the step, the compute
phases do not.
"""

from __future__ import annotations

from typing import Any

from tests.reports.fixtures import cell, fake_record

PARADIGMS = ("plain", "lightning", "ignite")
BASE_S = {"plain": 0.0010, "lightning": 0.0016, "ignite": 0.00103}
COMPUTE_S = {"forward": 0.00020, "backward": 0.00025, "optimizer": 0.00005}  # all paradigms
DATA_S = 0.00010  # the wait for each batch, all paradigms
EVERY = 8  # checkpoint and validation every 8 steps: steps 8..40 of 4 + 40, five in the span
FEATURES: dict[str, dict[str, Any]] = {"none": {}, "checkpoint": {"ckpt_every": EVERY},
                                       "validate": {"val_every": EVERY}}
COST_S = {("checkpoint", "plain"): 50e-6, ("checkpoint", "lightning"): 120e-6,
          ("checkpoint", "ignite"): 60e-6, ("validate", "plain"): 80e-6,
          ("validate", "lightning"): 300e-6, ("validate", "ignite"): 100e-6}
CHECKPOINT_BYTES = 2048
VAL_DRIFT = {"plain": 0.0, "lightning": 3e-8, "ignite": 0.0}  # Lightning averages in float32
WOBBLE = (0.0, 4e-6, -3e-6, 6e-6, -5e-6, 1e-6)  # per repetition, shared by every cell
INJECTED_S = 200e-6


def _events(feature: str, paradigm: str, total_steps: int) -> dict[str, Any]:
    steps = range(EVERY, total_steps + 1, EVERY)
    events: dict[str, Any] = {"checkpoints": [], "validations": [], "stopped_at": None,
                              "first_step": 0, "batches_per_epoch": 8,
                              "data_passes": [[e, 0, 8 * e] for e in range(total_steps // 8 + 1)]}
    if feature == "checkpoint":
        events["checkpoints"] = [{"file": f"periodic/step={s:06d}.pt", "bytes": CHECKPOINT_BYTES}
                                 for s in steps]
    if feature == "validate":
        events["validations"] = [{"step": s, "loss": (1.0 + 1 / s) * (1 + VAL_DRIFT[paradigm]),
                                  "accuracy": 0.5 + s / 100} for s in steps]
    return events


def _timed(feature: str, paradigm: str, rep: int, **settings: Any) -> dict[str, Any]:
    cfg = cell("mlp", paradigm, features=FEATURES[feature], **settings)
    step = BASE_S[paradigm] + COST_S.get((feature, paradigm), 0.0) + WOBBLE[rep]
    record = fake_record(cfg, rep, step, noise=0.0)
    events = _events(feature, paradigm, cfg.total_steps)
    record["measurements"].update(
        step_time_s=step,
        phases={f"{k}": v for k, v in COMPUTE_S.items()} | {
            "data": DATA_S, "framework_s": step - sum(COMPUTE_S.values()) - DATA_S,
            "probed_steps": 10.0,
            "step_host_s": step},
        events=events,
        disk={"write_chars": CHECKPOINT_BYTES * len(events["checkpoints"]),
              "write_bytes": CHECKPOINT_BYTES * len(events["checkpoints"])},
    )
    return record


def attribution(paradigm: str, functions: dict[str, float], steps: int = 40) -> dict[str, Any]:
    """A profiling repetition's result: ``functions`` in seconds per step, one call each."""
    framework = sum(functions.values())
    categories = {k: v * steps for k, v in COMPUTE_S.items()} | {
        "framework": framework * steps, "data loading": 1e-4 * steps, "harness probe": 0.0,
        "other": 0.0}
    return {"steps": steps, "profiled_s": sum(categories.values()),
            "python_calls": {"plain": 240, "lightning": 1150, "ignite": 280}[paradigm] * steps,
            "overhead_per_call_s": 2e-7, "categories": categories,
            "functions": {k: v * steps for k, v in functions.items()},
            "calls": dict.fromkeys(functions, float(steps)), "error": None}


TOP_FUNCTIONS = {
    "plain": {"harness.training.adapters.plain:_update": 60e-6},
    "lightning": {"lightning.pytorch.trainer.call:_call_lightning_module_hook": 210e-6,
                  "lightning.pytorch.trainer.call:_call_callback_hooks": 140e-6,
                  "(other framework functions)": 130e-6},
    "ignite": {"ignite.engine.engine:Engine._fire_event": 30e-6},
}


def _profiled(paradigm: str) -> dict[str, Any]:
    cfg = cell("mlp", paradigm, profiler=True)
    record = fake_record(cfg, 0, BASE_S[paradigm], noise=0.0)
    record["measurements"]["attribution"] = attribution(paradigm, TOP_FUNCTIONS[paradigm])
    return record


def _calibration(paradigm: str, measured_s: float) -> list[dict[str, Any]]:
    delay = {"hook_delay_us": INJECTED_S * 1e6, "hook_delay_every": 2}
    timed = fake_record(cell("mlp", paradigm, features=delay), 0, BASE_S[paradigm], noise=0.0)
    timed["measurements"]["step_time_s"] = BASE_S[paradigm]
    timed["measurements"]["calibration"] = {"delayed_steps": 20, "framework_s": measured_s,
                                            "injected_s": INJECTED_S}
    profiled = fake_record(cell("mlp", paradigm, features=delay, profiler=True), 0,
                           BASE_S[paradigm], noise=0.0)
    busy_wait = "harness.training.calibration:busy_wait"
    profiled["measurements"]["attribution"] = attribution(
        paradigm, {busy_wait: INJECTED_S * 1.01 / 2})  # every 2nd step
    profiled["measurements"]["attribution"]["calls"][busy_wait] = 20.0
    # its waits took 5% more than asked (the process was preempted at some of their ends)
    profiled["measurements"]["calibration"] = {"delayed_steps": 20, "framework_s": measured_s,
                                               "injected_s": INJECTED_S,
                                               "waited_s": INJECTED_S * 1.05}
    return [timed, profiled]


def feature_records(repetitions: int = 6) -> list[dict[str, Any]]:
    """Three feature cells (none, checkpoint, validate) per paradigm, a profiling repetition
    of each paradigm's bare cell, and one calibration cell per paradigm."""
    out = [_timed(f, p, rep) for rep in range(repetitions) for f in FEATURES for p in PARADIGMS]
    out += [_profiled(p) for p in PARADIGMS]
    for p, measured in zip(PARADIGMS, (198e-6, 208e-6, 190e-6)):
        out += _calibration(p, measured)
    return out
