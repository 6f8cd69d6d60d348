"""Parity evidence: the loss at every step and a digest of the final weights.

Losses are kept as detached device tensors and copied to the host once, at the end, so that
recording them adds no host-device sync inside the timed window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass
class ParityResult:
    losses: list[float] = field(default_factory=list)  # one per step, warm-up included
    weights_sha256: str = ""  # parameters and buffers
    params_sha256: str = ""  # parameters only: equal on every DDP rank (buffers such as
    # BatchNorm statistics are rank-local after the last forward)


def weights_digest(model: nn.Module, buffers: bool = True) -> str:
    """SHA-256 over every parameter (and buffer) as name, dtype, shape, bytes, in name order."""
    h = hashlib.sha256()
    state = model.state_dict() if buffers else dict(model.named_parameters())
    for name, tensor in sorted(state.items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class LossRecorder:
    def __init__(self, copy: bool = False) -> None:
        self._losses: list[Tensor | float] = []
        # a CUDA graph's outputs are overwritten by its next replay: keep copies of those
        self.copy = copy

    def record(self, loss: Tensor | float) -> None:
        """Keep the step's loss; a tensor stays on its device until ``result``."""
        if isinstance(loss, Tensor):
            loss = loss.detach().clone() if self.copy else loss.detach()
        self._losses.append(loss)

    def values(self) -> list[float]:
        """The recorded losses as floats (one host copy)."""
        if self._losses and all(isinstance(x, Tensor) for x in self._losses):
            return torch.stack(self._losses).float().cpu().tolist()  # type: ignore[arg-type]
        return [float(x) for x in self._losses]

    def result(self, model: nn.Module) -> ParityResult:
        return ParityResult(losses=self.values(), weights_sha256=weights_digest(model),
                            params_sha256=weights_digest(model, buffers=False))
