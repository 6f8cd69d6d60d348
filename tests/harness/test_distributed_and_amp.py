"""DDP (world size 2, gloo, torchrun) and mixed precision on CPU, across the three paradigms."""

from __future__ import annotations

import pytest

from harness.analysis import LOSS_TOLERANCE
from harness.runner import run_cell
from tests.conftest import PARADIGMS, tiny_cell


@pytest.fixture(scope="module")
def ddp_records(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp")
    return {p.value: run_cell(tiny_cell("cnn", p, world_size=2, batch_size=8), run_dir, 0, {})
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


def test_bf16_runs_in_all_three_with_close_losses(tmp_path):
    records = {p.value: run_cell(tiny_cell("mlp", p, precision="bf16-mixed"), tmp_path, 0, {})
               for p in PARADIGMS}
    base = records["plain"]["measurements"]["losses"]
    for paradigm, record in records.items():
        assert record["status"] == "ok", record.get("message")
        gaps = [abs(a - b) / abs(b) for a, b in zip(record["measurements"]["losses"], base)]
        assert max(gaps) <= LOSS_TOLERANCE["cpu", "bf16-mixed"], paradigm


def test_lightning_fp16_on_cpu_is_unsupported_not_silently_bf16(tmp_path):
    record = run_cell(tiny_cell("linear", "lightning", precision="fp16-mixed"), tmp_path, 0, {})
    assert record["status"] == "unsupported" and "bf16" in record["message"]


def test_fp16_with_loss_scaling_runs_on_cpu_for_plain_and_ignite(tmp_path):
    records = {p: run_cell(tiny_cell("mlp", p, precision="fp16-mixed"), tmp_path, 0, {})
               for p in ("plain", "ignite")}
    for paradigm, record in records.items():
        assert record["status"] == "ok", (paradigm, record.get("message"))
    plain, ignite = (records[p]["measurements"]["losses"] for p in ("plain", "ignite"))
    gaps = [abs(a - b) / abs(b) for a, b in zip(ignite, plain)]
    assert max(gaps) <= LOSS_TOLERANCE["cpu", "fp16-mixed"]
