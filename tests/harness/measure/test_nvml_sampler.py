"""The NVML sampler thread starts and stops (a fake NVML: no GPU needed).

Found on an H200: the sampler's stop event was named ``_stop``, which shadows
``threading.Thread._stop``; ``join`` calls that method, so every CUDA cell ended in
"TypeError: 'Event' object is not callable" at its last step.
"""

from __future__ import annotations

import sys
import types

from harness.measure import memory


class _Error(Exception):
    pass


def _fake_nvml(monkeypatch, used=100):
    fake = types.SimpleNamespace(
        NVMLError=_Error, nvmlInit=lambda: None,
        nvmlDeviceGetCount=lambda: 1, nvmlDeviceGetHandleByIndex=lambda i: "handle",
        nvmlDeviceGetUUID=lambda h: "GPU-0000",
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=used),
        nvmlDeviceGetPowerUsage=lambda h: 50_000,
        nvmlDeviceGetTotalEnergyConsumption=lambda h: 1000,
        nvmlDeviceGetComputeRunningProcesses=lambda h: [])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(memory, "nvml_handle", lambda nvml, index: "handle")
    return fake


def test_the_sampler_thread_stops_cleanly(monkeypatch):
    _fake_nvml(monkeypatch)
    sampler = memory.NvmlSampler(0, period_s=0.001)
    sampler.start()
    sampler.mark_start()
    sampler.mark_end()
    sampler.stop()
    assert not sampler.is_alive() and sampler.energy_j == 0.0


def test_the_baseline_is_the_idle_snapshot_taken_before_the_cuda_context(monkeypatch):
    # the worker reads every GPU's memory before it creates its CUDA context; the sampler,
    # started later (context and perhaps a dataset on the device by then), subtracts that
    fake = _fake_nvml(monkeypatch, used=100)
    idle = memory.nvml_idle_snapshot()
    assert idle == {"GPU-0000": 100}
    fake.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=900)  # context, data
    assert memory.NvmlSampler(0, idle=idle).baseline == 100
    assert memory.NvmlSampler(0).baseline == 900  # no snapshot: the memory used at its start
    assert memory.NvmlSampler(0, idle={"GPU-other": 5}).baseline == 900
