"""Feature settings: parsing, validation before anything runs, and what a cell is without one."""

from __future__ import annotations

import pytest

from harness.config import CellConfig, ConfigError
from harness.features import FeatureError, Features, LogBackend


def test_parse_the_command_line_form():
    f = Features.parse("val_every=20,early_stop_patience=3,log=csv+tensorboard,clip_norm=0.5")
    assert f.val_every == 20 and f.early_stop_patience == 3 and f.clip_norm == 0.5
    assert f.log == (LogBackend.CSV, LogBackend.TENSORBOARD)
    assert f.active() == ["validate", "early-stop", "log", "clip"]
    assert Features.parse("none") == Features() and Features().active() == []


def test_to_dict_keeps_only_what_is_on_and_round_trips():
    f = Features(ckpt_every=50, log=(LogBackend.MLFLOW,), scheduler=True)
    assert f.to_dict() == {"ckpt_every": 50, "log": ["mlflow"], "scheduler": True}
    assert Features.from_dict(f.to_dict()) == f
    assert Features().to_dict() == {}


def test_without_turns_exactly_one_feature_off():
    f = Features(val_every=10, early_stop_patience=2, early_stop_min_delta=0.1, ckpt_every=5)
    assert f.without("early-stop") == Features(val_every=10, ckpt_every=5)
    assert f.without("checkpoint").active() == ["validate", "early-stop"]


@pytest.mark.parametrize("text, message", [
    ("early_stop_patience=3", "watches the validation loss"),
    ("ckpt_best_k=2", "rank by validation loss"),
    ("val_every=5,val_epoch_end=true", "not both"),
    ("accumulate=0", "accumulate must be >= 1"),
    ("log=csv+syslog", "unknown log backend"),
    ("warp_speed=9", "NAME one of"),
    ("val_every=ten", "expected int"),
])
def test_impossible_settings_are_refused(text, message):
    with pytest.raises(FeatureError, match=message):
        Features.parse(text)


def test_cell_configs_carry_features_in_their_key_and_json():
    cell = CellConfig.from_dict({"workload": "mlp", "paradigm": "plain",
                                 "features": {"val_every": 10}})
    assert "f-validate" in cell.key
    assert CellConfig.from_dict(cell.to_dict()) == cell
    bare = cell.replace(features=Features())
    assert bare.key != cell.key and "f-" not in bare.key


def test_features_sit_on_top_of_minimal_only():
    with pytest.raises(ConfigError, match="minimal"):
        CellConfig.from_dict({"workload": "mlp", "paradigm": "plain", "profile": "defaults",
                              "features": {"clip_norm": 1.0}})


def test_fault_and_resume_steps_must_lie_within_the_run():
    with pytest.raises(ConfigError, match="after the last step"):
        CellConfig.from_dict({"workload": "mlp", "paradigm": "plain", "steps": 10,
                              "warmup": 2, "window": 5, "features": {"raise_at_step": 50}})
    with pytest.raises(ConfigError, match="resume_at"):
        CellConfig.from_dict({"workload": "mlp", "paradigm": "plain", "steps": 10,
                              "warmup": 2, "window": 5, "features": {"resume_at": 12}})


def test_calibration_delays_a_fixed_pseudo_random_share_of_steps():
    every = Features(hook_delay_us=200)
    assert all(every.delays(s) for s in range(1, 50))
    half = Features(hook_delay_us=200, hook_delay_every=2)
    picks = [half.delays(s) for s in range(1, 2001)]
    assert 0.45 < sum(picks) / len(picks) < 0.55
    assert picks == [half.delays(s) for s in range(1, 2001)]  # the same draw every time
    # not the even steps: nothing periodic (an epoch of 16 batches) lines up with it
    assert picks[1::2] != [True] * 1000
