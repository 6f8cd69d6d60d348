"""Which mode an artifact carries, found from its outputs rather than assumed.

BatchNorm and dropout are the layers whose training and eval behaviour differ. The eager model
is run on the probe batch in all four combinations (BatchNorm on batch or running statistics,
dropout on or off), each right after ``torch.manual_seed(PROBE_SEED)``; the artifact is run
after the same seed. TorchScript and an ExportedProgram draw dropout masks from torch's RNG
exactly as eager code does, so an artifact that carries training-mode dropout reproduces the
training-mode reference bit for bit, and the reference it matches names its mode. ONNX Runtime
draws its own random numbers: an artifact whose two calls on the same batch differ carries
active dropout, and then which statistics its BatchNorm uses cannot be read off its outputs.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

from harness.export.runtimes import Runner, as_tensor

PROBE_SEED = 1234
KEPT_VALUES = 4096  # outputs kept in a record (a prefix, flattened); the digest covers them all

Mode = tuple[bool, bool]  # (BatchNorm in training mode, dropout in training mode)
MODES: tuple[Mode, ...] = ((False, False), (True, False), (False, True), (True, True))
EVAL: Mode = (False, False)


def seeded(run: Runner, x: Tensor) -> Tensor:
    torch.manual_seed(PROBE_SEED)
    with torch.inference_mode():
        return as_tensor(run(x)).float()


def references(model: nn.Module, x: Tensor) -> dict[Mode, Tensor]:
    """The eager model's outputs on ``x`` in each mode, each after the probe seed: eval, train
    (the whole model, so that its own ``self.training`` branches count), and each of BatchNorm
    and dropout in training mode alone. Copies run: training-mode BatchNorm updates its stats."""
    out = {}
    for bn, dropout in MODES:
        m = copy.deepcopy(model).train(bn and dropout)  # all of it: its own code may branch
        for module in m.modules():
            if isinstance(module, _BatchNorm):
                module.train(bn)
            elif isinstance(module, _DropoutNd):
                module.train(dropout)
        out[bn, dropout] = seeded(m, x)
    return out


def layers(model: nn.Module) -> dict[str, int]:
    return {"batchnorm": sum(isinstance(m, _BatchNorm) for m in model.modules()),
            "dropout": sum(isinstance(m, _DropoutNd) for m in model.modules())}


def max_diff(a: Tensor, b: Tensor) -> float:
    if a.shape != b.shape:
        return float("inf")
    return float((a - b).abs().max()) if a.numel() else 0.0


def scaled(tol: float, reference: Tensor) -> float:
    """A relative tolerance as an absolute bound on this reference's outputs."""
    return tol * max(1.0, float(reference.abs().max()) if reference.numel() else 1.0)


def digest(t: Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def kept(t: Tensor) -> list[float]:
    return t.reshape(-1)[:KEPT_VALUES].tolist()


@dataclass
class Behaviour:
    """What an artifact's outputs say about the mode it carries."""

    mode: str  # "eval", "train", "mixed" (one kind of layer in each mode) or "undetermined"
    batchnorm: str  # "running statistics", "batch statistics", "none", "undetermined"
    dropout: str  # "inactive", "active", "none", "undetermined"
    stochastic: bool  # two calls on the same batch differ
    max_diff_eval: float  # |artifact - eager eval model|, absolute
    matches: list[str]  # the references it matches, e.g. ["bn-eval/dropout-eval"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _name(mode: Mode) -> str:
    return f"bn-{'train' if mode[0] else 'eval'}/dropout-{'train' if mode[1] else 'eval'}"


def _layer_state(matched: list[Mode], index: int, count: int, names: tuple[str, str]) -> str:
    if not count:
        return "none"
    states = {m[index] for m in matched}
    return names[states.pop()] if len(states) == 1 else "undetermined"


def classify(run: Runner, x: Tensor, refs: dict[Mode, Tensor], tol: float, model: nn.Module
             ) -> tuple[Behaviour, Tensor]:
    """Run the artifact twice on ``x`` and hold its seeded output against each reference."""
    first = seeded(run, x)
    with torch.inference_mode():
        again = as_tensor(run(x)).float()  # no reseed: only a random artifact differs
    stochastic = not torch.equal(first, again)
    bound = scaled(tol, refs[EVAL])
    matched = [m for m in MODES if max_diff(first, refs[m]) <= bound]
    count = layers(model)
    bn = _layer_state(matched, 0, count["batchnorm"], ("running statistics", "batch statistics"))
    dropout = _layer_state(matched, 1, count["dropout"], ("inactive", "active"))
    if stochastic and count["dropout"]:
        dropout = "active"
    if EVAL in matched:
        mode = "eval"
    elif (True, True) in matched:
        mode = "train"
    elif matched:
        mode = "mixed"
    else:
        mode = "undetermined"  # no reference matches: random (ONNX Runtime's dropout), or wrong
    return Behaviour(mode, bn, dropout, stochastic, max_diff(first, refs[EVAL]),
                     [_name(m) for m in matched]), first


def onnx_training_nodes(path: Any) -> dict[str, int]:
    """Nodes of an ONNX graph set to training behaviour: ``Dropout`` whose ``training_mode``
    input is a constant true, ``BatchNormalization`` with ``training_mode=1``. What the graph
    says, whatever a runtime's optimiser later does with it."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    dropout = sum(1 for n in graph.node if n.op_type == "Dropout" and len(n.input) > 2
                  and n.input[2] in constants and bool(constants[n.input[2]]))
    batchnorm = sum(1 for n in graph.node if n.op_type == "BatchNormalization"
                    and any(a.name == "training_mode" and a.i for a in n.attribute))
    return {"dropout": dropout, "batchnorm": batchnorm}
