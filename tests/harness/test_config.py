from __future__ import annotations

import pytest

from harness.config import (
    CellConfig,
    CompileMode,
    CompileStyle,
    ConfigError,
    DataPath,
    Paradigm,
    Precision,
    Profile,
    Scenario,
)
from harness.features import Features


def test_round_trip_and_stable_key():
    cell = CellConfig("mlp", Paradigm.IGNITE, precision=Precision.BF16_MIXED, steps=40)
    again = CellConfig.from_dict(cell.to_dict())
    assert again == cell and again.key == cell.key
    assert cell.key.startswith("mlp_default_ignite_minimal_bf16-mixed_w1_b32_")
    assert cell.replace(seed=1).key != cell.key


@pytest.mark.parametrize("bad, message", [
    (dict(batch_size=0), "batch_size must be > 0"),
    (dict(steps=15, window=10), "multiple of window"),
    (dict(device="tpu"), "device must be"),
    (dict(warmup=0), "warmup must be > 0"),
    (dict(size="../x"), "size"),
    (dict(data=DataPath.DEVICE, workers=2), "workers must be 0"),
])
def test_impossible_settings_are_rejected(bad, message):
    with pytest.raises(ConfigError, match=message):
        CellConfig("mlp", Paradigm.PLAIN, **bad)


def test_unknown_enum_lists_choices():
    with pytest.raises(ConfigError, match="valid: fp32, bf16-mixed, fp16-mixed"):
        CellConfig.from_dict({"workload": "mlp", "paradigm": "plain", "precision": "fp8"})
    with pytest.raises(ConfigError, match="unknown cell settings: colour"):
        CellConfig.from_dict({"workload": "mlp", "paradigm": "plain", "colour": 1})


def test_data_on_the_device_is_its_own_cell():
    host = CellConfig.from_dict({"workload": "mlp", "paradigm": "plain"})
    device = CellConfig.from_dict({"workload": "mlp", "paradigm": "plain", "data": "device"})
    assert host.data is DataPath.HOST and device.data is DataPath.DEVICE
    assert "_data-device_" in device.key and "data-device" not in host.key
    with pytest.raises(ConfigError, match="valid: host, device"):
        CellConfig.from_dict({"workload": "mlp", "paradigm": "plain", "data": "gpu"})


def test_compile_is_its_own_cell_and_eager_keys_did_not_move():
    eager = CellConfig.from_dict({"workload": "mlp", "paradigm": "lightning", "size": "small",
                                  "batch_size": 64, "steps": 160, "warmup": 20, "window": 20})
    # the key this cell had before compilation became an axis: resumed runs still find it
    assert eager.key == "mlp_small_lightning_minimal_fp32_w1_b64_6c9d78a38d"
    assert eager.compile is CompileMode.NONE and eager.compile_style is CompileStyle.MODEL
    compiled = eager.replace(compile=CompileMode.REDUCE_OVERHEAD)
    documented = compiled.replace(compile_style=CompileStyle.DOCUMENTED)
    assert "_compile-reduce-overhead_" in compiled.key
    assert "_compile-reduce-overhead-documented_" in documented.key
    assert len({eager.key, compiled.key, documented.key}) == 3
    assert CellConfig.from_dict(documented.to_dict()) == documented


def test_a_compile_style_needs_a_compile_mode_and_modes_are_checked():
    with pytest.raises(ConfigError, match="compile_style 'documented' needs a compile mode"):
        CellConfig("mlp", Paradigm.PLAIN, compile_style=CompileStyle.DOCUMENTED)
    with pytest.raises(ConfigError, match="unknown compile mode 'turbo'; valid: none, default, "
                                          "reduce-overhead, max-autotune-no-cudagraphs"):
        CellConfig.from_dict({"workload": "mlp", "paradigm": "plain", "compile": "turbo"})


def test_scenario_cells_are_named_and_training_keys_are_what_they_were():
    train = CellConfig("mlp", Paradigm.IGNITE, precision=Precision.BF16_MIXED, steps=40)
    assert train.key == "mlp_default_ignite_minimal_bf16-mixed_w1_b32_89ea00bb91"  # pre-axis
    older = {k: v for k, v in train.to_dict().items() if k != "scenario"}
    assert CellConfig.from_dict(older) == train  # records written before the axis
    predict = CellConfig("mlp", Paradigm.PLAIN, scenario=Scenario.PREDICT_ONNXRUNTIME)
    assert "_predict-onnxruntime_" in predict.key
    assert CellConfig.from_dict(predict.to_dict()) == predict
    assert predict.scenario.runtime == "onnxruntime" and predict.scenario.group is Scenario.PREDICT
    with pytest.raises(ConfigError, match="valid: train, export, predict, predict-torchscript"):
        CellConfig.from_dict({"workload": "mlp", "paradigm": "plain", "scenario": "serve"})


@pytest.mark.parametrize("bad, message", [
    (dict(scenario=Scenario.EXPORT, world_size=2), "run in one process"),
    (dict(scenario=Scenario.PREDICT, precision=Precision.BF16_MIXED), "run in fp32"),
    (dict(scenario=Scenario.EXPORT, profile=Profile.DEFAULTS), "minimal profile"),
    (dict(scenario=Scenario.PREDICT, features=Features(val_every=2)), "take no features"),
    (dict(scenario=Scenario.PREDICT, profiler=True), "no profiling repetition"),
    (dict(scenario=Scenario.PREDICT_TORCHSCRIPT, paradigm=Paradigm.IGNITE),
     "paradigm must be 'plain'"),
])
def test_impossible_scenario_settings_are_rejected(bad, message):
    settings = {"paradigm": Paradigm.PLAIN, **bad}
    with pytest.raises(ConfigError, match=message):
        CellConfig("mlp", **settings)
