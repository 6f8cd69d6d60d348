"""The smallest workload: one Linear layer. Per-step compute is tiny, so a paradigm's fixed
per-step cost dominates its step time: this is where loop overhead shows most."""

import torch
from torch import nn
from torch.utils.data import TensorDataset

from harness.workload import LossWithLogits, Workload


class Linear(Workload):
    name = "linear"
    sizes = {"tiny": dict(features=8, samples=256), "default": dict(features=32, samples=4096)}
    default_batch_size = 32
    classes = 2

    def __init__(self, features: int = 32, samples: int = 4096) -> None:
        self.features, self.samples = features, samples

    def build_model(self) -> nn.Module:
        return nn.Linear(self.features, 2)

    def _data(self, samples: int, seed: int) -> TensorDataset:
        w = torch.randn(self.features, generator=torch.Generator().manual_seed(1234))
        x = torch.randn(samples, self.features, generator=torch.Generator().manual_seed(seed))
        return TensorDataset(x, (x @ w > 0).long())

    def build_dataset(self) -> TensorDataset:
        return self._data(self.samples, seed=1235)  # data never depends on the training seed

    def build_val_dataset(self) -> TensorDataset:
        return self._data(self.samples // 4, seed=4321)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.loss_with_logits(model, batch).loss

    def loss_with_logits(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
                         ) -> LossWithLogits:
        x, y = batch
        logits = model(x)
        return LossWithLogits(nn.functional.cross_entropy(logits, y), logits, y)

    def classify(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        return model(x), y

    def build_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=0.1)
