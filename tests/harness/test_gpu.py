"""The CUDA path: `nox -s tests-gpu` (or `pytest -m gpu`) on a CUDA host; skipped without one.

What can go wrong only on a GPU: the three paradigms on CUDA in every precision, CUDA-event
timing against a synchronised wall clock, synchronisations the harness would add to the timed
window, the memory figures' order, NVML energy, MFU, NCCL DDP, the foreign-process warning and
data held on the device.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from torch.utils.data import TensorDataset

from harness.analyse.analysis import parity_verdict, records_frame
from harness.launch.runner import run_cell
from harness.measure.timing import StepTimer
from harness.training.data import build_loader, device_resident
from tests.conftest import PARADIGMS, tiny_cell

pytestmark = pytest.mark.gpu

WORKLOADS = ["linear", "mlp", "cnn", "gpt", "rnn"]
PRECISIONS = ["fp32", "bf16-mixed", "fp16-mixed"]
WALL_TOLERANCE = 0.02  # CUDA-event windows against a synchronised perf_counter span


def _cuda_cell(workload: str, paradigm, **overrides):
    settings = dict(device="cuda", steps=24, warmup=4, window=8, workers=0, timeout_s=300)
    return tiny_cell(workload, paradigm, **{**settings, **overrides})


@pytest.fixture(scope="module")
def cuda_records(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cuda")
    return {(w, prec, p.value): run_cell(_cuda_cell(w, p, precision=prec), run_dir, 0, {})
            for w in WORKLOADS for prec in PRECISIONS for p in PARADIGMS}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_paradigms_train_on_cuda_within_the_parity_tolerance(cuda_records, workload, precision):
    records = [cuda_records[workload, precision, p.value] for p in PARADIGMS]
    for r in records:
        assert r["status"] == "ok", (r["config"]["paradigm"], r.get("message"))
    frame = records_frame(records)
    base = frame[frame["paradigm"] == "plain"].iloc[0]
    for _, row in frame.iterrows():
        verdict, gap = parity_verdict(row, base)
        assert verdict in ("baseline", "bitwise", "close"), (row["paradigm"], verdict, gap)


def test_cuda_event_windows_agree_with_a_synchronised_wall_clock():
    device = torch.device("cuda")
    a = torch.randn(4096, 4096, device=device)
    timer = StepTimer(warmup=5, window=10, device=device)
    for step in range(1, 6):
        a @ a
        timer.step_end(step)
    torch.cuda.synchronize()  # the warm-up edge's event has completed: the span starts here
    t0 = time.perf_counter()
    for step in range(6, 46):
        a @ a
        timer.step_end(step)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    windows = timer.result().window_s
    assert len(windows) == 4
    assert sum(windows) == pytest.approx(wall, rel=WALL_TOLERANCE)


def test_the_probe_adds_no_synchronisation_to_the_timed_window():
    from harness.training.context import StepProbe

    cfg = _cuda_cell("linear", "plain")
    device = torch.device("cuda")
    probe = StepProbe(cfg, device, None)
    x = torch.randn(64, 64, device=device, requires_grad=True)
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call raises
    try:
        for _ in range(cfg.total_steps - 1):  # the last step reads the peaks: after the clock
            loss = (x @ x).sum()
            probe.step_end(loss.detach())
    finally:
        torch.cuda.set_sync_debug_mode("default")
    probe.step_end(loss.detach())


def test_memory_figures_are_ordered_and_stable(tmp_path):
    records = [run_cell(_cuda_cell("mlp", "plain", size="small"), tmp_path, rep, {})
               for rep in range(2)]
    mem = [r["measurements"]["memory"] for r in records]
    for m in mem:
        assert 0 < m["cuda_max_allocated_bytes"] <= m["cuda_max_reserved_bytes"]
        # NVML sees the context and the caching allocator's reserve, idle baseline subtracted
        assert m["cuda_max_reserved_bytes"] <= m["nvml_used_peak_bytes"]
    assert mem[0]["cuda_max_allocated_bytes"] == mem[1]["cuda_max_allocated_bytes"]
    assert mem[1]["nvml_used_peak_bytes"] == pytest.approx(mem[0]["nvml_used_peak_bytes"],
                                                           rel=0.1)


def test_energy_and_mfu(tmp_path):
    # a 4096-wide MLP in bf16: compute-bound enough for an MFU well above zero, and on any
    # data-centre GPU well below its dense peak (expected 0.05..0.8)
    cell = _cuda_cell("mlp", "plain", size="default", batch_size=1024, steps=60,
                      precision="bf16-mixed", data="device")
    m = run_cell(cell, tmp_path, 0, {})["measurements"]
    assert m["energy_per_item_j"] is not None and m["energy_per_item_j"] > 0
    if m["peak_flops"] is None:
        pytest.skip(f"no peak FLOP/s known for this GPU ({torch.cuda.get_device_name()})")
    assert 0.05 < m["mfu"] < 0.8, m["mfu"]


@pytest.mark.parametrize("paradigm", PARADIGMS)
def test_ddp_over_nccl_trains_and_tears_down(tmp_path, paradigm):
    world = 2 if torch.cuda.device_count() >= 2 else 1
    record = run_cell(_cuda_cell("mlp", paradigm, world_size=world, timeout_s=180), tmp_path,
                      0, {})
    assert record["status"] == "ok", record.get("message")
    assert record["measurements"]["ranks_agree"]


def test_a_foreign_process_on_the_gpu_raises_the_warning(tmp_path):
    hog = subprocess.Popen([sys.executable, "-c",
                            "import torch, time; x = torch.ones(1, device='cuda'); "
                            "print('ready', flush=True); time.sleep(600)"],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout is not None and hog.stdout.readline().strip() == "ready"
        record = run_cell(_cuda_cell("linear", "plain"), tmp_path, 0, {})
    finally:
        hog.kill()
        hog.wait()
    assert record["status"] == "ok", record.get("message")
    assert any("another process" in w for w in record["warnings"]), record["warnings"]


def test_data_on_the_device_is_gathered_there_without_synchronising():
    g = torch.Generator().manual_seed(0)
    host = TensorDataset(torch.randn(4096, 784, generator=g), torch.randint(0, 10, (4096,)))
    resident = device_resident(host, torch.device("cuda"))
    assert resident is not None
    loader = build_loader(resident, 1024, seed=0)
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call raises
    try:
        batches = list(loader)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(batches) == 4 and all(x.is_cuda and y.is_cuda for x, y in batches)
    for (x, y), (hx, hy) in zip(batches, build_loader(host, 1024, seed=0)):
        assert torch.equal(x.cpu(), hx) and torch.equal(y.cpu(), hy)


def test_paradigms_train_on_data_held_on_the_device(tmp_path):
    records = [run_cell(_cuda_cell("mlp", p, precision="bf16-mixed", data="device"), tmp_path,
                        0, {}) for p in PARADIGMS]
    for r in records:
        assert r["status"] == "ok", (r["config"]["paradigm"], r.get("message"))
    frame = records_frame(records)
    base = frame[frame["paradigm"] == "plain"].iloc[0]
    for _, row in frame.iterrows():
        assert parity_verdict(row, base)[0] in ("baseline", "bitwise", "close"), row["paradigm"]
