"""What devices this machine has, asked without importing torch (NVML for GPUs)."""

from __future__ import annotations

import os

from harness.config import CellConfig


def cuda_device_count() -> int:
    """GPUs visible through NVML (0 when NVML or a driver is missing)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return 0
    try:
        count = int(pynvml.nvmlDeviceGetCount())
    finally:
        pynvml.nvmlShutdown()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = min(count, len([v for v in visible.split(",") if v.strip()]))
    return count


def check_devices(cell: CellConfig) -> str | None:
    """A message if ``cell`` asks for more devices than this machine has, else None."""
    if cell.device == "cuda":
        gpus = cuda_device_count()
        if gpus == 0:
            return "no CUDA device found; run on CPU instead (--device cpu, nox -s bench-cpu)"
        if cell.local_world_size > gpus:
            return (f"{cell.local_world_size} processes per node need as many GPUs; "
                    f"{gpus} present")
        return None
    cores = os.cpu_count() or 1
    if cell.local_world_size > cores:
        return (f"world size {cell.world_size} puts {cell.local_world_size} processes per node "
                f"on {cores} CPU cores: more processes than cores")
    return None
