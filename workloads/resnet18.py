"""ResNet-18 as torchvision builds it, with ResNet-50's recipe and data (see ``resnet50``).

Less than half of ResNet-50's arithmetic per image (1.81 G multiply-adds forward against 4.09 G,
torchvision's model card and the harness's count alike) for 11.7 M parameters: a shorter step
on the same batch, where a paradigm's fixed cost per step shows more.
"""

from __future__ import annotations

from typing import ClassVar

from workloads.resnet50 import ResNet50


class ResNet18(ResNet50):
    name = "resnet18"
    requires = {"torchvision": "paradigm-bench[vision]"}  # a literal here: `harness list` reads it
    arch: ClassVar[str] = "resnet18"
    sizes = {
        "tiny": dict(image=16, classes=10, samples=64, lr=0.1 * 8 / 256, batch_size=8),
        "small": dict(image=32, classes=10, samples=512, lr=0.1 * 16 / 256, batch_size=16),
        "default": dict(image=224, classes=1000, samples=2048, channels_last=True),
    }
    default_batch_size = 256
