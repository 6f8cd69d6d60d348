"""What machine and software a result came from (fairness rule 15).

``capture_host`` runs in the parent and imports no framework: library versions come from
package metadata, the GPU from NVML. ``capture_runtime`` runs inside a cell, where torch is
already imported, and adds what only torch knows (CUDA/cuDNN versions, threads, device).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from harness.process_env import launch_path

PACKAGES = ("torch", "pytorch-lightning", "pytorch-ignite", "numpy", "nvidia-ml-py",
            "lightning",  # the unified package: optuna-integration's Lightning callback uses it
            "torchvision", "transformers",  # these two build the real-model workloads
            "optuna", "optuna-integration",  # the hyper-parameter search
            "onnx", "onnxscript", "onnxruntime", "onnxruntime-gpu")  # export and predict
ENV_PREFIXES = ("CUDA_", "NCCL_", "OMP_", "MKL_", "TORCH_", "PYTORCH_", "NVIDIA_")
REQUIRED = ("python", "platform", "cpu", "cpu_count", "packages", "git_commit", "git_dirty",
            "gpus", "driver")


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parents[2]  # the checkout: harness/measure/environment.py
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _gpus() -> tuple[list[dict[str, Any]], str | None]:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return [], None
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpus.append({
                "index": i,
                "name": pynvml.nvmlDeviceGetName(h),
                "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(h).total),
            })
        return gpus, str(driver)
    finally:
        pynvml.nvmlShutdown()


def capture_host() -> dict[str, Any]:
    """Versions, CPU, GPUs, driver, git state and relevant variables, without importing torch."""
    gpus, driver = _gpus()
    status = _git("status", "--porcelain")  # untracked files count: a new workload file does
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu": _cpu_model(),
        "cpu_count": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "packages": {name: _version(name) for name in PACKAGES},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "gpus": gpus,
        "driver": driver,
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)},
        "launch": _launch_path(),
    }


def _launch_path() -> str:
    """How single-process cells start in this run: ``fork`` or ``spawn`` (torchrun groups
    are always spawned; each record's ``launch`` says what its process took)."""
    return launch_path()


def capture_runtime() -> dict[str, Any]:
    """What torch reports inside the cell process."""
    import torch

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["device_name"] = torch.cuda.get_device_name()
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        info["sm_count"] = props.multi_processor_count  # a MIG slice has a share of them
        info["device_uuid"] = str(getattr(props, "uuid", "") or "") or None
        info["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
    return info


def missing_fields(env: dict[str, Any]) -> list[str]:
    """Required fields absent from a host environment (``None`` is allowed, absence is not)."""
    return [k for k in REQUIRED if k not in env]
