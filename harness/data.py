"""One data recipe for all three paradigms (fairness rule 3).

Every paradigm gets the same DataLoader: an explicit epoch-seeded sampler (sharded by rank
under DDP), a seeded ``torch.Generator``, the same workers and pin_memory, ``drop_last`` so
every step sees a full batch. The permutation depends only on (seed, epoch), never on how many
times a framework calls ``iter()`` on the loader: that is what keeps Lightning, which does not
iterate a loader past its end, in step with loops that do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochShardedSampler(Sampler[int]):
    """Permutes ``range(length)`` from (seed, epoch) and keeps this rank's share.

    Like ``DistributedSampler(shuffle=True, drop_last=True)`` but with world size 1 allowed
    and no process group needed: rank ``r`` takes indices ``r, r + world, ...`` of the epoch's
    permutation, so the global batch at world size N holds the same samples in the same
    order as N consecutive per-rank batches would.

    >>> s = EpochShardedSampler(8, seed=0, rank=0, world_size=2)
    >>> len(list(s)) == len(s) == 4
    True
    """

    def __init__(self, length: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.length, self.seed, self.rank, self.world_size = length, seed, rank, world_size
        self.epoch = 0
        self.skip = 0  # samples of this epoch's share to leave out once (an exact resume)
        # (epoch, first position, optimizer steps done) of every iter(); the harness sets
        # ``clock`` to read the steps done
        self.passes: list[tuple[int, int, int]] = []
        self.clock: Callable[[], int] = lambda: 0

    def set_epoch(self, epoch: int) -> None:
        """Called at the start of every epoch (Lightning does it itself; plain and Ignite too)."""
        self.epoch = epoch

    def skip_once(self, samples: int) -> None:
        """Start the next pass ``samples`` into the epoch's share: how a hand-written loop
        resumes mid-epoch exactly. Frameworks that restart the epoch's data do not call it."""
        self.skip = samples

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.length, generator=g)[: len(self) * self.world_size]
        start, self.skip = self.skip, 0
        self.passes.append((self.epoch, start, self.clock()))
        return iter(order[self.rank :: self.world_size][start:].tolist())

    def __len__(self) -> int:
        return self.length // self.world_size


def build_loader(
    dataset: Dataset,
    batch_size: int,
    seed: int,
    *,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """The training DataLoader every paradigm uses, identical in all three."""
    sampler = EpochShardedSampler(len(dataset), seed, rank, world_size)  # type: ignore[arg-type]
    if len(sampler) < batch_size:
        raise ValueError(
            f"dataset of {len(dataset)} samples gives {len(sampler)} per rank, "  # type: ignore[arg-type]
            f"fewer than one batch of {batch_size}"
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=workers > 0,
    )


def build_val_loader(dataset: Dataset, batch_size: int, *, workers: int = 0,
                     pin_memory: bool = False) -> DataLoader:
    """The validation DataLoader: fixed order, full batches only, the training batch size.

    Every rank evaluates the whole set (validation is not sharded), so every paradigm and every
    rank computes the same metrics; equal batches make the mean of batch means the mean.
    """
    if len(dataset) < batch_size:  # type: ignore[arg-type]
        raise ValueError(f"validation set of {len(dataset)} samples is smaller than one "  # type: ignore[arg-type]
                         f"batch of {batch_size}")
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=True,
                      num_workers=workers, pin_memory=pin_memory,
                      persistent_workers=workers > 0)


def data_passes(loader: DataLoader) -> list[tuple[int, int, int]]:
    """(epoch, first sample position, optimizer steps done) of every pass the loader's sampler
    started."""
    sampler = loader.sampler
    return list(sampler.passes) if isinstance(sampler, EpochShardedSampler) else []


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Advance the loader's sampler to ``epoch`` (what DDP loops do at each epoch start)."""
    sampler = loader.sampler
    if isinstance(sampler, EpochShardedSampler):
        sampler.set_epoch(epoch)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a (nested) batch of tensors to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
