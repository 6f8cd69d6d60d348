"""CUDA graphs (``compile = "reduce-overhead"``) in all three paradigms: `pytest -m gpu` on a
CUDA host, skipped without one. Written without a GPU to run them on: unverified until run.

What only a GPU shows: CUDA graph trees in a training loop (a graph's outputs are overwritten
by its next replay, so the recorded losses must be copies), the host-device syncs a per-step
``.item()`` adds (Ignite's default output), Lightning's documented compile under CUDA graphs.
"""

from __future__ import annotations

import pytest

from harness.analyse.analysis import parity_verdict, records_frame
from harness.launch.runner import run_cell
from tests.conftest import PARADIGMS, tiny_cell

pytestmark = pytest.mark.gpu


def _cell(paradigm, **overrides):
    settings = dict(device="cuda", steps=24, warmup=6, window=8, workers=0, timeout_s=600,
                    compile="reduce-overhead", data="device")
    return tiny_cell("mlp", paradigm, **{**settings, **overrides})


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cudagraphs")
    out = {p.value: run_cell(_cell(p), run_dir, 0, {}) for p in PARADIGMS}
    out["ignite-defaults"] = run_cell(_cell("ignite", profile="defaults"), run_dir, 0, {})
    out["lightning-documented"] = run_cell(_cell("lightning", compile_style="documented"),
                                           run_dir, 0, {})
    out["plain-documented"] = run_cell(_cell("plain", compile_style="documented"), run_dir,
                                       0, {})
    return out


def test_cuda_graph_cells_train_within_the_gpu_parity_tolerance(records):
    frame = records_frame([records[p.value] for p in PARADIGMS])
    for _, row in frame.iterrows():
        assert row["status"] == "ok", row["message"]
    base = frame[frame["paradigm"] == "plain"].iloc[0]
    for _, row in frame[frame["paradigm"] != "plain"].iterrows():
        assert parity_verdict(row, base)[0] in ("bitwise", "close"), row["paradigm"]


def test_no_per_step_sync_in_minimal_cells_and_one_for_ignites_item(records):
    for p in PARADIGMS:
        compiled = records[p.value]["measurements"]["compile"]
        assert compiled["syncs_per_step"] == 0, p.value
        assert compiled["after_warmup"]["graphs"] == 0, p.value  # compiled in warm-up
    defaults = records["ignite-defaults"]
    assert defaults["status"] == "ok", defaults.get("message")
    assert defaults["measurements"]["compile"]["syncs_per_step"] >= 1  # its loss.item()


def test_lightnings_documented_compile_runs_under_cuda_graphs(records):
    lightning, plain = records["lightning-documented"], records["plain-documented"]
    assert lightning["status"] == "ok", lightning.get("message")
    assert plain["status"] == "ok", plain.get("message")
    losses = lightning["measurements"]["losses"]
    assert len(losses) == 30 and len(set(losses)) > 1  # copies, not one overwritten output
