from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from harness.config import DataPath
from harness.precision import UnsupportedConfig
from harness.training.context import placed
from harness.training.data import (
    EpochBatchSampler,
    EpochShardedSampler,
    TensorBatches,
    build_loader,
    build_val_loader,
    data_passes,
    device_resident,
    epoch_sampler,
    set_loader_epoch,
)
from tests.conftest import tiny_cell


def test_permutation_depends_only_on_seed_and_epoch():
    s = EpochShardedSampler(10, seed=3)
    first = list(s)
    assert list(s) == first  # a second iter() in the same epoch draws nothing new
    s.set_epoch(1)
    assert sorted(list(s)) == list(range(10)) and list(s) != first


def test_ranks_partition_the_global_order():
    world = 2
    whole = list(EpochShardedSampler(9, seed=0))[:8]
    shards = [list(EpochShardedSampler(9, seed=0, rank=r, world_size=world)) for r in range(world)]
    assert [i for pair in zip(*shards) for i in pair] == whole


def test_loader_drops_the_last_partial_batch():
    ds = TensorDataset(torch.arange(10.0))
    batches = list(build_loader(ds, batch_size=4, seed=0))
    assert [len(b[0]) for b in batches] == [4, 4]


class _PerSample(torch.utils.data.Dataset):
    """The same tensors read one sample at a time (the path any non-tensor dataset takes),
    counting the reads."""

    def __init__(self, ds: TensorDataset) -> None:
        self.ds, self.reads = ds, 0

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i):
        self.reads += 1
        return self.ds[i]


def test_tensor_datasets_are_gathered_a_batch_at_a_time_with_identical_batches():
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(70, 5, generator=g), torch.randint(0, 3, (70,), generator=g))
    per_sample = _PerSample(ds)
    for epoch in (0, 1):
        batched, reference = build_loader(ds, 16, seed=2), build_loader(per_sample, 16, seed=2)
        set_loader_epoch(batched, epoch)
        set_loader_epoch(reference, epoch)
        got, want = list(batched), list(reference)
        assert len(got) == len(want) == len(batched) == 4
        for (x, y), (rx, ry) in zip(got, want):
            assert torch.equal(x, rx) and torch.equal(y, ry) and y.shape == ry.shape == (16,)
    assert per_sample.reads == 2 * 4 * 16  # the reference really read per sample


def test_the_epoch_sampler_is_reachable_through_a_batched_loader():
    loader = build_loader(TensorDataset(torch.arange(40.0)), 8, seed=0)
    assert isinstance(loader.sampler, EpochBatchSampler)
    loader.sampler.set_epoch(3)  # what Lightning calls on loader.sampler
    sampler = epoch_sampler(loader)
    assert sampler is not None and sampler.epoch == 3
    loader.sampler.skip_once(16)  # what an exact plain resume calls
    assert len(list(loader)) == 3 and data_passes(loader)[-1][:2] == (3, 16)


def test_a_tensor_dataset_subclass_keeps_its_own_getitem():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            return tuple(2 * t for t in super().__getitem__(i))

    loader = build_loader(Doubled(torch.arange(8.0)), 4, seed=0)
    assert isinstance(loader.sampler, EpochShardedSampler)  # the per-sample path
    assert sorted(torch.cat([b[0] for b in loader]).tolist()) == [2.0 * i for i in range(8)]


def test_the_validation_loader_gathers_whole_batches_in_order():
    ds = TensorDataset(torch.arange(22.0), torch.arange(22) % 3)
    batched, reference = build_val_loader(ds, 8), build_val_loader(_PerSample(ds), 8)
    assert isinstance(batched.dataset, TensorBatches)
    got, want = list(batched), list(reference)
    assert len(got) == len(want) == len(batched) == 2  # full batches only
    for (x, y), (rx, ry) in zip(got, want):
        assert torch.equal(x, rx) and torch.equal(y, ry)
    assert torch.cat([x for x, _ in got]).tolist() == [float(i) for i in range(16)]


def test_only_a_plain_tensor_dataset_is_held_on_the_device():
    ds = TensorDataset(torch.arange(6.0), torch.arange(6))
    resident = device_resident(ds, torch.device("cpu"))
    assert type(resident) is TensorDataset
    assert all(torch.equal(a, b) for a, b in zip(resident.tensors, ds.tensors))
    assert device_resident(_PerSample(ds), torch.device("cpu")) is None

    class Doubled(TensorDataset):
        pass

    assert device_resident(Doubled(torch.arange(4.0)), torch.device("cpu")) is None


def test_a_computed_dataset_asked_to_live_on_the_device_is_unsupported():
    cell = tiny_cell("gpt", data=DataPath.DEVICE)
    ds = _PerSample(TensorDataset(torch.arange(4.0)))
    with pytest.raises(UnsupportedConfig, match=r"needs a plain TensorDataset.*_PerSample"):
        placed(ds, cell, torch.device("cpu"))
    assert placed(ds, tiny_cell("gpt"), torch.device("cpu")) is ds  # host: as built
