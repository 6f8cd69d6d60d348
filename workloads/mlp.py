"""An MLP classifier on MNIST-shaped data (784 features, 10 classes).

The data are synthetic but learnable: each class has a fixed random prototype and a sample is
its class's prototype plus noise, so the loss falls within a few dozen steps.
"""

import torch
from torch import nn
from torch.utils.data import TensorDataset

from harness.workload import LossWithLogits, Workload


class MLP(Workload):
    name = "mlp"
    sizes = {
        "tiny": dict(hidden=(32,), samples=512),
        # the CPU reference size of ../shared/reference/figures.md: 784-512-512-10
        "small": dict(hidden=(512, 512), samples=8192),
        # ~0.45 TFLOP per step at batch 2048: ~10 ms per fp32 step on an H100
        "default": dict(hidden=(4096, 4096, 4096), samples=65536),
    }
    default_batch_size = 64

    def __init__(self, hidden: tuple[int, ...] = (512, 512), samples: int = 8192,
                 features: int = 784, classes: int = 10) -> None:
        self.hidden, self.samples = tuple(hidden), samples
        self.features, self.classes = features, classes
        self.lr, self.weight_decay = 0.01, 0.0  # what a search (search_space) may change

    def build_model(self) -> nn.Module:
        layers: list[nn.Module] = []
        width = self.features
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, self.classes))
        return nn.Sequential(*layers)

    def _data(self, samples: int, seed: int) -> TensorDataset:
        prototypes = torch.randn(self.classes, self.features,
                                 generator=torch.Generator().manual_seed(1234))
        g = torch.Generator().manual_seed(seed)
        y = torch.randint(self.classes, (samples,), generator=g)
        x = prototypes[y] + 2.0 * torch.randn(samples, self.features, generator=g)
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
        return torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)

    def search_space(self, trial):
        """The learning rate and weight decay, log-uniform (``python -m harness hpo``)."""
        self.lr = trial.suggest_float("lr", 1e-3, 0.3, log=True)
        self.weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
        return {"lr": self.lr, "weight_decay": self.weight_decay}
