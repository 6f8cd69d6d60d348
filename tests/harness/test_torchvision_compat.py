"""The torchvision import step: it acts only where torchvision's extension failed beside a
CPU-only torch, and an op that needs the extension still fails loudly."""

from __future__ import annotations

import importlib.util
import sys
from types import SimpleNamespace

import pytest
import torch

from harness import torchvision_compat as compat

torchvision = pytest.importorskip("torchvision")  # imported through the hook harness armed


def test_torchvision_imports_and_nms_still_fails_loudly():
    assert compat._HOOK not in sys.meta_path  # one-shot: gone once it has run
    if torchvision.extension._has_ops():  # a matching torchvision: nothing was defined
        assert compat._library is None
        return
    assert torch.version.cuda is None and compat._library is not None
    boxes, scores = torch.rand(3, 4), torch.rand(3)
    with pytest.raises(RuntimeError, match="load custom C"):
        torchvision.ops.nms(boxes, scores, 0.5)
    with pytest.raises(NotImplementedError, match="torchvision::nms"):
        torch.ops.torchvision.nms(boxes, scores, 0.5)  # a schema, no kernel
    # and what the workloads need works: a ResNet from torchvision's own builder
    assert torchvision.models.resnet18(num_classes=3)(torch.rand(2, 3, 32, 32)).shape == (2, 3)


@pytest.mark.parametrize("has_ops, cuda", [(True, None), (False, "12.8")])
def test_nothing_is_defined_for_a_working_extension_or_a_cuda_torch(monkeypatch, has_ops, cuda):
    monkeypatch.setitem(sys.modules, "torchvision.extension",
                        SimpleNamespace(_has_ops=lambda: has_ops))
    monkeypatch.setattr(compat, "_library", None)
    monkeypatch.setattr(torch.version, "cuda", cuda)
    assert compat.define_missing_ops() is False
    assert compat._library is None


def test_no_hook_without_torchvision(monkeypatch):
    monkeypatch.delitem(sys.modules, compat.TRIGGER, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    compat.install()
    try:
        assert compat._HOOK not in sys.meta_path
    finally:
        compat.uninstall()
