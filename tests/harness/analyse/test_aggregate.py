"""Per-rank measurements merged by the written-down rules."""

from __future__ import annotations

import pytest

from harness.analyse.aggregate import aggregate, warnings_for
from harness.config import CellConfig, Paradigm


def _rank(rank, windows, energy=None, foreign=(), params="p", sync=None):
    return {
        "rank": rank,
        "timing": {"window_s": windows, "step_host_s": [0.1]},
        "items_per_sample": 1, "item_name": "samples", "flops_per_step": 4e9,
        "startup": {"import_framework_s": 1.0 + rank, "to_first_step_s": 0.5},
        "memory": {"host_peak_rss_bytes": 100 * (rank + 1), "energy_j": energy,
                   "nvml_foreign_pids": list(foreign), "host_peak_is_steady": True},
        "parity": {"losses": [2.0, 1.0], "weights_sha256": f"w{rank}", "params_sha256": params},
        "extras": {"lightning_ddp_sync_s": sync} if sync else {},
        "runtime": {"device_name": "NVIDIA H100 80GB HBM3"},
    }


CFG = CellConfig("mlp", Paradigm.LIGHTNING, batch_size=8, world_size=2, steps=20, window=10,
                 device="cuda")


def test_slowest_rank_per_window_and_global_throughput():
    ranks = [_rank(0, [1.0, 3.0], energy=10.0, sync=[0.001, 0.003, 0.002]),
             _rank(1, [2.0, 2.0], energy=30.0, sync=[0.004])]
    m = aggregate(ranks, CFG)
    assert m["window_step_s"] == [0.2, 0.3]  # max per window / 10 steps
    assert m["step_time_s"] == pytest.approx(0.25)
    assert m["items_per_step"] == 16 and m["items_per_s"] == pytest.approx(64.0)
    assert m["startup"]["import_framework_s"] == 2.0  # slowest rank
    assert m["memory"]["host_peak_rss_bytes"] == 200  # max over ranks
    assert m["energy_per_item_j"] == pytest.approx(40.0 / (8 * 2 * 20))
    assert m["mfu"] == pytest.approx(4e9 / 0.25 / 67e12)  # fp32 cell: the H100 fp32 peak
    assert m["framework_sync_s"] == {"lightning_ddp_sync_s": 0.004}
    assert m["ranks_agree"]


def test_unknown_gpu_has_no_mfu():
    rank = _rank(0, [1.0])
    rank["runtime"]["device_name"] = "Some Future GPU"
    m = aggregate([rank], CFG.replace(world_size=1))
    assert m["mfu"] is None and m["achieved_flops"] == pytest.approx(4e9 / 0.1)


def test_warnings_name_foreign_processes_divergent_ranks_and_oversubscription():
    ranks = [_rank(0, [1.0], foreign=[4242]), _rank(1, [1.0], params="other")]
    m = aggregate(ranks, CFG)
    text = " | ".join(warnings_for(m, CFG, {"cpu_count": 2}))
    assert "pid 4242" in text and "different parameters" in text
    cpu = CFG.replace(device="cpu", threads=2)
    assert any("oversubscribed" in w for w in warnings_for(m, cpu, {"cpu_count": 2}))
    assert not any("oversubscribed" in w
                   for w in warnings_for(m, cpu.replace(threads=1), {"cpu_count": 2}))


def test_step_time_is_the_mean_step_and_the_median_window_is_kept_beside_it():
    # one window in four holds a checkpoint: the median hides it, the mean charges it
    m = aggregate([_rank(0, [1.0, 1.0, 1.0, 5.0])], CFG.replace(world_size=1))
    assert m["step_time_s"] == pytest.approx(0.2)
    assert m["median_window_step_s"] == pytest.approx(0.1)
    assert m["items_per_s"] == pytest.approx(8 / 0.2)


def test_a_cpu_cell_on_a_gpu_host_has_no_mfu():
    # the runtime names the host's GPU; a CPU cell must not be measured against its peak
    m = aggregate([_rank(0, [1.0])], CFG.replace(world_size=1, device="cpu"))
    assert m["mfu"] is None and m["peak_flops"] is None


def test_a_container_counts_other_gpu_processes_it_cannot_name():
    rank = _rank(0, [1.0])
    rank["memory"]["nvml_other_processes"] = 2
    m = aggregate([rank], CFG.replace(world_size=1))
    assert any("2 other process(es)" in w for w in warnings_for(m, CFG, {"cpu_count": 2}))
