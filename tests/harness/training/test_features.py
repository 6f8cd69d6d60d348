"""The conveniences behave the same in all three paradigms (CPU, fp32), or differ exactly as
the README says: validation values and steps, early stopping, checkpoints, resume, metric
logs, accumulation, clipping, the scheduler, and a workload bug."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from harness.launch.runner import run_cell
from harness.training.features import checkpoints
from harness.training.features.logs import METRIC, READERS
from tests.conftest import PARADIGMS, SharedCells, tiny_cell
from workloads.linear import Linear

NAMES = [p.value for p in PARADIGMS]
# linear tiny: 256 samples in batches of 16 = 16 batches (optimizer steps) per epoch
COMBO = {"val_every": 4, "ckpt_every": 8, "ckpt_best_k": 2, "log": ["csv", "tensorboard",
         "mlflow"], "log_every": 2, "scheduler": True, "clip_norm": 0.5,
         "early_stop_patience": 50}
VALIDATION_RTOL = 1e-6  # Lightning sums value x batch size in float32, the others in float64


def _run_all(cells: SharedCells, workload: str = "linear", **overrides) -> dict[str, dict]:
    """The cell in every paradigm, each run once per session (the bare ones are
    test_parity's too)."""
    out = {}
    for paradigm in NAMES:
        out[paradigm] = cells.run(tiny_cell(workload, paradigm, steps=24, warmup=2, window=4,
                                            **overrides))
        assert out[paradigm]["status"] == "ok", (paradigm, out[paradigm].get("message"),
                                                  out[paradigm].get("traceback_tail"))
    return out


def _m(record: dict) -> dict:
    return record["measurements"]


@pytest.fixture(scope="module")
def combo(shared_cells):
    """Every feature at once (early stopping never fires: patience 50)."""
    return _run_all(shared_cells, features=COMBO)


def test_everything_on_trains_bitwise_the_same(combo):
    digests = {p: _m(r)["weights_sha256"] for p, r in combo.items()}
    assert len(set(digests.values())) == 1, digests
    assert len({tuple(_m(r)["losses"]) for r in combo.values()}) == 1


def test_validation_metrics_at_the_same_steps_with_the_same_values(combo):
    runs = {p: _m(r)["events"]["validations"] for p, r in combo.items()}
    steps = {p: [v["step"] for v in vals] for p, vals in runs.items()}
    assert steps["plain"] == [4, 8, 12, 16, 20, 24, 26][: len(steps["plain"])]
    assert steps["lightning"] == steps["ignite"] == steps["plain"]
    for paradigm in ("lightning", "ignite"):
        for mine, plain in zip(runs[paradigm], runs["plain"]):
            assert mine.keys() == plain.keys() == {"step", "loss", "accuracy"}
            for name in ("loss", "accuracy"):
                assert mine[name] == pytest.approx(plain[name], rel=VALIDATION_RTOL)
    assert runs["ignite"] == runs["plain"]  # both accumulate in float64: equal to the bit


def test_best_k_keeps_the_same_steps(combo):
    kept = {p: sorted(Path(c["file"]).stem.split(".")[0] for c in _m(r)["events"]["checkpoints"]
                      if c["file"].startswith("best")) for p, r in combo.items()}
    assert kept["plain"] == kept["lightning"] == kept["ignite"] and len(kept["plain"]) == 2


def test_checkpoints_load_into_a_plain_module_with_identical_outputs(combo):
    x = Linear.from_size("tiny").build_dataset().tensors[0][:16]
    outputs = {}
    for paradigm, record in combo.items():
        folder = Path(record["work_dir"]) / "ckpt" / "periodic"
        (path,) = [p for p in folder.iterdir() if p.stem.startswith("step=000008")]
        state = checkpoints.load(path)
        assert checkpoints.optimizer_steps(state) == 8
        model = Linear.from_size("tiny").build_model()
        model.load_state_dict(checkpoints.model_state(state))
        outputs[paradigm] = model(x)
    assert torch.equal(outputs["plain"], outputs["lightning"])
    assert torch.equal(outputs["plain"], outputs["ignite"])


@pytest.mark.parametrize("backend", ["tensorboard", "csv", "mlflow"])
def test_logged_values_are_the_same_at_the_same_steps(combo, backend):
    """Read back with each library's own reader. Two recorded differences: Lightning's loggers
    number steps from 0 (global step - 1), and Ignite's MLflow handler names the metric
    "train loss" (tag and name joined by a space)."""
    logs = {}
    for paradigm, record in combo.items():
        key = "train loss" if (paradigm, backend) == ("ignite", "mlflow") else METRIC
        logs[paradigm] = READERS[backend](Path(record["work_dir"]) / "logs", key)
    assert [s for s, _ in logs["plain"]] == list(range(2, 27, 2))
    assert logs["ignite"] == logs["plain"]
    assert logs["lightning"] == [(s - 1, v) for s, v in logs["plain"]]
    losses = _m(combo["plain"])["losses"]
    assert [v for _, v in logs["plain"]] == pytest.approx([losses[s - 1] for s in range(2, 27, 2)])


@pytest.fixture(scope="module")
def single(shared_cells):
    return {name: _run_all(shared_cells, features=features) for name, features in
            (("bare", {}), ("clip", {"clip_norm": 0.05}), ("scheduler", {"scheduler": True}))}


@pytest.mark.parametrize("feature", ["clip", "scheduler"])
def test_clipping_and_the_scheduler_alone_are_bitwise_equal_to_plain(single, feature):
    digests = {p: _m(r)["weights_sha256"] for p, r in single[feature].items()}
    assert len(set(digests.values())) == 1
    assert digests["plain"] != _m(single["bare"]["plain"])["weights_sha256"]  # it did act


def test_ignite_lr_scheduler_wrapper_differs_from_stepping_the_scheduler():
    """Why the Ignite adapter steps the torch scheduler itself. Ignite's LRScheduler, at
    ITERATION_STARTED as its documentation places it, sets the rate from get_lr() without
    calling step(): with CosineAnnealingLR the first step runs at 0.1006 instead of 0.1, and
    the later rates follow the same schedule but differ in the last bits."""
    LRScheduler = pytest.importorskip("ignite.handlers.param_scheduler").LRScheduler
    def rates(use_wrapper: bool) -> list[float]:
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=20)
        wrapper = LRScheduler(scheduler) if use_wrapper else None
        out = []
        for _ in range(10):
            if wrapper is not None:
                wrapper(None)
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if wrapper is None:
                scheduler.step()
        return out

    stepped, wrapped = rates(False), rates(True)
    assert stepped[0] == 0.1 and wrapped[0] == pytest.approx(0.1 * 2 / (1 + math.cos(math.pi / 20)))
    assert wrapped[1:] == pytest.approx(stepped[1:], rel=1e-12) and wrapped[1:] != stepped[1:]


def test_early_stopping_ends_all_three_at_the_same_step(shared_cells):
    runs = _run_all(shared_cells, features={"val_every": 2, "early_stop_patience": 2,
                                        "early_stop_min_delta": 0.1})
    stops = {p: _m(r)["events"]["stopped_at"] for p, r in runs.items()}
    assert stops["plain"] is not None and stops["plain"] < 26
    assert stops["lightning"] == stops["ignite"] == stops["plain"]
    assert len({_m(r)["weights_sha256"] for r in runs.values()}) == 1
    assert {len(_m(r)["losses"]) for r in runs.values()} == {stops["plain"]}


@pytest.fixture(scope="module")
def resumed(shared_cells):
    return {at: _run_all(shared_cells, features={"resume_at": at} if at else {})
            for at in (0, 8, 16)}


def test_resume_at_an_epoch_end_is_exact_in_every_paradigm(resumed):
    for paradigm in NAMES:
        assert _m(resumed[16][paradigm])["weights_sha256"] == \
            _m(resumed[0][paradigm])["weights_sha256"], paradigm


def test_resume_mid_epoch_is_exact_only_by_hand(resumed):
    """Step 8 is batch 8 of epoch 0's 16. The plain loop skips the 8 trained batches (its
    sampler starts at sample 128) and matches the uninterrupted run bit for bit. Passes are
    (epoch, first sample, optimizer steps done when the pass began)."""
    plain = _m(resumed[8]["plain"])
    assert plain["weights_sha256"] == _m(resumed[0]["plain"])["weights_sha256"]
    assert plain["events"]["data_passes"] == [[0, 128, 8], [1, 0, 16]]
    for paradigm in NAMES:
        assert _m(resumed[0][paradigm])["events"]["data_passes"] == [[0, 0, 0], [1, 0, 16]]


def test_lightning_mid_epoch_resume_replays_the_epochs_first_batches(resumed):
    """With a plain DataLoader, Lightning restores the step but restarts epoch 0's data at
    its first batch (it warns: the loader is not resumable), then starts epoch 1 afresh."""
    lightning = _m(resumed[8]["lightning"])
    assert lightning["weights_sha256"] != _m(resumed[0]["lightning"])["weights_sha256"]
    assert lightning["events"]["data_passes"] == [[0, 0, 8], [1, 0, 16]]
    assert len(lightning["losses"]) == 26 - 8


def test_ignite_mid_epoch_resume_restarts_the_data_and_shifts_its_epochs(resumed):
    """Ignite also restarts epoch 0's data at its first batch, then carries that iterator
    into its next epoch: epoch 1's data begins only when it runs dry, at step 24 instead of
    16, so from the resume on its data lags the uninterrupted run's by 8 steps."""
    ignite = _m(resumed[8]["ignite"])
    assert ignite["weights_sha256"] != _m(resumed[0]["ignite"])["weights_sha256"]
    assert ignite["events"]["data_passes"] == [[0, 0, 8], [1, 0, 24]]
    assert len(ignite["losses"]) == 26 - 8


@pytest.mark.parametrize("world, workload, batch", [(1, "mlp", 16), (2, "cnn", 8)])
def test_accumulation_same_steps_and_bitwise_weights(shared_cells, world, workload, batch):
    runs = _run_all(shared_cells, workload, features={"accumulate": 2}, world_size=world,
                    batch_size=batch)
    assert len({_m(r)["weights_sha256"] for r in runs.values()}) == 1
    assert {len(_m(r)["losses"]) for r in runs.values()} == {26}  # optimizer steps
    assert all(_m(r)["ranks_agree"] for r in runs.values())


def test_accumulation_over_an_uneven_epoch_is_refused(tmp_path):
    record = run_cell(tiny_cell("linear", "plain", features={"accumulate": 3}), tmp_path, 0, {})
    assert record["status"] == "unsupported" and "not a multiple of accumulate=3" in \
        record["message"]


@pytest.mark.parametrize("paradigm", NAMES)
def test_a_workload_bug_is_an_error_with_its_own_type_and_what_was_measured(shared_cells,
                                                                          paradigm):
    cell = tiny_cell("linear", paradigm, steps=24, warmup=2, window=4,
                     features={"raise_at_step": 15})
    record = shared_cells.run(cell)
    assert record["status"] == "error"
    assert record["error_type"] == "InjectedWorkloadBug"
    assert "injected workload bug at step 15" in record["message"]
    partial = record["partial"]
    assert partial["steps_done"] == 14 and len(partial["losses"]) == 14
    assert partial["windows"] == 3 and partial["step_time_s"] > 0  # steps 3-14: 3 windows
