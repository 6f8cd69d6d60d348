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


def test_the_sampler_thread_stops_cleanly(monkeypatch):
    fake = types.SimpleNamespace(
        NVMLError=_Error, nvmlInit=lambda: None,
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=100),
        nvmlDeviceGetPowerUsage=lambda h: 50_000,
        nvmlDeviceGetTotalEnergyConsumption=lambda h: 1000,
        nvmlDeviceGetComputeRunningProcesses=lambda h: [])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(memory, "nvml_handle", lambda nvml, index: object())
    sampler = memory.NvmlSampler(0, period_s=0.001)
    sampler.start()
    sampler.mark_start()
    sampler.mark_end()
    sampler.stop()
    assert not sampler.is_alive() and sampler.energy_j == 0.0
