"""The three paradigms' checkpoint files, read back into what a plain ``nn.Module`` loads.

- Lightning (``ModelCheckpoint``): a dict with ``state_dict`` (the LightningModule's, so the
  workload's model sits under ``model.``), ``optimizer_states``, ``lr_schedulers``, the loops'
  progress and ``global_step``; the GradScaler under the precision plugin's name.
- Ignite (``Checkpoint`` + ``DiskSaver``): one dict holding each object of ``to_save`` by its
  key: ``model``, ``optimizer``, ``trainer`` (iteration and epoch), ``lr_scheduler``,
  ``scaler``.
- plain: the same keys as Ignite's, plus the step, epoch and batch position written by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

LIGHTNING_PREFIX = "model."  # WorkloadModule keeps the workload's model as ``self.model``


def plain_checkpoint_name(step: int) -> str:
    return f"step={step:06d}.pt"


def load(path: Path | str) -> dict[str, Any]:
    """A checkpoint file of any paradigm (our own files, so full unpickling is allowed)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def model_state(checkpoint: dict[str, Any]) -> dict[str, Tensor]:
    """The workload model's ``state_dict`` from a checkpoint of any of the three paradigms."""
    if "state_dict" in checkpoint:  # Lightning
        return {k.removeprefix(LIGHTNING_PREFIX): v for k, v in checkpoint["state_dict"].items()
                if k.startswith(LIGHTNING_PREFIX)}
    return checkpoint["model"]


def optimizer_steps(checkpoint: dict[str, Any], accumulate: int = 1) -> int:
    """The optimizer steps a checkpoint was taken after."""
    if "global_step" in checkpoint:  # Lightning counts optimizer steps
        return int(checkpoint["global_step"])
    if "step" in checkpoint:  # plain
        return int(checkpoint["step"])
    return int(checkpoint["trainer"]["iteration"]) // accumulate  # Ignite counts batches
