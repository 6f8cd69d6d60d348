"""Let a CUDA build of torchvision import beside a CPU-only torch, and change nothing else.

Why: the torchvision wheels on PyPI are CUDA builds. Their C++ extension (``_C.so``: nms,
roi_align and the other detection ops) links ``libtorch_cuda.so``, which torch's CPU build
does not have, so the extension does not load. torchvision copes with that for every op but
two: ``torchvision/_meta_registrations.py`` registers fake kernels for ``torchvision::nms`` and
``torchvision::qnms`` without checking that the ops exist, so ``import torchvision`` fails with
"operator torchvision::nms does not exist" (pytorch/vision#9085). So does ``import
pytorch_lightning`` (its torchmetrics imports torchvision) and any transformers model (its
image utilities do). Upstream's answer is the ``+cpu`` torchvision wheel from PyTorch's own
package index, which a plain ``pip install`` against PyPI does not reach. The classification
models the workloads build (ResNets) need none of the C++ ops.

What: :func:`install` puts a one-shot import hook in front of ``sys.meta_path``. When
torchvision is about to run ``_meta_registrations`` (its ``__init__`` imports its extension
first), the hook checks torchvision's own verdict, ``torchvision.extension._has_ops()``. Only
when the extension did not load *and* torch is a CPU-only build does it define the schemas of
the two ops, without kernels, so that the fake registrations find them. Nothing else changes:
``torchvision.ops.nms`` still raises torchvision's "Couldn't load custom C++ ops", and
``torch.ops.torchvision.nms`` raises NotImplementedError (no kernel for the CPU backend).

When nothing happens: torchvision not installed (no hook); a torchvision whose extension loads
(a matching ``+cpu`` wheel, any CUDA host); a CUDA torch whose torchvision does not match (that
is a broken install and stays loud). The hook removes itself after that one check, so later
imports do not pass through it. It imports nothing itself: torchvision's import time stays
where it falls (inside Lightning's import, when torchmetrics brings it in).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

TRIGGER = "torchvision._meta_registrations"
# the two ops torchvision registers fake kernels for unguarded, with the schemas its C++
# extension defines for them (csrc/ops/nms.cpp and its quantized twin)
MISSING_OPS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

_library: Any = None  # the torch.library.Library holding the schemas; kept alive on purpose


class _BeforeMetaRegistrations(importlib.abc.MetaPathFinder):
    """Runs :func:`define_missing_ops` once, right before torchvision's meta registrations."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == TRIGGER:
            uninstall()
            define_missing_ops()
        return None  # the ordinary finders import the module


_HOOK = _BeforeMetaRegistrations()


def install() -> None:
    """Arm the hook (idempotent); a no-op when torchvision is not installed or already imported.

    Imports neither torch nor torchvision: the CLI calls this before it decides to import torch.
    """
    if _HOOK in sys.meta_path or TRIGGER in sys.modules:
        return
    if importlib.util.find_spec("torchvision") is None:
        return
    sys.meta_path.insert(0, _HOOK)


def uninstall() -> None:
    if _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def define_missing_ops() -> bool:
    """Define the schemas of ``MISSING_OPS`` if torchvision's extension failed to load beside a
    CPU-only torch; return whether it did. Safe to call again (it defines them once)."""
    global _library
    extension = sys.modules.get("torchvision.extension")
    if _library is not None or extension is None or extension._has_ops():
        return False
    import torch

    if torch.version.cuda is not None or getattr(torch.version, "hip", None) is not None:
        return False  # a GPU torch with a mismatched torchvision: a broken install, stay loud
    missing = [schema for schema in MISSING_OPS
               if not hasattr(torch.ops.torchvision, schema.partition("(")[0])]
    if not missing:
        return False  # someone else defined them already
    library = torch.library.Library("torchvision", "DEF")
    for schema in missing:
        library.define(schema)
    _library = library
    return True
