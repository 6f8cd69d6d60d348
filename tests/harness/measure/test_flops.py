from __future__ import annotations

import pytest
import torch

from harness.config import Precision
from harness.measure.flops import count_step_flops, peak_flops
from harness.precision import AmpPolicy
from workloads.linear import Linear


@pytest.mark.parametrize("name, precision, tflops", [
    ("NVIDIA H100 80GB HBM3", Precision.BF16_MIXED, 989.4),
    ("NVIDIA H100 80GB HBM3", Precision.FP32, 67.0),
    ("NVIDIA H100 PCIe", Precision.FP16_MIXED, 756.0),
    ("NVIDIA H200", Precision.BF16_MIXED, 989.4),
    # the PCIe and NVL cards' names contain the SXM name: they must not get its peaks
    ("NVIDIA H200 NVL", Precision.BF16_MIXED, 835.0),
    ("NVIDIA H200 NVL", Precision.FP32, 60.0),
    ("NVIDIA H100 NVL", Precision.BF16_MIXED, 835.0),
    ("NVIDIA H100 PCIe", Precision.FP32, 51.0),
    ("NVIDIA A100-SXM4-80GB", Precision.FP32, 19.5),
    ("NVIDIA L4", Precision.BF16_MIXED, 121.0),
    ("NVIDIA L40S", Precision.BF16_MIXED, 362.0),
])
def test_known_devices(name, precision, tflops):
    assert peak_flops(name, precision) == pytest.approx(tflops * 1e12)


def test_a_mig_slice_is_held_against_its_share_of_the_multiprocessors():
    # a 3g.40gb slice of an H100 SXM shows the whole GPU's name and 60 of its 132 SMs
    name = "NVIDIA H100 80GB HBM3 MIG 3g.40gb"
    assert peak_flops(name, Precision.BF16_MIXED, sm_count=60) == pytest.approx(
        989.4e12 * 60 / 132)
    assert peak_flops(name, Precision.BF16_MIXED, sm_count=132) == pytest.approx(989.4e12)


@pytest.mark.parametrize("name", ["NVIDIA L40", "NVIDIA A10G", "Some Future GPU", None])
def test_unknown_devices_get_no_peak(name):
    assert peak_flops(name, Precision.FP32) is None


def test_linear_step_flops_hand_counted():
    torch.manual_seed(0)
    workload = Linear(features=32, samples=64)
    model = workload.build_model()
    x, y = workload.build_dataset()[:8]
    flops = count_step_flops(workload, model, (x, y), AmpPolicy(Precision.FP32, "cpu"))
    # forward: 2*8*32*2 for the matmul; backward: the weight gradient only, same count (the
    # input needs no gradient)
    assert flops == 2 * (2 * 8 * 32 * 2)
    assert all(p.grad is None for p in model.parameters())
