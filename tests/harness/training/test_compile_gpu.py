"""CUDA graphs (``compile = "reduce-overhead"``) in all three paradigms: `pytest -m gpu` on a
CUDA host, skipped without one. Written without a GPU to run them on: unverified until run.

What only a GPU shows: CUDA graph trees in a training loop (a graph's outputs are overwritten
by its next replay, so the recorded losses must be copies), the host-device syncs a per-step
``.item()`` adds (Ignite's default output), Lightning's documented compile under CUDA graphs.
"""

from __future__ import annotations

import pytest

from harness.analyse.analysis import parity_verdict, records_frame
from harness.launch.runner import SHARED_CACHE_ENV, run_cell
from tests.conftest import PARADIGMS
from tests.harness.gpu_cells import compile_cells

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    # one inductor cache for all: the graphs are the same, so only the first cell compiles
    # cold (tests-gpu must fit a few minutes); cold and warm are tested on the CPU
    run_dir = tmp_path_factory.mktemp("cudagraphs")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(SHARED_CACHE_ENV, str(run_dir / "inductor-cache"))
        return {name: run_cell(cell, run_dir, 0, {}) for name, cell in compile_cells().items()}


@pytest.mark.timeout(300)  # the module fixture compiles in its set-up
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


@pytest.mark.timeout(300)  # the module fixture compiles in its set-up
def test_lightnings_documented_compile_runs_under_cuda_graphs(records):
    lightning, plain = records["lightning-documented"], records["plain"]
    assert lightning["status"] == "ok", lightning.get("message")
    assert plain["status"] == "ok", plain.get("message")
    losses = lightning["measurements"]["losses"]
    assert len(losses) == 30 and len(set(losses)) > 1  # copies, not one overwritten output
