"""ResNet-50 as torchvision builds it (``torchvision.models.resnet50``, random initialisation,
no downloaded weights), trained with torchvision's reference recipe; throughput counts images.

Recipe (torchvision's ``references/classification``: ``--lr 0.1 --momentum 0.9 --wd 1e-4``
for a global batch of 256): SGD with momentum 0.9 and weight decay 1e-4 on every parameter,
learning rate 0.1 at 256 images, scaled linearly for the smaller sizes' batches (the rule
that recipe's lr follows; 0.1 on a batch of 16 diverges). The ``default`` size puts that whole
batch of 256 ImageNet-shaped images (224x224, 1000 classes) on one GPU, as NVIDIA's
DeepLearningExamples ResNet-50 recipe does (256 images per GPU is its ``--batch-size``
default, under mixed precision), in channels-last memory format (NHWC convolutions, what the
tensor-core kernels want; the size setting ``channels_last``). ``small`` (CPU suite) and
``tiny`` (tests) keep the architecture and shrink the images, classes and dataset.

torchvision's initialisation draws from torch's global RNG, which the harness seeds right
before ``build_model``. BatchNorm running statistics are buffers: the parity digest covers them.
Images: each class a fixed smooth random pattern plus noise (as ``cnn``), in a plain
``TensorDataset`` (so a GPU cell can hold it on the device).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.utils.data import TensorDataset

from harness.workload import LossWithLogits, Workload


class ResNet50(Workload):
    name = "resnet50"
    requires = {"torchvision": "paradigm-bench[vision]"}
    item_name = "images"
    arch: ClassVar[str] = "resnet50"  # the torchvision.models builder
    sizes = {
        # the learning rate scaled to each preset's batch (the small one is the cpu suite's)
        "tiny": dict(image=16, classes=10, samples=64, lr=0.1 * 8 / 256, batch_size=8),
        "small": dict(image=32, classes=10, samples=512, lr=0.1 * 16 / 256, batch_size=16),
        # about 4.1 G multiply-adds per image forward (torchvision's model card), so about
        # 3 x 2 x 4.1 G = 25 GFLOP per image per training step (24.3 G as counted, the first
        # convolution needing no input gradient), 6.2 TFLOP per batch of 256
        "default": dict(image=224, classes=1000, samples=2048, channels_last=True),
    }
    default_batch_size = 256

    def __init__(self, image: int = 224, classes: int = 1000, samples: int = 2048,
                 channels_last: bool = False, lr: float = 0.1) -> None:
        self.image, self.classes, self.samples, self.lr = image, classes, samples, lr
        self.channels_last = channels_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def build_model(self) -> nn.Module:
        import torchvision.models

        model = getattr(torchvision.models, self.arch)(weights=None, num_classes=self.classes)
        return model.to(memory_format=self.memory_format)

    def _data(self, samples: int, seed: int) -> TensorDataset:
        # a 4x4 pattern per class, upsampled per image: no (classes x 224 x 224) table in memory
        coarse = torch.randn(self.classes, 3, 4, 4, generator=torch.Generator().manual_seed(1234))
        g = torch.Generator().manual_seed(seed)
        y = torch.randint(self.classes, (samples,), generator=g)
        x = nn.functional.interpolate(coarse[y], size=self.image, mode="bilinear")
        x += torch.randn(x.shape, generator=g)
        return TensorDataset(x, y)

    def build_dataset(self) -> TensorDataset:
        return self._data(self.samples, seed=1235)

    def build_val_dataset(self) -> TensorDataset:
        return self._data(max(self.samples // 8, 8), seed=4321)

    def _logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        # the batch gathers as NCHW; channels-last input, as the channels-last model wants
        return model(x.contiguous(memory_format=self.memory_format))

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.loss_with_logits(model, batch).loss

    def loss_with_logits(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
                         ) -> LossWithLogits:
        x, y = batch
        logits = self._logits(model, x)
        return LossWithLogits(nn.functional.cross_entropy(logits, y), logits, y)

    def classify(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        return self._logits(model, x), y

    def build_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=1e-4)
