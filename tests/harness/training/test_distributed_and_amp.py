"""DDP (world size 2, gloo, torchrun) and mixed precision on CPU, across the three paradigms."""

from __future__ import annotations

import pytest
import torch

from harness.analyse.analysis import LOSS_TOLERANCE
from tests.conftest import PARADIGMS, tiny_cell


@pytest.fixture(scope="module")
def ddp_records(shared_cells):
    """Spawned by torchrun (a world size above one is never forked); test_multinode.py's
    one-node cells too."""
    return {p.value: shared_cells.run(tiny_cell("cnn", p, world_size=2, batch_size=8))
            for p in PARADIGMS}


def test_ddp_world_two_is_bitwise_identical_across_paradigms(ddp_records):
    for paradigm, record in ddp_records.items():
        assert record["status"] == "ok", (paradigm, record.get("message"), record.get("log_tail"))
        m = record["measurements"]
        assert m["world_size"] == 2 and m["ranks_agree"]
        assert m["items_per_step"] == 16  # global batch = per-process batch x world
    digests = {r["measurements"]["weights_sha256"] for r in ddp_records.values()}
    losses = {tuple(r["measurements"]["losses"]) for r in ddp_records.values()}
    assert len(digests) == 1 and len(losses) == 1


@pytest.mark.parametrize("workload", ["mlp", "rnn"])
def test_bf16_is_bitwise_identical_in_all_three(shared_cells, workload):
    """One autocast policy in all three (Lightning's, weight-cast cache off): even a
    recurrent cell that reuses its weights every time step, fed dict batches, trains to the
    same bits. With the cache on in plain and Ignite only, rnn differed under Lightning."""
    records = {p.value: shared_cells.run(tiny_cell(workload, p, precision="bf16-mixed"))
               for p in PARADIGMS}
    for paradigm, record in records.items():
        assert record["status"] == "ok", (paradigm, record.get("message"))
    assert len({r["measurements"]["weights_sha256"] for r in records.values()}) == 1
    assert len({tuple(r["measurements"]["losses"]) for r in records.values()}) == 1


def test_the_shared_autocast_policy_is_lightnings_and_the_cache_matters():
    """Lightning's MixedPrecision plugin turns the weight-cast cache off; the harness does the
    same for all three, and on a recurrent model the cache changes the trained weights."""
    from pytorch_lightning.plugins.precision import MixedPrecision

    from harness.precision import AUTOCAST_CACHE
    from workloads.rnn import RNN

    assert MixedPrecision("bf16-mixed", "cpu").autocast_context_manager()._cache_enabled is \
        AUTOCAST_CACHE is False

    def train(cache: bool) -> list[torch.Tensor]:
        workload = RNN.from_size("tiny")
        torch.manual_seed(0)
        model = workload.build_model()
        optimizer = workload.build_optimizer(model.parameters())
        data = workload.build_dataset()
        batch = {k: torch.stack([data[i][k] for i in range(16)]) for k in ("tokens", "label")}
        for _ in range(3):
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=cache):
                loss = workload.loss(model, batch)
            loss.backward()
            optimizer.step()
        return [p.detach().clone() for p in model.parameters()]

    assert any(not torch.equal(a, b) for a, b in zip(train(True), train(False)))


def test_lightning_fp16_on_cpu_is_unsupported_not_silently_bf16(shared_cells):
    record = shared_cells.run(tiny_cell("linear", "lightning", precision="fp16-mixed"))
    assert record["status"] == "unsupported" and "bf16" in record["message"]


def test_fp16_with_loss_scaling_runs_on_cpu_for_plain_and_ignite(shared_cells):
    records = {p: shared_cells.run(tiny_cell("mlp", p, precision="fp16-mixed"))
               for p in ("plain", "ignite")}
    for paradigm, record in records.items():
        assert record["status"] == "ok", (paradigm, record.get("message"))
    plain, ignite = (records[p]["measurements"]["losses"] for p in ("plain", "ignite"))
    gaps = [abs(a - b) / abs(b) for a, b in zip(ignite, plain)]
    assert max(gaps) <= LOSS_TOLERANCE["cpu", "fp16-mixed"]
