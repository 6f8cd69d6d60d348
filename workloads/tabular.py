"""A tabular classifier with BatchNorm and dropout: the model whose train and eval modes differ.

Both layers behave differently in training and in inference: BatchNorm normalises with the
batch's statistics in training and with its running statistics in eval mode; dropout zeroes
activations in training and is the identity in eval mode. The export scenario
(``harness.export``) uses it to show which mode each paradigm's documented export path puts
into the artifact. Training parity holds all the same: dropout draws from torch's global RNG,
which the harness seeds before the model is built and which all three paradigms consume in
the same order (one mask per forward).

The data: each sample's class is the arg-max of a fixed random linear map of its features,
with noise, so the loss falls within a few dozen steps.
"""

import torch
from torch import nn
from torch.utils.data import TensorDataset

from harness.workload import LossWithLogits, Workload


class Tabular(Workload):
    name = "tabular"
    sizes = {
        "tiny": dict(features=12, hidden=(16,), samples=256),
        "small": dict(features=64, hidden=(256, 256), samples=8192),
        "default": dict(features=256, hidden=(2048, 2048), samples=65536),
    }
    default_batch_size = 64

    def __init__(self, features: int = 64, hidden: tuple[int, ...] = (256, 256),
                 samples: int = 8192, classes: int = 4, dropout: float = 0.25) -> None:
        self.features, self.hidden, self.samples = features, tuple(hidden), samples
        self.classes, self.dropout = classes, dropout

    def build_model(self) -> nn.Module:
        layers: list[nn.Module] = []
        width = self.features
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(self.dropout)]
            width = h
        layers.append(nn.Linear(width, self.classes))
        return nn.Sequential(*layers)

    def _data(self, samples: int, seed: int) -> TensorDataset:
        rule = torch.randn(self.features, self.classes,
                           generator=torch.Generator().manual_seed(1234))
        g = torch.Generator().manual_seed(seed)
        x = 3.0 * torch.randn(samples, self.features, generator=g) + 1.0  # off-centre, wide
        y = (x @ rule + torch.randn(samples, self.classes, generator=g)).argmax(dim=1)
        return TensorDataset(x, y)

    def build_dataset(self) -> TensorDataset:
        return self._data(self.samples, seed=1235)

    def build_val_dataset(self) -> TensorDataset:
        return self._data(self.samples // 8, seed=4321)

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
        return torch.optim.SGD(params, lr=0.05, momentum=0.9)
