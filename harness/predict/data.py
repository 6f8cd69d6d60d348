"""The prediction loader: the dataset in order, a whole number of batches, cycling if needed.

The same loader recipe serves every path, so each one reads the same batches in the same
order. A ``TensorDataset`` is read a batch per call (``harness.training.data.TensorBatches``),
as for training; batches bound for a GPU from host memory come through pinned memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

from harness.training.data import TensorBatches


class InOrder(Sampler[list[int]]):
    """``batches`` lists of ``batch_size`` consecutive indices, wrapping around the dataset."""

    def __init__(self, length: int, batch_size: int, batches: int) -> None:
        self.length, self.batch_size, self.batches = length, batch_size, batches

    def __iter__(self) -> Iterator[list[int]]:
        for b in range(self.batches):
            start = b * self.batch_size
            yield [(start + i) % self.length for i in range(self.batch_size)]

    def __len__(self) -> int:
        return self.batches


def prediction_loader(dataset: Dataset, batch_size: int, batches: int, *, workers: int = 0,
                      pin_memory: bool = False) -> DataLoader:
    length = len(dataset)  # type: ignore[arg-type]
    if length < batch_size:
        raise ValueError(f"dataset of {length} samples is smaller than one batch of "
                         f"{batch_size}")
    order = InOrder(length, batch_size, batches)
    common: dict[str, Any] = dict(num_workers=workers, pin_memory=pin_memory,
                                  persistent_workers=workers > 0)
    if type(dataset) is TensorDataset:
        return DataLoader(TensorBatches(dataset), batch_size=None, sampler=order, **common)
    return DataLoader(dataset, batch_sampler=order, **common)
