"""The smallest workload: one Linear layer. Per-step compute is tiny, so a paradigm's fixed
per-step cost dominates its step time: this is where loop overhead shows most."""

import torch
from torch import nn
from torch.utils.data import TensorDataset

from harness.workload import Workload


class Linear(Workload):
    name = "linear"
    sizes = {"tiny": dict(features=8, samples=256), "default": dict(features=32, samples=4096)}
    default_batch_size = 32

    def __init__(self, features: int = 32, samples: int = 4096) -> None:
        self.features, self.samples = features, samples

    def build_model(self) -> nn.Module:
        return nn.Linear(self.features, 2)

    def build_dataset(self) -> TensorDataset:
        g = torch.Generator().manual_seed(1234)  # data never depends on the training seed
        x = torch.randn(self.samples, self.features, generator=g)
        w = torch.randn(self.features, generator=g)
        return TensorDataset(x, (x @ w > 0).long())

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(model(x), y)

    def build_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=0.1)
