"""Export after training, per paradigm: every format from every paradigm on a model with
BatchNorm and dropout (workloads/tabular.py), each artifact run and judged.

One module-scoped set of cells: Lightning's through the runner (a fresh process: the worker's
export path), the plain loop's and Ignite's in this process through the same worker function.
What the tests pin is what torch 2.13, Lightning 2.6.6 and onnxscript 0.7.2 do (the CPU pins):
straight after training all three models are in training mode; Lightning's to_torchscript
puts the module in eval mode, torch's calls do not, and the ONNX exporter keeps a
training-mode Dropout that ONNX Runtime's optimiser then removes.
"""

from __future__ import annotations

import re
import sys

import pytest
import torch

from harness.analyse.exports import export_frame, export_table
from harness.export import behaviour
from harness.export.cell import Subject, export_one, probe_batches, trained_subject
from harness.export.formats import INSTALL, TORCH_CALLS, Format, Source
from harness.launch.runner import run_cell
from reports.render import render_run
from tests.conftest import FIXTURES, tiny_cell
from tests.harness.scenarios import in_process

SETTINGS = dict(scenario="export", steps=4, warmup=2, window=2, batch_size=16)
FORMATS = [f.value for f in Format]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("export")
    # a cell process (forked warm: Lightning's import is not what these tests read)
    records = {"lightning": run_cell(tiny_cell("tabular", "lightning", **SETTINGS), run_dir, 0,
                                     environment={}, warm=True)}
    for paradigm in ("plain", "ignite"):
        records[paradigm] = in_process(tiny_cell("tabular", paradigm, **SETTINGS), run_dir)
    return run_dir, records


@pytest.fixture(scope="module")
def artifacts(run):
    _, records = run
    for paradigm, record in records.items():
        assert record["status"] == "ok", (paradigm, record.get("message"),
                                          record.get("traceback_tail"))
    return {(p, e["source"], e["format"]): e for p, r in records.items()
            for e in r["measurements"]["exports"]}


@pytest.fixture(scope="module")
def table(run):
    return export_table(export_frame(list(run[1].values()))).set_index(
        ["paradigm", "source", "format"])


def test_every_format_from_every_paradigm_loads_and_runs(artifacts):
    for paradigm in ("plain", "lightning", "ignite"):
        for source in ("trained", "checkpoint"):
            for fmt in FORMATS:
                entry = artifacts[paradigm, source, fmt]
                assert entry["status"] == "ok", (paradigm, source, fmt, entry.get("message"))
                assert entry["size_bytes"] > 0 and entry["export_s"] > 0 and entry["load_s"] > 0


def test_checkpoints_give_artifacts_within_tolerance_and_identical_across_paradigms(
        artifacts, table, run):
    for paradigm in ("plain", "lightning", "ignite"):
        sources = run[1][paradigm]["measurements"]["sources"]
        assert sources["checkpoint"]["same_as_trained"], paradigm  # the checkpoint's weights
        for fmt in FORMATS:
            entry = artifacts[paradigm, "checkpoint", fmt]
            assert entry["passed"] and entry["behaviour"]["mode"] == "eval", (paradigm, fmt)
            assert entry["behaviour"]["max_diff_eval"] <= entry["bound"]
            expected = "baseline" if paradigm == "plain" else "identical"
            assert table.loc[(paradigm, "checkpoint", fmt), "vs_plain"] == expected
    weights = {r["measurements"]["sources"]["trained"]["weights_sha256"] for r in run[1].values()}
    assert len(weights) == 1  # identical weights: the premise of "identical outputs"
    # torch's own kernels: bit for bit the eager model; ONNX Runtime rounds its own way
    assert artifacts["plain", "checkpoint", "torchscript"]["behaviour"]["max_diff_eval"] == 0.0
    assert 0 < artifacts["plain", "checkpoint", "onnx"]["behaviour"]["max_diff_eval"] <= 1e-5


# (source, format) -> (mode, BatchNorm, dropout, passes) exported straight after training
EVAL = ("eval", "running statistics", "inactive", True)
TRAIN = ("train", "batch statistics", "active", False)
EXPECTED = {
    "lightning": {"torchscript": EVAL, "torchscript-trace": EVAL, "exported-program": TRAIN,
                  "onnx": EVAL},
    "ignite": {"torchscript": TRAIN, "torchscript-trace": TRAIN, "exported-program": TRAIN,
               "onnx": EVAL},
    "plain": {"torchscript": TRAIN, "torchscript-trace": TRAIN, "exported-program": TRAIN,
              "onnx": EVAL},
}


@pytest.mark.parametrize("paradigm", EXPECTED)
def test_the_mode_each_documented_path_exports_after_training(artifacts, table, paradigm):
    for fmt, (mode, bn, dropout, passes) in EXPECTED[paradigm].items():
        entry = artifacts[paradigm, "trained", fmt]
        found = entry["behaviour"]
        assert entry["mode_at_export"] == "train"  # every framework leaves the model training
        assert (found["mode"], found["batchnorm"], found["dropout"], entry["passed"]) == \
            (mode, bn, dropout, passes), (paradigm, fmt, found)
        if mode == "train":  # bit for bit the eager model in training mode, after one seed
            assert found["matches"] == ["bn-train/dropout-train"]
            assert found["max_diff_eval"] > 0.1
    # same mode, same weights: the same outputs as the plain loop's artifact, bit for bit
    for fmt in ("exported-program", "onnx"):
        assert table.loc[(paradigm, "trained", fmt), "vs_plain"] in ("identical", "baseline")
    if paradigm == "lightning":
        assert table.loc[("lightning", "trained", "torchscript"), "vs_plain"] == "other mode"


def test_onnx_keeps_training_mode_dropout_that_onnxruntime_optimises_away(artifacts):
    for paradigm in ("plain", "lightning", "ignite"):
        trained = artifacts[paradigm, "trained", "onnx"]
        # BatchNorm: onnxscript translates it with running statistics whatever the mode
        assert trained["graph_training_nodes"] == {"dropout": 1, "batchnorm": 0}
        raw = trained["unoptimised"]
        assert raw["stochastic"] and raw["dropout"] == "active" and raw["mode"] == "undetermined"
        checkpoint = artifacts[paradigm, "checkpoint", "onnx"]
        assert checkpoint["graph_training_nodes"] == {"dropout": 0, "batchnorm": 0}
        assert not checkpoint["unoptimised"]["stochastic"]


def _categories(entry):
    return {w["category"] for w in entry["warnings"]}


def test_warnings_name_the_deprecations_and_the_training_mode_export(artifacts):
    lightning = artifacts["lightning", "trained", "torchscript"]
    assert "LightningDeprecationWarning" in _categories(lightning)
    assert any("to_torchscript` has been deprecated" in w["message"] and w["deprecation"]
               for w in lightning["warnings"])
    assert "DeprecationWarning" in _categories(artifacts["plain", "trained", "torchscript"])
    for paradigm in ("plain", "lightning", "ignite"):
        trained = artifacts[paradigm, "trained", "onnx"]
        assert any("in training mode" in w["message"] for w in trained["warnings"]), paradigm
        assert not any("in training mode" in w["message"]
                       for w in artifacts[paradigm, "checkpoint", "onnx"]["warnings"])
    assert "TracerWarning" in _categories(artifacts["plain", "trained", "torchscript-trace"])


def test_tracing_a_training_mode_model_updates_its_batchnorm_statistics(artifacts):
    changed = artifacts["plain", "trained", "torchscript-trace"]["changed_model"]
    assert changed and all(re.search(r"running_(mean|var)|num_batches_tracked", k)
                           for k in changed)
    assert artifacts["lightning", "trained", "torchscript-trace"]["changed_model"] == []  # eval
    assert artifacts["plain", "trained", "torchscript"]["changed_model"] == []


def test_the_report_says_what_was_measured(run, table):
    run_dir, _ = run
    page = render_run(run_dir).read_text()
    section = page[page.index('<section id="export">'):]
    section = section[: section.index("</section>")]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section)).replace("&#39;", "'")
    assert "Not the same, exported straight after training" in text
    assert ("torchscript: plain PyTorch train mode (fails); Lightning eval mode (passes); "
            "Ignite train mode (fails)") in text
    assert "alike in all, and failing: exported-program (train mode)" in text
    assert "every format's artifact is identical in all three" in text
    cells = re.findall(r'<td class="wrap"><span class="badge (\w+)">(\w+)</span>', section)
    # rows: plain, lightning, ignite x trained, checkpoint; columns in Format's order
    verdicts = [v for _, v in cells]
    expected = [("pass" if EXPECTED[p][f][3] else "fail") if s == "trained" else "pass"
                for p in ("plain", "lightning", "ignite") for s in ("trained", "checkpoint")
                for f in FORMATS]
    assert verdicts == expected
    assert "train mode (BatchNorm: batch statistics, dropout active)" in text
    assert "the graph holds 1 Dropout in training mode" in text


def test_a_model_that_branches_on_its_data_is_unsupported_where_the_exporter_says_so(tmp_path):
    from tests.fixtures.branchy import Branchy

    torch.manual_seed(0)
    workload = Branchy.from_size("tiny")
    model = workload.build_model().eval()

    class Ctx:  # what probe_batches reads of a run context
        cfg = tiny_cell(str(FIXTURES / "branchy.py"), batch_size=16)
        dataset = workload.build_dataset()

    Ctx.workload = workload
    example, probe = probe_batches(Ctx)
    assert example.sum() > 0 > probe.sum()  # the example and the probe take different branches
    refs = behaviour.references(model, probe)
    subject = Subject(Source.CHECKPOINT, model, model, TORCH_CALLS)
    found = {c.format.value: export_one(subject, c, example, probe, refs, tmp_path / c.format,
                                        threads=1) for c in TORCH_CALLS}
    for fmt in ("exported-program", "onnx"):  # both go through torch.export, which refuses
        assert found[fmt]["status"] == "unsupported", found[fmt]
        assert "data-dependent" in found[fmt]["message"] or "GuardOnDataDependent" in \
            found[fmt]["message"], found[fmt]["message"]
    assert found["torchscript"]["status"] == "ok" and found["torchscript"]["passed"]
    # the trace holds the example's branch only: it runs, warns, and fails on the probe
    trace = found["torchscript-trace"]
    assert trace["status"] == "ok" and not trace["passed"] and "TracerWarning" in _categories(trace)


def test_without_onnx_the_onnx_format_is_unsupported_with_the_install_command(monkeypatch,
                                                                              tmp_path):
    model = torch.nn.Linear(3, 2).eval()
    x = torch.randn(4, 3)
    refs = behaviour.references(model, x)
    subject = Subject(Source.CHECKPOINT, model, model, TORCH_CALLS)
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if it were not installed
    [onnx] = [c for c in TORCH_CALLS if c.format is Format.ONNX]
    entry = export_one(subject, onnx, x, x, refs, tmp_path / "onnx", threads=1)
    assert entry["status"] == "unsupported" and INSTALL in entry["message"]
    assert "onnxscript" in entry["message"] and not (tmp_path / "onnx").exists()
    [script] = [c for c in TORCH_CALLS if c.format is Format.TORCHSCRIPT]
    assert export_one(subject, script, x, x, refs, tmp_path / "ts", threads=1)["passed"]


class _Placed(torch.nn.Linear):
    """Records where it is moved (Lightning's teardown leaves its module on the CPU)."""

    def __init__(self) -> None:
        super().__init__(2, 2)
        self.moved_to: list[torch.device] = []

    def to(self, *args, **kwargs):  # type: ignore[override]
        self.moved_to.append(args[0])
        return super().to(*args, **kwargs)


@pytest.mark.parametrize("paradigm", ["plain", "lightning", "ignite"])
def test_every_paradigms_trained_object_is_exported_from_the_cells_device(paradigm):
    from types import SimpleNamespace

    model, module = _Placed(), _Placed()
    ctx = SimpleNamespace(cfg=tiny_cell("tabular", paradigm, scenario="export"),
                          trained=module if paradigm == "lightning" else None,
                          device=torch.device("cpu"))
    subject = trained_subject(ctx, model)
    held = module if paradigm == "lightning" else model
    assert subject.obj is held and held.moved_to == [ctx.device]
