"""On CPU in fp32 the three paradigms must train the same thing, bit for bit.

The workloads cover a plain linear model, an MLP, a CNN with BatchNorm buffers, a GPT with tied
embeddings, and a recurrent model over an embedding fed dict batches (``rnn``)."""

from __future__ import annotations

import pytest

from tests.conftest import PARADIGMS, tiny_cell

WORKLOADS = ["linear", "mlp", "cnn", "gpt", "rnn"]
# the bare cells' settings, the same as tests/harness/training/test_features.py's, so that
# the session runs each of them once (``shared_cells``)
STEPS, WARMUP, WINDOW = 24, 2, 4


@pytest.fixture(scope="module")
def records(shared_cells):
    return {(workload, paradigm.value): shared_cells.run(
        tiny_cell(workload, paradigm, steps=STEPS, warmup=WARMUP, window=WINDOW))
        for workload in WORKLOADS for paradigm in PARADIGMS}


@pytest.mark.parametrize("workload", WORKLOADS)
def test_all_paradigms_finish(records, workload):
    for paradigm in PARADIGMS:
        record = records[workload, paradigm.value]
        assert record["status"] == "ok", record.get("message")


@pytest.mark.parametrize("workload", WORKLOADS)
def test_bitwise_identical_weights_and_losses(records, workload):
    plain = records[workload, "plain"]["measurements"]
    assert len(plain["losses"]) == STEPS + WARMUP
    for paradigm in ("lightning", "ignite"):
        other = records[workload, paradigm]["measurements"]
        assert other["weights_sha256"] == plain["weights_sha256"], paradigm
        assert other["losses"] == plain["losses"], paradigm  # exact float equality


@pytest.mark.parametrize("workload", WORKLOADS)
def test_loss_falls(records, workload):
    losses = records[workload, "plain"]["measurements"]["losses"]
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.9 * first, losses


def test_measurements_are_complete(records, shared_cells):
    # cold: forked from the bare server, it pays (and times) Lightning's import itself
    m = shared_cells.run(tiny_cell("mlp", "lightning", steps=STEPS, warmup=WARMUP,
                                   window=WINDOW), warm=False)["measurements"]
    assert len(m["window_step_s"]) == STEPS // WINDOW and m["step_time_s"] > 0
    assert len(m["step_host_s"]) == STEPS
    assert m["items_per_s"] == pytest.approx(16 / m["step_time_s"])
    assert m["startup"]["import_framework_s"] > 0
    assert 0 < m["startup"]["to_first_step_s"] < m["startup"]["spawn_to_first_step_s"]
    assert m["memory"]["host_peak_rss_bytes"] > 50 * 2**20
    gpt = records["gpt", "plain"]["measurements"]
    assert gpt["item_name"] == "tokens" and gpt["items_per_step"] == 16 * 16


def test_data_held_on_the_device_trains_the_same_as_a_host_loader(records, shared_cells):
    """data 'device' changes where batches are gathered, never which: on CPU the same path
    runs (no copy), and every paradigm ends with the host loader's weights."""
    plain = records["mlp", "plain"]["measurements"]
    for paradigm in PARADIGMS:
        cell = tiny_cell("mlp", paradigm, steps=STEPS, warmup=WARMUP, window=WINDOW,
                         data="device")
        record = shared_cells.run(cell)
        assert record["status"] == "ok", record.get("message")
        assert record["measurements"]["weights_sha256"] == plain["weights_sha256"], paradigm
        assert record["measurements"]["losses"] == plain["losses"], paradigm
