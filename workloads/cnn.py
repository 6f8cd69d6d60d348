"""A small ResNet-style CNN with BatchNorm on CIFAR-shaped data (3x32x32, 10 classes).

BatchNorm matters here: its running statistics are buffers, which DDP broadcasts and which
the parity digest covers. Each class's images are a fixed smooth random pattern plus noise.
"""

import torch
from torch import nn
from torch.utils.data import TensorDataset

from harness.workload import LossWithLogits, Workload


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, width: int, stages: int, blocks: int, classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for s in range(stages):
            cout = width * 2**s
            for b in range(blocks):
                layers.append(BasicBlock(cin, cout, 2 if s > 0 and b == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class CNN(Workload):
    name = "cnn"
    sizes = {
        "tiny": dict(width=4, stages=2, blocks=1, samples=256, image=8),
        "small": dict(width=16, stages=3, blocks=1, samples=2048, image=32),
        # ResNet-10-like: 0.51 GFLOP per image forward as torch's FlopCounterMode counts them
        # (two per multiply-add; 0.25 G multiply-adds), about three times that per training step
        "default": dict(width=64, stages=4, blocks=1, samples=10240, image=32),
    }
    default_batch_size = 32

    def __init__(self, width: int = 16, stages: int = 3, blocks: int = 1, samples: int = 2048,
                 image: int = 32, classes: int = 10) -> None:
        self.width, self.stages, self.blocks = width, stages, blocks
        self.samples, self.image, self.classes = samples, image, classes

    def build_model(self) -> nn.Module:
        return ResNet(self.width, self.stages, self.blocks, self.classes)

    def _data(self, samples: int, seed: int) -> TensorDataset:
        coarse = torch.randn(self.classes, 3, 4, 4, generator=torch.Generator().manual_seed(1234))
        patterns = nn.functional.interpolate(coarse, size=self.image, mode="bilinear")
        g = torch.Generator().manual_seed(seed)
        y = torch.randint(self.classes, (samples,), generator=g)
        noise = torch.randn(samples, 3, self.image, self.image, generator=g)
        return TensorDataset(patterns[y] + noise, y)

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
        return torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)
