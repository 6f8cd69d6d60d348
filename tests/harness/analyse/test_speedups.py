from __future__ import annotations

import pandas as pd
import pytest

from harness.analyse.speedups import amp_speedups, ddp_scaling

BASE = dict(workload="mlp", size="small", profile="minimal", batch_size=64, device="cpu",
            nnodes=1, steps=100, warmup=10, window=10, seed=0, workers=0, data="host",
            paradigm="plain", parity="baseline", loss_gap=0.0, lightning_ddp_sync_s=None,
            warnings="", features="none", phases=True, compile="none", compile_style="model")


def _cells(*rows):
    return pd.DataFrame([{**BASE, **r} for r in rows])


def test_amp_speedup_is_fp32_over_mixed():
    cells = _cells(dict(precision="fp32", world_size=1, step_time_s=0.010, threads=1),
                   dict(precision="bf16-mixed", world_size=1, step_time_s=0.004, threads=1))
    out = amp_speedups(cells)
    assert len(out) == 1 and out["speedup"].iloc[0] == pytest.approx(2.5)


def test_scaling_efficiency_against_n_times_single_process():
    cells = _cells(dict(precision="fp32", world_size=1, items_per_s=1000.0, threads=2),
                   dict(precision="fp32", world_size=2, items_per_s=1500.0, threads=1))
    out = ddp_scaling(cells)
    assert out["efficiency"].tolist() == pytest.approx([1.0, 0.75])
    assert out["ideal_items_per_s"].tolist() == [1000.0, 2000.0]


def test_no_scaling_without_a_single_process_cell():
    cells = _cells(dict(precision="fp32", world_size=2, items_per_s=1.0, threads=1),
                   dict(precision="fp32", world_size=4, items_per_s=2.0, threads=1))
    assert ddp_scaling(cells).empty
