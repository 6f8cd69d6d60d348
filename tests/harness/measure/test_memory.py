"""Memory tracking: which GPU NVML reads."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from harness.measure.memory import nvml_handle, other_processes


class _FakeNvml:
    """pynvml's two lookups over a host whose GPUs NVML numbers 0, 1, 2 in PCI order."""

    class NVMLError(Exception):
        pass

    uuids = ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"]

    def nvmlDeviceGetHandleByUUID(self, uuid):
        if uuid not in self.uuids:
            raise self.NVMLError("not found")
        return ("handle", self.uuids.index(uuid))

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("handle", index)


def test_nvml_handle_follows_the_cuda_device_uuid_not_its_index(monkeypatch):
    # CUDA_VISIBLE_DEVICES=2: CUDA's device 0 is NVML's device 2
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(uuid="cccc"))
    assert nvml_handle(_FakeNvml(), 0) == ("handle", 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(uuid="dddd"))  # unknown: the index is kept
    assert nvml_handle(_FakeNvml(), 1) == ("handle", 1)


def test_other_processes_in_our_pid_namespace_are_named():
    assert other_processes([10, 11, 99], {10, 11}) == ({99}, 1)
    assert other_processes([10], {10, 1}) == (set(), 0)
    assert other_processes([], {10}) == (set(), 0)


def test_in_a_container_only_the_count_of_other_processes_is_known():
    # NVML lists host PIDs; none is ours: one of them is us, the others are not
    assert other_processes([48211], {10, 1}) == (set(), 0)
    assert other_processes([48211, 50007, 50008], {10, 1}) == (set(), 2)
