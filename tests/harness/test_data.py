from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from harness.data import EpochShardedSampler, build_loader


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
