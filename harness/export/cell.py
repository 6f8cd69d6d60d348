"""The export cell (``scenario = "export"``): train, then export and check every artifact.

The cell trains through its paradigm like any training cell, with one checkpoint at the last
step. Two sources are then exported, format by format:

- ``trained``: the object the user holds after training, in whatever mode the framework left
  it (all three leave it in training mode), through that paradigm's documented calls
  (``harness.export.formats``): Lightning's ``to_torchscript``/``to_onnx`` on the
  LightningModule, torch's calls on the model for Ignite and the plain loop;
- ``checkpoint``: the paradigm's checkpoint file loaded into the workload's own ``nn.Module``
  and put in eval mode, through torch's calls.

Each export is timed (the save included), its warnings recorded, its artifact's size taken;
the artifact is loaded as a service would load it, run on a probe batch it was not traced on,
and held against the eager model in eval mode (``harness.export.behaviour``). An exporter that
refuses the model records that format ``unsupported`` with its own message and the rest go on.
An export call that changes the model (tracing a training-mode model updates BatchNorm's
running statistics) is recorded, and the model is restored before the next format. Formats run
in ``Format``'s order in every paradigm, after one untimed ``torch.export`` of a tiny module
and the ONNX imports, so that no format pays the exporters' one-time set-up.
"""

from __future__ import annotations

import dataclasses
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from harness.config import CellConfig, Paradigm
from harness.export import behaviour, runtimes
from harness.export.formats import (
    FILE_NAMES,
    LIGHTNING_CALLS,
    TORCH_CALLS,
    ExportCall,
    Format,
    Source,
    onnx_missing,
    tolerance,
)
from harness.measure.parity import weights_digest
from harness.precision import UnsupportedConfig
from harness.training.data import build_val_loader, to_device
from harness.training.features import checkpoints

MESSAGE_CHARS = 800
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def training_config(cfg: CellConfig) -> CellConfig:
    """The cell as it trains: with a checkpoint at its last step, unless it asks for its own."""
    f = cfg.features
    if f.ckpt_every or f.ckpt_best_k:
        return cfg
    return cfg.replace(features=dataclasses.replace(f, ckpt_every=cfg.total_steps))


@dataclass
class Subject:
    """One source: the object the export calls receive and the workload's model inside it."""

    source: Source
    obj: nn.Module
    model: nn.Module
    calls: tuple[ExportCall, ...]

    @property
    def device(self) -> torch.device:
        return next(iter(self.obj.parameters()), torch.empty(0)).device


class Snapshot:
    """An object's state and every submodule's training flag, to tell whether an export call
    changed them and to put them back."""

    def __init__(self, obj: nn.Module) -> None:
        self.obj = obj
        self.state = {k: v.detach().clone() for k, v in obj.state_dict().items()}
        self.flags = [m.training for m in obj.modules()]

    def changed(self) -> list[str]:
        now = self.obj.state_dict()
        return sorted(k for k, v in self.state.items() if not torch.equal(v, now[k]))

    def restore(self) -> None:
        self.obj.load_state_dict(self.state)
        for module, flag in zip(self.obj.modules(), self.flags):
            module.training = flag


def message(exc: BaseException) -> str:
    """An exporter's own message, as one readable string (its colour codes removed)."""
    text = ANSI.sub("", f"{type(exc).__name__}: {exc}").strip()
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def captured(fn: Callable[[], Any]) -> tuple[float, list[dict[str, Any]], BaseException | None]:
    """Run ``fn`` timed, with every warning it raises recorded; its exception is returned."""
    error: BaseException | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            fn()
        except Exception as exc:
            error = exc
        elapsed = time.perf_counter() - start
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for w in caught:
        text = ANSI.sub("", str(w.message)).strip()[:300]
        entry = seen.setdefault((w.category.__name__, text), {
            "category": w.category.__name__, "message": text, "count": 0,
            "deprecation": issubclass(w.category, DeprecationWarning | FutureWarning)})
        entry["count"] += 1
    return elapsed, list(seen.values()), error


def _checkpoint_file(work_dir: Path) -> Path:
    files = sorted(p for p in (work_dir / "ckpt" / "periodic").glob("*") if p.is_file())
    if not files:
        raise RuntimeError(f"training wrote no periodic checkpoint under {work_dir / 'ckpt'}")
    return files[-1]


def subjects(ctx: Any, model: nn.Module) -> tuple[list[Subject], dict[str, Any]]:
    """The trained object and the checkpoint-loaded module, with what is known of each."""
    lightning = ctx.cfg.paradigm is Paradigm.LIGHTNING and ctx.trained is not None
    trained = Subject(Source.TRAINED, ctx.trained if lightning else model, model,
                      LIGHTNING_CALLS if lightning else TORCH_CALLS)
    path = _checkpoint_file(ctx.work_dir)
    loaded = ctx.workload.build_model()
    loaded.load_state_dict(checkpoints.model_state(checkpoints.load(path)))
    loaded = loaded.to(ctx.device).eval()
    digest = weights_digest(model)
    info = {
        Source.TRAINED.value: {"object": type(trained.obj).__name__, "weights_sha256": digest,
                               "training_mode": trained.obj.training,
                               "device": str(trained.device)},
        Source.CHECKPOINT.value: {"file": str(path.relative_to(ctx.work_dir)),
                                  "weights_sha256": weights_digest(loaded),
                                  "same_as_trained": weights_digest(loaded) == digest,
                                  "training_mode": False, "device": str(ctx.device)},
    }
    return [trained, Subject(Source.CHECKPOINT, loaded, loaded, TORCH_CALLS)], info


def probe_batches(ctx: Any) -> tuple[Tensor, Tensor]:
    """The example an artifact is traced or exported with (batch 0 of the dataset in order)
    and the probe it is checked on (batch 1): an artifact must hold beyond its example."""
    b = ctx.cfg.batch_size
    if len(ctx.dataset) < 2 * b:
        raise UnsupportedConfig(f"export checks need two batches of {b}; the dataset holds "
                                f"{len(ctx.dataset)} samples")
    batches = iter(build_val_loader(ctx.dataset, b))
    return tuple(ctx.workload.model_input(to_device(next(batches), torch.device("cpu")))
                 for _ in range(2))


def warm_up() -> float:
    """Pay the exporters' one-time costs outside any timed export: the ONNX packages' imports
    and a first ``torch.export`` (which the ONNX exporter also runs) of a tiny module."""
    start = time.perf_counter()
    if onnx_missing() is None:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.export(nn.Linear(2, 2), (torch.zeros(1, 2),))
    return time.perf_counter() - start


def _folder_bytes(folder: Path) -> int:
    """The artifact's size: every file the export wrote (ONNX may put weights beside it)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def export_one(subject: Subject, call: ExportCall, example: Tensor, probe: Tensor,
               refs: dict[behaviour.Mode, Tensor], folder: Path, threads: int
               ) -> dict[str, Any]:
    """Export ``subject`` with ``call``, load the artifact, run it and judge its outputs."""
    device = subject.device
    entry: dict[str, Any] = {"source": subject.source.value, "format": call.format.value,
                             "call": call.text, "device": str(device),
                             "mode_at_export": "train" if subject.obj.training else "eval",
                             "tolerance": tolerance(device, call.format)}
    if call.format is Format.ONNX and (missing := onnx_missing()):
        return {**entry, "status": "unsupported", "message": missing}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAMES[call.format]
    snapshot = Snapshot(subject.obj)
    export_s, caught, error = captured(lambda: call.write(subject.obj, example.to(device), path))
    entry.update(export_s=export_s, warnings=caught, changed_model=snapshot.changed())
    snapshot.restore()
    if error is not None:
        return {**entry, "status": "unsupported", "message": message(error)}
    entry["size_bytes"] = _folder_bytes(folder)
    try:
        start = time.perf_counter()
        run = runtimes.load(call.format, path, device, threads)
        entry["load_s"] = time.perf_counter() - start
        found, outputs = behaviour.classify(run, probe.to(device), refs, entry["tolerance"],
                                            subject.model)
        if call.format is Format.ONNX:
            entry["graph_training_nodes"] = behaviour.onnx_training_nodes(path)
            raw = runtimes.load(call.format, path, device, threads, optimise=False)
            entry["unoptimised"] = behaviour.classify(raw, probe.to(device), refs,
                                                      entry["tolerance"], subject.model
                                                      )[0].to_dict()
    except Exception as exc:  # exported, but the artifact does not load or run
        return {**entry, "status": "failed", "message": message(exc)}
    bound = behaviour.scaled(entry["tolerance"], refs[behaviour.EVAL])
    return {**entry, "status": "ok", "behaviour": found.to_dict(),
            "passed": found.max_diff_eval <= bound, "bound": bound,
            "outputs_sha256": behaviour.digest(outputs), "outputs": behaviour.kept(outputs)}


def run(prepared: Any, model: nn.Module) -> dict[str, Any]:
    """Every format from both sources, after training; the worker records what it returns."""
    ctx = prepared.ctx
    example, probe = probe_batches(ctx)
    setup_s = warm_up()
    found, info = subjects(ctx, model)
    exports, eager = [], {}
    for subject in found:
        refs = behaviour.references(subject.model, probe.to(subject.device))
        eval_out = refs[behaviour.EVAL]
        eager[subject.source.value] = {"outputs_sha256": behaviour.digest(eval_out),
                                       "outputs": behaviour.kept(eval_out),
                                       "layers": behaviour.layers(subject.model)}
        for call in subject.calls:
            folder = ctx.work_dir / "artifacts" / subject.source.value / call.format.value
            exports.append(export_one(subject, call, example, probe, refs, folder,
                                      ctx.cfg.threads))
    return {"exports": exports, "sources": info, "eager": eager, "setup_s": setup_s,
            "probe": {"seed": behaviour.PROBE_SEED, "rows": int(probe.shape[0]),
                      "example": "batch 0 in order", "checked_on": "batch 1 in order"}}
