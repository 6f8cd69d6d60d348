"""The CUDA path: `nox -s tests-gpu` (or `pytest -m gpu`) on a CUDA host; skipped without one.

What can go wrong only on a GPU: the three paradigms on CUDA in every precision, CUDA-event
timing against a synchronised wall clock, synchronisations the harness would add to the timed
window, the forced syncs timed as their own phase, a device-data fetch that must not wait for
the GPU, the memory figures' order, NVML energy, MFU, NCCL DDP, the foreign-process warning.
Every cell comes from ``tests/harness/gpu_cells.py`` (sized there to about 4 minutes in all).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import asdict
from typing import Any

import pytest
import torch
from torch.utils.data import TensorDataset

from harness.analyse.aggregate import phase_figures
from harness.analyse.analysis import parity_verdict, records_frame
from harness.launch.runner import run_cell
from harness.launch.worker import prepare, train
from harness.measure.timing import StepTimer
from harness.training.data import build_loader, device_resident
from tests.conftest import PARADIGMS
from tests.harness.gpu_cells import PRECISIONS, WORKLOADS, parity_cells, probe_cell, record_cells

pytestmark = pytest.mark.gpu

WALL_TOLERANCE = 0.02  # CUDA-event windows against a synchronised perf_counter span
CELLS = record_cells()


def _in_process(cell: Any) -> dict[str, Any]:
    """Train ``cell`` in this process; the figures a record would carry for parity and phases."""
    prepared = prepare(cell, rank=0, local_rank=0, world=1)
    model = train(prepared)
    probe, phases = prepared.ctx.probe, prepared.ctx.phases
    parity = probe.losses.result(model)
    timing = probe.timer.result()
    figures = phase_figures({"phases": asdict(phases.result(probe.first_step, cell.warmup)),
                             "timing": asdict(timing)})
    return {"status": "ok", "config": cell.to_dict(), "measurements": {
        "losses": parity.losses, "weights_sha256": parity.weights_sha256, "phases": figures,
        "step_time_s": timing.step_time_s}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every parity cell, trained in this process (about a second each on an H100)."""
    import os

    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("in-process"))  # checkpoints and logs land there
    try:
        return {key: _in_process(cell) for key, cell in parity_cells().items()}
    finally:
        os.chdir(here)


def _assert_parity(records: list[dict[str, Any]]) -> None:
    frame = records_frame(records)
    base = frame[frame["paradigm"] == "plain"].iloc[0]
    for _, row in frame.iterrows():
        verdict, gap = parity_verdict(row, base)
        assert verdict in ("baseline", "bitwise", "close"), (row["paradigm"], verdict, gap)


@pytest.mark.timeout(180)  # the module fixture trains 54 tiny cells in its set-up
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_paradigms_train_on_cuda_within_the_parity_tolerance(trained, workload, precision):
    _assert_parity([trained[workload, precision, "host", p.value] for p in PARADIGMS])


@pytest.mark.parametrize("precision", PRECISIONS)
def test_paradigms_train_on_data_held_on_the_device(trained, precision):
    _assert_parity([trained["mlp", precision, "device", p.value] for p in PARADIGMS])
    host = trained["mlp", precision, "host", "plain"]["measurements"]
    device = trained["mlp", precision, "device", "plain"]["measurements"]
    assert device["losses"] == pytest.approx(host["losses"], rel=1e-6)  # the same batches


@pytest.mark.parametrize("data", ["host", "device"])
def test_fp16s_gradscaler_sync_is_its_own_phase_in_every_paradigm(trained, data):
    for p in PARADIGMS:
        fp16 = trained["mlp", "fp16-mixed", data, p.value]["measurements"]["phases"]
        bf16 = trained["mlp", "bf16-mixed", data, p.value]["measurements"]["phases"]
        assert fp16["sync"] > 0, p  # found_inf.item() timed, out of framework time
        assert bf16["sync"] == 0, p  # no scaler, no forced sync


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

    cfg = probe_cell()
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


def _device_dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(4096, 784, generator=g), torch.randint(0, 10, (4096,)))


def test_data_on_the_device_is_gathered_there_without_synchronising():
    host = _device_dataset()
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


def test_a_device_data_fetch_returns_before_queued_gpu_work_ends():
    # the indices go up from pinned memory: a fetch must not wait for the GPU's backlog, or
    # that backlog would read as data wait in exactly the cells that hold data on the device
    resident = device_resident(_device_dataset(), torch.device("cuda"))
    batches = iter(build_loader(resident, 1024, seed=0))
    next(batches)  # first allocations and kernels
    torch.cuda.synchronize()
    torch.cuda._sleep(4_000_000_000)  # about two seconds of GPU clock cycles on an H100
    queued_work_done = torch.cuda.Event()
    queued_work_done.record()
    x, _ = next(batches)
    assert not queued_work_done.query(), "the fetch waited for the GPU's queue"
    torch.cuda.synchronize()
    assert x.is_cuda


def _record(name: str, run_dir, rep: int = 0) -> dict[str, Any]:
    record = run_cell(CELLS[name], run_dir, rep, {})
    assert record["status"] == "ok", (name, record.get("message"))
    return record


def test_the_record_path_on_cuda_in_every_paradigm(tmp_path):
    records = [_record(f"record-{p.value}", tmp_path) for p in PARADIGMS]
    _assert_parity(records)
    for r in records:
        m = r["measurements"]
        assert m["runtime"]["cuda_available"] and m["step_time_s"] > 0
        assert m["startup"]["spawn_to_first_step_s"] > m["startup"]["to_first_step_s"] > 0


def test_memory_figures_are_ordered_and_stable(tmp_path):
    records = [_record("memory-host", tmp_path), _record("memory-device", tmp_path, 0),
               _record("memory-device", tmp_path, 1)]
    mem = [r["measurements"]["memory"] for r in records]
    for m in mem:
        assert 0 < m["cuda_max_allocated_bytes"] <= m["cuda_max_reserved_bytes"]
        # NVML sees the context and the caching allocator's reserve, idle baseline subtracted
        # (taken before the context exists, whichever the data path)
        assert m["cuda_max_reserved_bytes"] <= m["nvml_used_peak_bytes"]
    host, device, again = mem
    assert device["cuda_max_allocated_bytes"] == again["cuda_max_allocated_bytes"]
    assert again["nvml_used_peak_bytes"] == pytest.approx(device["nvml_used_peak_bytes"],
                                                          rel=0.1)
    # the dataset held on the device shows in the device-data cell's figures, not the other's
    assert device["cuda_max_allocated_bytes"] > host["cuda_max_allocated_bytes"]


def test_energy_and_mfu(tmp_path):
    m = _record("mfu", tmp_path)["measurements"]
    assert m["energy_per_item_j"] is not None and m["energy_per_item_j"] > 0
    if m["peak_flops"] is None:
        pytest.skip(f"no peak FLOP/s known for this GPU ({torch.cuda.get_device_name()})")
    assert 0.05 < m["mfu"] < 0.8, m["mfu"]  # any data-centre GPU: well above 0, below peak


@pytest.mark.skipif(torch.cuda.device_count() < 2,
                    reason="NCCL DDP needs two GPUs; on one it would not touch NCCL at all")
@pytest.mark.timeout(240)
@pytest.mark.parametrize("paradigm", PARADIGMS)
def test_ddp_over_nccl_trains_and_tears_down(tmp_path, paradigm):
    record = _record(f"ddp-{paradigm.value}", tmp_path)
    assert record["measurements"]["ranks_agree"]


def test_a_foreign_process_on_the_gpu_raises_the_warning(tmp_path):
    hog = subprocess.Popen([sys.executable, "-c",
                            "import torch, time; x = torch.ones(1, device='cuda'); "
                            "print('ready', flush=True); time.sleep(600)"],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout is not None and hog.stdout.readline().strip() == "ready"
        record = _record("foreign", tmp_path)
    finally:
        hog.kill()
        hog.wait()
    assert any("another process" in w for w in record["warnings"]), record["warnings"]
