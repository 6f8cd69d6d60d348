"""Peak memory: host RSS, torch's CUDA allocator, and the device as NVML sees it.

Peaks are reset after warm-up (so they describe steady-state training, not start-up) and read
at the last step, before the framework tears anything down. The host peak comes from the
kernel's high-water mark (VmHWM), which Linux resets when "5" is written to
/proc/self/clear_refs; where that is not allowed the whole-process peak is kept and flagged.
NVML is sampled by a background thread (every 50 ms, GPU hosts only) so that no NVML call
lands inside a timed window.
"""

from __future__ import annotations

import resource
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import torch


@dataclass
class MemoryResult:
    host_rss_bytes: int = 0  # at the last step (psutil)
    host_peak_rss_bytes: int = 0  # peak since the post-warm-up reset (or whole process)
    host_peak_is_steady: bool = False  # False when the reset was not possible
    cuda_max_allocated_bytes: int | None = None
    cuda_max_reserved_bytes: int | None = None
    nvml_used_peak_bytes: int | None = None  # device memory used, idle baseline subtracted
    nvml_used_samples: list[int] = field(default_factory=list)
    nvml_foreign_pids: list[int] = field(default_factory=list)  # other processes on our GPU
    # NVML's PIDs are the host's: inside a container with its own PID namespace none of them
    # is ours, so only their number can tell that another process shares the GPU
    nvml_other_processes: int = 0
    power_w_samples: list[float] = field(default_factory=list)
    energy_j: float | None = None  # from NVML's energy counter over the measured steps


def _vm_hwm_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_host_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def nvml_handle(pynvml: Any, index: int) -> Any:
    """NVML's handle for CUDA device ``index``, found by UUID: NVML numbers every GPU of the
    host in PCI order, CUDA only the visible ones (CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER),
    so the same integer can name two different GPUs. Falls back to the index when the UUID
    is unavailable (older torch)."""
    uuid = str(getattr(torch.cuda.get_device_properties(index), "uuid", "") or "")
    if uuid:
        name = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
        try:
            return pynvml.nvmlDeviceGetHandleByUUID(name)
        except pynvml.NVMLError as exc:
            print(f"[harness] NVML has no GPU {name} ({exc}); using index {index}",
                  file=sys.stderr)
    return pynvml.nvmlDeviceGetHandleByIndex(index)


def other_processes(listed: list[int], ours: set[int]) -> tuple[set[int], int]:
    """(PIDs of other processes, how many other processes) among NVML's compute processes on
    our GPU, sampled while we hold a CUDA context on it.

    When none of the listed PIDs is ours, NVML reports another PID namespace (a container's
    host): one of them is us, the rest are others whose PIDs mean nothing here.
    """
    if not listed:
        return set(), 0
    if ours & set(listed):
        foreign = set(listed) - ours
        return foreign, len(foreign)
    return set(), len(set(listed)) - 1


IdleMemory = dict[str, int]  # NVML device UUID -> bytes used, before this process touched CUDA


def nvml_idle_snapshot() -> IdleMemory | None:
    """Device memory used on every GPU, read through NVML before the cell process creates its
    CUDA context (no torch CUDA call): the baseline the NVML figure subtracts. Taken at the
    same point for every data path, so that the context (and a dataset held on the device)
    counts in every cell's figure alike. None where NVML is unavailable."""
    try:
        import pynvml

        pynvml.nvmlInit()
        out = {}
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            out[str(pynvml.nvmlDeviceGetUUID(handle))] = int(
                pynvml.nvmlDeviceGetMemoryInfo(handle).used)
        return out
    except Exception as exc:  # no NVML, no driver: torch's figures still stand
        print(f"[harness] NVML idle baseline unavailable: {exc}", file=sys.stderr)
        return None


class NvmlSampler(threading.Thread):
    """Samples device memory used, power and foreign processes on one GPU until stopped.

    ``idle`` is the snapshot taken before the process created its CUDA context; without it
    (or without this GPU in it) the baseline is the memory used when the sampler starts.
    """

    def __init__(self, index: int, period_s: float = 0.05, idle: IdleMemory | None = None
                 ) -> None:
        super().__init__(daemon=True)
        import pynvml

        self.nvml = pynvml
        pynvml.nvmlInit()
        self.handle = nvml_handle(pynvml, index)
        self.period_s = period_s
        self.baseline = self._idle_baseline(idle)
        self.used: list[int] = []
        self.power: list[float] = []
        self.foreign: set[int] = set()
        self.others = 0
        self._measuring = False  # from mark_start: our CUDA context surely exists by then
        self._halt = threading.Event()
        self._energy0: int | None = None
        self.energy_j: float | None = None

    def _idle_baseline(self, idle: IdleMemory | None) -> int:
        try:
            uuid = str(self.nvml.nvmlDeviceGetUUID(self.handle))
        except self.nvml.NVMLError:
            uuid = ""
        if idle and uuid in idle:
            return idle[uuid]
        return int(self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used)

    def _energy_mj(self) -> int | None:
        try:
            return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except self.nvml.NVMLError:
            return None

    def mark_start(self) -> None:
        self.used.clear()
        self.power.clear()
        self._energy0 = self._energy_mj()
        self._measuring = True

    def mark_end(self) -> None:
        end = self._energy_mj()
        if self._energy0 is not None and end is not None:
            self.energy_j = (end - self._energy0) / 1e3

    def run(self) -> None:
        me = psutil.Process()
        ours = {me.pid, *(p.pid for p in me.parents())}
        while not self._halt.wait(self.period_s):
            nv = self.nvml
            self.used.append(nv.nvmlDeviceGetMemoryInfo(self.handle).used - self.baseline)
            try:
                self.power.append(nv.nvmlDeviceGetPowerUsage(self.handle) / 1e3)
            except nv.NVMLError:
                pass
            if not self._measuring:
                continue
            try:
                procs = nv.nvmlDeviceGetComputeRunningProcesses(self.handle)
            except nv.NVMLError:
                continue
            foreign, count = other_processes([p.pid for p in procs], ours)
            self.foreign.update(foreign)
            self.others = max(self.others, count)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=1.0)


class MemoryTracker:
    """Resets peaks after warm-up (``reset``) and reads them at the last step (``read``)."""

    def __init__(self, device: torch.device, idle: IdleMemory | None = None) -> None:
        self.device = device
        self.nvml: NvmlSampler | None = None
        if device.type == "cuda":
            try:
                self.nvml = NvmlSampler(device.index or 0, idle=idle)
                self.nvml.start()
            except Exception as exc:  # NVML missing or refused: torch's figures still stand
                print(f"[harness] NVML unavailable: {exc}", file=sys.stderr)
        self._steady = False
        self.result = MemoryResult()

    def reset(self) -> None:
        self._steady = _reset_host_peak()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        if self.nvml:
            self.nvml.mark_start()

    def read(self) -> MemoryResult:
        r = self.result
        r.host_rss_bytes = psutil.Process().memory_info().rss
        hwm = _vm_hwm_bytes()
        r.host_peak_rss_bytes = hwm or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        r.host_peak_is_steady = self._steady and hwm is not None
        if self.device.type == "cuda":
            r.cuda_max_allocated_bytes = torch.cuda.max_memory_allocated(self.device)
            r.cuda_max_reserved_bytes = torch.cuda.max_memory_reserved(self.device)
        if self.nvml:
            self.nvml.mark_end()
            self.nvml.stop()
            r.nvml_used_samples = list(self.nvml.used)
            r.nvml_used_peak_bytes = max(self.nvml.used, default=None)
            r.nvml_foreign_pids = sorted(self.nvml.foreign)
            r.nvml_other_processes = self.nvml.others
            r.power_w_samples = list(self.nvml.power)
            r.energy_j = self.nvml.energy_j
        return r
