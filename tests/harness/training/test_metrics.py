"""The metrics feature: every paradigm's own stack reports the values scikit-learn computes on
the same predictions (fp32 and bf16-mixed, on one process and on two under gloo), on validation
and on every training step (``metrics_where=both``, which trains the same weights in all
three), the padded DDP shard shows, and what no stack can do is `unsupported` or refused."""

from __future__ import annotations

import math

import pytest
import torch

from harness import cli
from harness.analyse.analysis import records_frame
from harness.analyse.metric_values import TOLERANCE, references
from harness.commands.arguments import build_parser
from harness.commands.selection import cells_from_args, validate_cells
from harness.features import FeatureError, Features, describe
from harness.measure.metric_clock import MetricClock
from harness.precision import UnsupportedConfig
from harness.training.context import RunContext
from harness.training.features.metrics import ignite_metrics
from reports import metrics as report
from reports.render import render_run
from tests.conftest import FIXTURES, PARADIGMS, tiny_cell
from tests.reports.fixtures import write_run
from tests.reports.htmlcheck import read
from tests.reports.test_sections import _section_html
from workloads.gpt import GPT

ODD = str(FIXTURES / "odd_classifier.py")
ALL = {"val_epoch_end": True, "metrics": ["all"], "metrics_average": ["macro", "micro",
                                                                      "default"]}
BOTH = {**ALL, "metrics_where": "both"}  # validation and every training step
# odd-classifier tiny: 256 samples in batches of 16 = 16 steps an epoch (8 per rank at 2 x 16)
SHAPES = {"fp32-world1": dict(precision="fp32", world_size=1),
          "bf16-world1": dict(precision="bf16-mixed", world_size=1),
          "fp32-world2": dict(precision="fp32", world_size=2),
          "bf16-world2": dict(precision="bf16-mixed", world_size=2)}


def _records(shared_cells, shape: str) -> list[dict]:
    records = [shared_cells.run(tiny_cell(ODD, p, steps=12, warmup=4, window=4, features=BOTH,
                                          **SHAPES[shape])) for p in PARADIGMS]
    for r in records:
        assert r["status"] == "ok", (r["config"]["paradigm"], r.get("traceback_tail"))
    return records


@pytest.fixture(scope="module", params=list(SHAPES))
def cells(request, shared_cells):
    return records_frame(_records(shared_cells, request.param))


def test_every_paradigm_reports_scikit_learns_values(cells):
    (block,) = report.value_blocks(cells)
    assert block["all_match"], [r for r in block["rows"] if not r["matches"]]
    names = {r["metric"] for r in block["rows"]}
    assert {"accuracy", "f1_macro", "f1_micro", "precision/2", "recall/0",
            "confusion/2/1"} <= names
    on_steps = [r for r in block["rows"] if r["on"] == "train step"]
    assert len(on_steps) == len(block["rows"]) // 2  # every metric on both
    world = int(cells["world_size"].iloc[0])
    # at world size 1 each training step's values are scikit-learn's on that batch; under
    # DDP (state) they span both ranks' batches, which no record holds: said, not checked
    assert all(r["matches"] for r in on_steps) if world == 1 else \
        block["unchecked"] == len(on_steps)


def test_the_three_train_the_same_weights_with_metrics_on_every_step(cells):
    first = cells.iloc[0]
    if first["precision"] != "fp32":
        pytest.skip("bitwise parity is a CPU fp32 rule")
    assert cells["weights_sha256"].nunique() == 1
    assert all(e["step_metrics_step"] == 16 for e in cells["events"])


def test_the_three_agree_on_every_steps_values(cells):
    values = {p: e["step_metrics"] for p, e in zip(cells["paradigm"], cells["events"])}
    for name, plain in values["plain"].items():
        for paradigm in ("lightning", "ignite"):
            if name == "f1_default" and paradigm == "ignite":
                continue
            assert values[paradigm][name] == pytest.approx(plain, abs=TOLERANCE), name
    rows = cells["events"].iloc[0]["step_predictions"]
    assert len(rows["pred"]) == len(rows["target"]) == 16  # the last batch, rank 0's


def test_the_three_agree_except_on_their_default_averaging(cells):
    values = {p: e["metrics"] for p, e in zip(cells["paradigm"], cells["events"])}
    for name, plain in values["plain"].items():
        for paradigm in ("lightning", "ignite"):
            if name == "f1_default" and paradigm == "ignite":
                continue
            assert values[paradigm][name] == pytest.approx(plain, abs=TOLERANCE), name
    # torchmetrics' F1Score averages micro (accuracy), Ignite's Fbeta macro
    assert values["plain"]["f1_default"] == pytest.approx(values["plain"]["accuracy"])
    assert values["ignite"]["f1_default"] == pytest.approx(values["ignite"]["f1_macro"])
    assert values["plain"]["f1_macro"] != pytest.approx(values["plain"]["f1_micro"])


def test_under_ddp_every_paradigm_reports_the_padded_set(cells):
    world = int(cells["world_size"].iloc[0])
    rows = cells["events"].iloc[0]["metric_predictions"]
    assert len(rows["index"]) == 37 + (world == 2)  # one sample repeated to fill rank 1
    if world == 1:
        return
    (block,) = report.value_blocks(cells)
    assert block["padded_differs"]
    accuracy = [r for r in block["rows"] if r["metric"] == "accuracy" and
                r["on"] == "validation"]
    assert all(r["value"] == r["padded"] != r["dataset"] for r in accuracy)


def test_metric_calls_are_timed_per_batch_and_pass(cells):
    for events in cells["events"]:
        costs = events["metric_costs"]
        # one pass per epoch end (16 steps: 1 epoch on one rank, 2 on two); Lightning's
        # sanity pass before training is not counted
        assert costs["passes"] == cells["world_size"].iloc[0]
        assert costs["batches"] >= 2 * costs["passes"]
        assert len(costs["compute_s"]) >= 1 and all(t > 0 for t in costs["update_s"])
        # every optimizer step's metric calls, summed into one figure (none counted on CPU)
        assert len(costs["step_s"]) == 16 and all(t > 0 for t in costs["step_s"])
        assert costs["step_syncs"] == []


def test_the_report_shows_the_values_beside_scikit_learns(shared_cells, tmp_path):
    run = write_run(tmp_path, _records(shared_cells, "bf16-world2"), suite="metrics")
    html, _ = read(render_run(run))
    section = _section_html(html, "metrics")
    assert "all match scikit-learn" in section and "some differ" not in section
    assert "The padded set and the dataset give different values here" in section
    assert section.count("confusion/2/1") == 6  # a row per paradigm, on validation and step
    assert "train-step values have no reference" in section  # DDP: both ranks' batches


def test_references_tell_the_padded_set_from_the_dataset():
    # sample 0 is repeated on rank 1 and predicted wrong: it counts twice in the padded set
    rows = {"index": [0, 2, 1, 0], "pred": [1, 0, 1, 1], "target": [0, 0, 1, 0],
            "rank": [0, 0, 1, 1]}
    refs = references(rows, classes=2, default_average="micro")
    assert refs["padded"]["accuracy"] == 0.5 and refs["dataset"]["accuracy"] == 2 / 3
    assert refs["rank0"]["accuracy"] == 0.5 and refs["rank_mean"]["accuracy"] == 0.5
    assert refs["padded"]["confusion/0/1"] == 2 and refs["dataset"]["confusion/0/1"] == 1


def test_what_ignite_lacks_is_unsupported():
    weighted = Features.from_dict({**ALL, "metrics": ["f1"], "metrics_average": ["weighted"]})
    with pytest.raises(UnsupportedConfig, match="no weighted F1"):
        ignite_metrics(weighted, 3, torch.device("cpu"), distributed=False)
    averaged = Features.from_dict({**ALL, "metrics_sync": "sync_dist"})
    assert ignite_metrics(averaged, 3, torch.device("cpu"), distributed=False)  # no ranks
    with pytest.raises(UnsupportedConfig, match="no switch"):
        ignite_metrics(averaged, 3, torch.device("cpu"), distributed=True)


def test_a_workload_that_is_not_a_classifier_has_no_metrics(tmp_path):
    cfg = tiny_cell("gpt", "plain", features=ALL)
    workload = GPT.from_size("tiny")
    with pytest.raises(UnsupportedConfig, match="defines no classify"):
        RunContext(cfg, workload, workload.build_dataset(), torch.device("cpu"))


def test_the_command_line_refuses_metrics_for_a_non_classifier(capsys):
    code = cli.main(["run", "--workload", "gpt", "--size", "tiny", "--features",
                     "val_every=2,metrics=accuracy", "--plan"])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: metrics score a classifier; workload 'gpt' defines no classify(model, batch)"]


@pytest.mark.parametrize("features", [
    ["val_every=8,metrics=all"],
    ["metrics=accuracy+f1,metrics_where=train-step"],
    ["val_every=8", "val_every=8,metrics=all", "val_every=8,metrics=all,metrics_stack=tuned"]])
def test_the_documented_commands_make_metrics_cells(features):
    """docs/pages/metrics.md's commands: the cells they make and check (the cells above run
    these paths; planning them would time a probe process)."""
    args = build_parser().parse_args(["run", "--workload", "mlp", "--size", "tiny",
                                      "--features", *features, "--repetitions", "3"])
    cells = cells_from_args(args)
    validate_cells(cells)
    assert len(cells) == 3 * len(features) and cells[-1].features.metrics


@pytest.mark.gpu
def test_argument_checks_sync_the_host_on_every_update():
    from torchmetrics.classification import Accuracy

    device = torch.device("cuda")
    logits, y = torch.randn(64, 10, device=device), torch.randint(10, (64,), device=device)
    syncs = {}
    for checks in (True, False):
        clock = MetricClock(device)
        update = clock.timed("update", Accuracy(task="multiclass", num_classes=10,
                                                validate_args=checks).to(device).update)
        update(logits, y)
        syncs[checks] = clock.costs.update_syncs[0]
    assert syncs[True] >= 1 and syncs[True] > syncs[False], syncs
    assert not math.isnan(syncs[False])


def test_where_the_metrics_are_computed_is_an_explicit_setting():
    steps = Features.parse("metrics=accuracy,metrics_where=train-step")  # no validation needed
    assert steps.scores_training_steps and not steps.scores_validation
    assert steps.label == "metrics[accuracy]@train-step"
    assert steps.to_dict() == {"metrics": ["accuracy"], "metrics_where": "train-step"}
    with pytest.raises(FeatureError, match=r"computed on validation \(metrics_where="
                                           r"validation\): set val_every"):
        Features.parse("metrics=accuracy")
    with pytest.raises(FeatureError, match="unknown metrics where"):
        Features.parse("metrics=accuracy,metrics_where=epoch")
    assert any(line.strip().startswith("metrics_where=validation") for line in describe())


def test_the_command_line_refuses_an_unknown_place(capsys):
    code = cli.main(["run", "--workload", "mlp", "--size", "tiny", "--features",
                     "metrics=accuracy,metrics_where=epoch", "--plan"])
    assert code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "unknown metrics where in ['epoch']; valid: validation, train-step, both" in line


NO_STEP_LOGITS = '''
from harness.workload import Workload
from tests.fixtures.odd_classifier import OddClassifier


class NoStepLogits(OddClassifier):
    name = "no-step-logits"
    loss_with_logits = Workload.loss_with_logits  # a classifier that gives its loss only
'''


def test_scoring_training_steps_needs_the_steps_logits(tmp_path, capsys):
    path = tmp_path / "no_step_logits.py"
    path.write_text(NO_STEP_LOGITS)
    reason = ("metrics_where=train-step scores the training step's logits; workload "
              "'no-step-logits' defines no loss_with_logits(model, batch)")
    code = cli.main(["run", "--workload", str(path), "--size", "tiny", "--features",
                     "metrics=accuracy,metrics_where=train-step", "--plan"])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {reason}"]
    from harness.discovery import resolve

    workload = resolve(str(path)).from_size("tiny")
    cfg = tiny_cell(ODD, "plain", features={"metrics": ["accuracy"],
                                            "metrics_where": "train-step"})
    with pytest.raises(UnsupportedConfig, match="defines no loss_with_logits"):
        RunContext(cfg, workload, workload.build_dataset(), torch.device("cpu"))


def test_a_steps_metric_calls_make_one_figure():
    clock = MetricClock(torch.device("cpu"))
    calls = []
    call = clock.timed("step", calls.append)
    call(1)
    call(2)  # two calls in one step (two metrics, or two micro-batches)
    clock.step_end()
    clock.step_end()  # a step without metric calls adds nothing
    assert calls == [1, 2] and len(clock.costs.step_s) == 1 and clock.costs.step_s[0] > 0
    assert clock.costs.step_syncs == []  # counted on CUDA only


@pytest.mark.gpu
@pytest.mark.parametrize("stack", ["defaults", "tuned"])
def test_the_host_syncs_of_a_training_steps_metrics_are_counted(stack):
    """Unverified on a GPU so far: the per-step path counts syncs on CUDA's first step."""
    from harness.training.features.metrics import HandStepMetrics

    device = torch.device("cuda")
    f = Features.parse(f"metrics=accuracy+f1,metrics_where=train-step,metrics_stack={stack}")
    clock = MetricClock(device)
    step_metrics = HandStepMetrics(f, 10, device, clock, distributed=False)
    for _ in range(2):
        logits = torch.randn(64, 10, device=device)
        step_metrics.score(logits, torch.randint(10, (64,), device=device))
        clock.step_end()
    (syncs,) = clock.costs.step_syncs  # the first step counted, the second timed
    assert len(clock.costs.step_s) == 1
    assert syncs >= (1 if stack == "defaults" else 0)
