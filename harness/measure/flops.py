"""Model FLOPs per training step, counted by torch, and the device peaks MFU is taken against.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` over one forward and
backward on one per-process batch, after training and outside every timed window. The count
runs on the meta device (:func:`count_step_flops_on_meta`): a fresh model and the batch with
shapes but no data, so it costs no real step (a GPT-2 step at 1024 tokens counts in about a
second on one CPU thread) and counts the same ops on every device. It counts attention as
two matrix products where torch's CPU kernel for it has no FLOP formula
(``_scaled_dot_product_flash_attention_for_cpu``), and the CUDA kernels' formulas count
the same products. A workload whose model or loss cannot run on the meta device (a
data-dependent ``.item()``, say) is counted on the real model and batch instead. MFU is
those FLOPs over the step time and the device's dense peak for the step's dtype; a GPU not in
the table gets no MFU rather than a guessed one. The harness runs fp32 with TF32 off (see
``worker.configure_process``), so fp32 cells are held against the plain fp32 peak.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harness.config import Precision
from harness.precision import AmpPolicy
from harness.workload import Workload

# Dense peak TFLOP/s from the vendors' data sheets: (name fragment, fp32, bf16/fp16 tensor,
# streaming multiprocessors of the whole GPU). The first name found (as whole words) in torch's
# device name wins, so specific names come first.
DEVICE_PEAK_TFLOPS: list[tuple[str, float, float, int]] = [
    ("H100 PCIe", 51.0, 756.0, 114),
    ("H100 NVL", 60.0, 835.0, 132),
    ("H100", 67.0, 989.4, 132),  # SXM ("H100 80GB HBM3")
    ("H200 NVL", 60.0, 835.0, 132),  # before "H200": the NVL's name contains it
    ("H200", 67.0, 989.4, 132),  # SXM ("NVIDIA H200")
    ("GH200", 67.0, 989.4, 132),
    ("A100", 19.5, 312.0, 108),
    ("L40S", 91.6, 362.0, 142),
    ("L4", 30.3, 121.0, 58),
    ("A10", 31.2, 125.0, 72),
]


def peak_flops(device_name: str | None, precision: Precision, sm_count: int | None = None
               ) -> float | None:
    """The device's dense peak in FLOP/s for ``precision``, or None for an unknown device.

    ``sm_count`` (the multiprocessors torch sees) scales the peak to a MIG slice, which keeps
    the whole GPU's name but only a share of its multiprocessors.
    """
    if not device_name:
        return None
    for fragment, fp32, half, full_sms in DEVICE_PEAK_TFLOPS:
        # whole words: "L4" must not match an L40, nor "A10" an A10G
        if re.search(rf"(?<!\w){re.escape(fragment)}(?!\w)", device_name):
            share = min(1.0, sm_count / full_sms) if sm_count else 1.0
            return (fp32 if precision is Precision.FP32 else half) * 1e12 * share
    return None


def count_step_flops(workload: Workload, model: nn.Module, batch: Any, amp: AmpPolicy) -> int:
    """FLOPs of one forward + backward of ``workload.loss`` on ``batch``."""
    with FlopCounterMode(display=False) as counter:
        with amp.autocast():
            loss = workload.loss(model, batch)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def count_step_flops_on_meta(workload: Workload, batch: Any) -> int:
    """FLOPs of one forward + backward of ``workload.loss`` with a model built on the meta
    device and ``batch`` moved there: shapes only, no arithmetic, no real tensor touched.

    Raises whatever the workload raises on meta tensors (the caller falls back to
    :func:`count_step_flops`). Autocast is left out: it changes dtypes, not the ops counted.
    """
    with torch.device("meta"):
        model = workload.build_model()
    with FlopCounterMode(display=False) as counter:
        workload.loss(model, _to_meta(batch)).backward()
    return int(counter.get_total_flops())


def _to_meta(batch: Any) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to("meta")
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_meta(b) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_meta(v) for k, v in batch.items()}
    return batch
