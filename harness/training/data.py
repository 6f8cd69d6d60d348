"""One data recipe for all three paradigms (fairness rule 3).

Every paradigm gets the same DataLoader: an explicit epoch-seeded sampler (sharded by rank
under DDP), a seeded ``torch.Generator``, the same workers and pin_memory, ``drop_last`` so
every step sees a full batch. The permutation depends only on (seed, epoch), never on how many
times a framework calls ``iter()`` on the loader: that is what keeps Lightning, which does not
iterate a loader past its end, in step with loops that do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from time import perf_counter
from typing import Any

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    Sampler,
    SequentialSampler,
    TensorDataset,
)


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


class EpochBatchSampler(BatchSampler):
    """Whole batches of an :class:`EpochShardedSampler`'s indices, for datasets that gather a
    batch in one indexing call. Forwards ``set_epoch`` (Lightning calls it on
    ``loader.sampler``) and ``skip_once`` to the sampler it wraps.

    >>> b = EpochBatchSampler(EpochShardedSampler(10, seed=0), batch_size=4)
    >>> [len(i) for i in b]
    [4, 4]
    """

    def __init__(self, sampler: EpochShardedSampler, batch_size: int) -> None:
        super().__init__(sampler, batch_size, drop_last=True)
        self.epoch_sampler = sampler

    def set_epoch(self, epoch: int) -> None:
        self.epoch_sampler.set_epoch(epoch)

    def skip_once(self, samples: int) -> None:
        self.epoch_sampler.skip_once(samples)


class TensorBatches(Dataset):
    """A ``TensorDataset`` read a whole batch per call: ``ds[[i, j, ...]]`` gathers the rows
    with ``index_select`` (on CPU about 5x faster than advanced indexing, and far faster than
    reading and collating sample by sample). Tensors held on a GPU are gathered there: the
    indices go up from pinned host memory with a non-blocking copy, which returns at once. (From
    pageable memory the driver stages the copy and may wait for the GPU's queue first: the
    GPU's backlog would then land in the data wait of exactly the cells that hold their data on
    the device.) torch's caching host allocator reuses the pinned blocks once their copies are
    done."""

    def __init__(self, dataset: TensorDataset) -> None:
        self.tensors = dataset.tensors
        self.device = self.tensors[0].device

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        rows = torch.as_tensor(indices)
        if self.device.type == "cuda":
            rows = rows.pin_memory().to(self.device, non_blocking=True)
        return tuple(t.index_select(0, rows) for t in self.tensors)


def device_resident(dataset: Dataset, device: torch.device) -> TensorDataset | None:
    """A plain ``TensorDataset``'s tensors copied to ``device`` (``DataPath.DEVICE``), or None
    for any other dataset: only a tensor dataset is known to read the same from any device (a
    subclass may transform samples in ``__getitem__``)."""
    if type(dataset) is not TensorDataset:
        return None
    return TensorDataset(*(t.to(device) for t in dataset.tensors))


def _batched(dataset: Dataset) -> TensorBatches | None:
    # a subclass may transform in __getitem__: only a plain TensorDataset is read by batch
    return TensorBatches(dataset) if type(dataset) is TensorDataset else None


class TimedLoader(DataLoader):
    """A DataLoader whose iterators report the host seconds of every ``next()`` to
    ``on_fetch`` (the phase timer's data wait); without ``on_fetch``, a plain DataLoader.

    >>> seen = []
    >>> loader = TimedLoader(TensorDataset(torch.arange(4.0)), batch_size=2)
    >>> loader.on_fetch = seen.append
    >>> len(list(loader)), len(seen)  # two batches, and the call that ended the epoch
    (2, 3)
    """

    on_fetch: Callable[[float], None] | None = None

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]  # a wrapper, not torch's
        batches = super().__iter__()
        return batches if self.on_fetch is None else _TimedBatches(batches, self.on_fetch)


class _TimedBatches:
    def __init__(self, batches: Any, on_fetch: Callable[[float], None]) -> None:
        self.batches, self.on_fetch = batches, on_fetch

    def __iter__(self) -> _TimedBatches:
        return self

    def __next__(self) -> Any:
        start = perf_counter()
        try:
            return next(self.batches)
        finally:
            self.on_fetch(perf_counter() - start)

    def __len__(self) -> int:
        return len(self.batches)


def build_loader(
    dataset: Dataset,
    batch_size: int,
    seed: int,
    *,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> TimedLoader:
    """The training DataLoader every paradigm uses, identical in all three.

    A ``TensorDataset`` is read a batch at a time (one gather per tensor, :class:`TensorBatches`)
    instead of sample by sample and collated: several times less host time (the manual's
    tracker figures give both for 2048 MLP samples, from
    ``benchmarks/test_tracker_overhead.py::test_tensor_dataset_read``), and a bf16 step on a
    modern GPU takes about a millisecond, so a GPU cell would time the loader rather than the
    paradigms. The batches hold bitwise the same values either way.
    """
    sampler = EpochShardedSampler(len(dataset), seed, rank, world_size)  # type: ignore[arg-type]
    if len(sampler) < batch_size:
        raise ValueError(
            f"dataset of {len(dataset)} samples gives {len(sampler)} per rank, "  # type: ignore[arg-type]
            f"fewer than one batch of {batch_size}"
        )
    common: dict[str, Any] = dict(
        num_workers=workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=workers > 0,
    )
    batches = _batched(dataset)
    if batches is not None:
        # batch_size=None: each sampler item (a list of indices) goes to dataset[indices]
        return TimedLoader(batches, batch_size=None,
                           sampler=EpochBatchSampler(sampler, batch_size), **common)
    return TimedLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True, **common)


def shard_sampler(length: int, rank: int, world_size: int) -> DistributedSampler:
    """Rank ``rank``'s share of a validation set, in order, padded as ``DistributedSampler``
    pads: the first samples repeated until every rank has as many (no process group needed).

    >>> list(shard_sampler(5, 1, 2)), list(shard_sampler(5, 0, 2))
    ([1, 3, 0], [0, 2, 4])
    """
    return DistributedSampler(range(length), num_replicas=world_size,  # type: ignore[arg-type]
                              rank=rank, shuffle=False, drop_last=False)


def build_val_loader(dataset: Dataset, batch_size: int, *, workers: int = 0,
                     pin_memory: bool = False, shard: tuple[int, int] | None = None
                     ) -> DataLoader:
    """The validation DataLoader: fixed order, full batches only, the training batch size.

    Every rank evaluates the whole set (validation is not sharded), so every paradigm and every
    rank computes the same metrics; equal batches make the mean of batch means the mean.
    With ``shard=(rank, world_size)`` (the metrics feature), each rank reads its
    ``DistributedSampler`` share instead, padded as that sampler pads, and every sample is read
    (the last batch may be short): what Lightning's and Ignite's own distributed validation
    loaders do, and what an epoch metric over a padded set is measured on.
    """
    if len(dataset) < batch_size:  # type: ignore[arg-type]
        raise ValueError(f"validation set of {len(dataset)} samples is smaller than one "  # type: ignore[arg-type]
                         f"batch of {batch_size}")
    common: dict[str, Any] = dict(num_workers=workers, pin_memory=pin_memory,
                                  persistent_workers=workers > 0)
    batches = _batched(dataset)
    if shard is not None:
        share = shard_sampler(len(dataset), *shard)  # type: ignore[arg-type]
        if batches is not None:
            return DataLoader(batches, batch_size=None, **common,
                              sampler=BatchSampler(share, batch_size, drop_last=False))
        return DataLoader(dataset, batch_size=batch_size, sampler=share, **common)
    if batches is not None:  # a gather per batch, as for training
        in_order = BatchSampler(SequentialSampler(batches), batch_size, drop_last=True)
        return DataLoader(batches, batch_size=None, sampler=in_order, **common)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=True, **common)


def epoch_sampler(loader: DataLoader) -> EpochShardedSampler | None:
    """The :class:`EpochShardedSampler` behind a loader from :func:`build_loader`, if any."""
    sampler = loader.sampler
    if isinstance(sampler, EpochBatchSampler):
        return sampler.epoch_sampler
    return sampler if isinstance(sampler, EpochShardedSampler) else None


def data_passes(loader: DataLoader) -> list[tuple[int, int, int]]:
    """(epoch, first sample position, optimizer steps done) of every pass the loader's sampler
    started."""
    sampler = epoch_sampler(loader)
    return list(sampler.passes) if sampler is not None else []


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Advance the loader's sampler to ``epoch`` (what DDP loops do at each epoch start)."""
    sampler = epoch_sampler(loader)
    if sampler is not None:
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
