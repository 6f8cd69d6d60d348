"""The real models (torchvision's ResNets, transformers' BERT and GPT-2): bitwise parity
across the three paradigms at ``tiny``, dropout on; FLOPs against the published figures; and
what happens where their library is missing.

The parity runs go through the worker's own ``run`` (the code a cell process runs, minus the
spawn) in this process, once for the module: the libraries import once instead of twelve
times. One model runs as real cell processes too (``test_dropout_consumes_...``), the check that
no framework draws random numbers of its own in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from harness.config import Paradigm, Precision
from harness.discovery import builtin_workloads
from harness.launch.runner import run_cell
from harness.launch.worker import run
from harness.measure.flops import count_step_flops, count_step_flops_on_meta
from harness.measure.parity import weights_digest
from harness.precision import AmpPolicy
from tests.conftest import PARADIGMS, tiny_cell

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["resnet18", "resnet50", "bert-base", "gpt2"]
STEPS, WARMUP = 2, 1  # three optimizer steps: enough for bitwise weights to tell
pytest.importorskip("torchvision")
pytest.importorskip("transformers")


def _cell(workload: str, paradigm: Paradigm, **overrides):
    return tiny_cell(workload, paradigm, steps=STEPS, warmup=WARMUP, window=1, batch_size=4,
                     **overrides)


VALIDATED = "gpt2+val"  # GPT-2 with a validation pass every second step


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(workload, paradigm) -> the worker's measurements, in this process."""
    threads, out = torch.get_num_threads(), {}
    cells = {w: (w, {}) for w in MODELS} | {VALIDATED: ("gpt2", {"features": {"val_every": 2}})}
    try:
        for name, (workload, overrides) in cells.items():
            for paradigm in PARADIGMS:
                work = tmp_path_factory.mktemp(f"{workload}-{paradigm.value}")
                with pytest.MonkeyPatch.context() as mp:
                    mp.chdir(work)  # whatever a framework writes lands here
                    cfg = _cell(workload, paradigm, **overrides)
                    out[name, paradigm.value] = run(cfg, 0, 0, 1, {})
    finally:
        torch.set_num_threads(threads)  # the worker set one thread for its cell
    return out


@pytest.mark.parametrize("workload", [*MODELS, VALIDATED])
def test_bitwise_across_the_three_paradigms(runs, workload):
    plain = runs[workload, "plain"]["parity"]
    assert len(plain["losses"]) == STEPS + WARMUP
    for paradigm in ("lightning", "ignite"):
        other = runs[workload, paradigm]["parity"]
        assert other["weights_sha256"] == plain["weights_sha256"], paradigm
        assert other["losses"] == plain["losses"], paradigm  # exact float equality


@pytest.mark.parametrize("workload, items, name", [
    ("resnet18", 1, "images"), ("resnet50", 1, "images"),
    ("bert-base", 32, "tokens"), ("gpt2", 32, "tokens"),  # tiny's sequence length
])
def test_throughput_items_and_flops_counted_on_meta(runs, workload, items, name):
    m = runs[workload, "plain"]
    assert (m["items_per_sample"], m["item_name"]) == (items, name)
    assert m["flops_counted_on"] == "meta" and m["flops_per_step"] > 0


def test_the_digest_covers_batchnorm_statistics(runs):
    """BatchNorm's running statistics are buffers: the full digest covers them, the
    parameters-only one (DDP's cross-rank check) does not."""
    cls = builtin_workloads()["resnet18"]
    torch.manual_seed(0)
    model = cls.from_size("tiny").build_model()
    before = weights_digest(model), weights_digest(model, buffers=False)
    model.bn1.running_mean += 1.0
    assert weights_digest(model) != before[0]
    assert weights_digest(model, buffers=False) == before[1]
    m = runs["resnet18", "plain"]["parity"]
    assert m["weights_sha256"] != m["params_sha256"]


@pytest.mark.parametrize("workload", ["bert-base", "gpt2"])
def test_dropout_is_on_and_draws_random_numbers(workload):
    """Two forwards of one batch in training mode differ: dropout is live, so the parity
    above shows that the three paradigms consumed torch's global RNG alike."""
    w = builtin_workloads()[workload].from_size("tiny")
    torch.manual_seed(0)
    model = w.build_model().train()
    batch = w.build_dataset()[:4]
    with torch.no_grad():
        assert w.loss(model, batch) != w.loss(model, batch)
        model.eval()
        assert w.loss(model, batch) == w.loss(model, batch)


def test_validation_draws_from_the_global_rng_alike_in_all_three(runs):
    """Each validation pass iterates a DataLoader without a generator of its own, which draws
    its base seed from torch's global RNG: the dropout masks after it change (the losses part
    from the unvalidated run's), and the three paradigms still agree bit for bit above, since
    each starts one pass per validation, at the same step."""
    plain, validated = (runs[k, "plain"]["parity"]["losses"] for k in ("gpt2", VALIDATED))
    assert validated[:2] == plain[:2] and validated[2:] != plain[2:]


def test_dropout_consumes_random_numbers_alike_in_fresh_processes(runs, tmp_path):
    """GPT-2's Lightning and Ignite cells as real cell processes: a random draw a framework
    made in a fresh process, between the seeded build and a step, would shift its dropout
    masks. (The plain loop draws none of its own: its run above is its fresh-process run.)"""
    plain = runs["gpt2", "plain"]["parity"]
    for paradigm in (Paradigm.LIGHTNING, Paradigm.IGNITE):
        record = run_cell(_cell("gpt2", paradigm), tmp_path, 0, environment={})
        assert record["status"] == "ok", record.get("message")
        assert record["measurements"]["weights_sha256"] == plain["weights_sha256"], paradigm
        assert record["measurements"]["losses"] == plain["losses"], paradigm


def test_channels_last_is_a_size_setting():
    w = builtin_workloads()["resnet18"](image=16, classes=10, samples=8, channels_last=True)
    torch.manual_seed(0)
    model = w.build_model()
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert w.loss(model, w.build_dataset()[:4]).isfinite()
    assert builtin_workloads()["resnet50"].sizes["default"]["channels_last"] is True


# ---- FLOPs against the published figures, counted on the meta device (no real step)

def test_resnet50_step_flops_match_its_published_forward_cost():
    """torchvision's model card: 4.09 G multiply-adds per 224x224 image forward. A training
    step is three times the forward (the backward computes the gradients of the inputs and of
    the weights, each as costly as the forward), less the first convolution's input gradient,
    which nothing needs: within 2% of 3 x 2 x 4.09 G FLOPs per image."""
    w = builtin_workloads()["resnet50"].from_size("default")
    images = torch.zeros(2, 3, 224, 224), torch.zeros(2, dtype=torch.long)
    flops = count_step_flops_on_meta(w, images)
    assert flops / 2 == pytest.approx(3 * 2 * 4.09e9, rel=0.02)


def test_gpt2_step_flops_match_six_n_t():
    """6 x parameters x tokens (Kaplan et al.) leaves out attention's score and value products,
    12 x layers x sequence x width per token (15% more at 1024 tokens for GPT-2), and counts
    the position embeddings, biases and LayerNorms, which do no matrix products (0.7% less):
    the count is within 1% of 6NT plus attention, and within 16% of 6NT alone."""
    w = builtin_workloads()["gpt2"].from_size("default")
    with torch.device("meta"):
        n = sum(p.numel() for p in w.build_model().parameters())  # tied embedding counted once
    assert n == pytest.approx(124.44e6, rel=1e-3)
    tokens = 1024
    flops = count_step_flops_on_meta(w, (torch.zeros(1, tokens, dtype=torch.long),))
    six_nt = 6 * n * tokens
    attention = 12 * w.layers * tokens * w.d * tokens
    assert flops == pytest.approx(six_nt + attention, rel=0.01)
    assert 1.0 < flops / six_nt < 1.16


@pytest.mark.parametrize("workload", ["resnet18", "bert-base", "gpt2"])  # resnet50: resnet18's ops
def test_the_meta_count_equals_the_count_of_a_real_step(workload):
    w = builtin_workloads()[workload].from_size("tiny")
    torch.manual_seed(0)
    batch = w.build_dataset()[:2]
    real = count_step_flops(w, w.build_model(), batch, AmpPolicy(Precision.FP32, "cpu"))
    assert count_step_flops_on_meta(w, batch) == real


# ---- the library missing

HIDE = """\
import sys
sys.modules["transformers"] = None  # find_spec says "not installed"; an import fails
"""


def test_a_missing_library_is_listed_and_its_cells_are_unsupported(tmp_path):
    """transformers hidden from every process (a sitecustomize on PYTHONPATH): `list` names
    the unavailable workloads with the install command, a gpt2 cell is `unsupported` with it,
    and a linear cell beside it runs and the report renders."""
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "sitecustomize.py").write_text(textwrap.dedent(HIDE))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'hide'}:{ROOT}"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                              text=True, timeout=240, cwd=ROOT, env=env)

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    install = "pip install 'paradigm-bench[nlp]'"
    for name in ("bert-base", "gpt2"):
        assert f"workload {name!r} needs transformers, which is not installed: {install}" \
            in listed.stdout
    assert "resnet18" in listed.stdout and "'resnet18' needs" not in listed.stdout

    out = tmp_path / "run"
    ran = cli("run", "--workload", "linear", "gpt2", "--paradigm", "plain", "--size", "tiny",
              "--steps", "4", "--warmup", "1", "--window", "2", "--no-progress",
              "--out", str(out))
    assert ran.returncode == 0, ran.stderr[-3000:]
    records = {r["config"]["workload"]: r for r in
               (json.loads(p.read_text()) for p in (out / "cells").glob("*.json"))}
    assert records["linear"]["status"] == "ok"
    assert records["gpt2"]["status"] == "unsupported"
    assert install in records["gpt2"]["message"]
    assert (out / "report.html").is_file()


def test_what_harness_list_reads_is_what_the_classes_declare():
    """`list` reads `requires` from the source; the harness checks the class attribute."""
    from harness.discovery import declared_requirements

    declared = declared_requirements()
    for name, cls in builtin_workloads().items():
        assert declared[name] == dict(cls.requires), name
    assert declared["resnet50"] == {"torchvision": "paradigm-bench[vision]"}
    assert declared["gpt2"] == {"transformers": "paradigm-bench[nlp]"}
