"""The manual's tracker figures are generated (benchmarks/figures.py), never typed: the block
on its measurement page is the rendering of the inputs stored beside it, and the arithmetic is
right."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("figures", ROOT / "benchmarks" / "figures.py")
assert _spec and _spec.loader
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)


def _run(**medians: float) -> dict:
    """A pytest-benchmark JSON with these fastest rounds (seconds) and a load average."""
    return {"datetime": "2026-12-01T10:00:00", "machine_info": {"cpu": {
        "brand_raw": "Test CPU", "count": 2}}, "benchmarks": [
        {"name": name, "stats": {"min": medians[key], "median": 99.0},
         "extra_info": {"loadavg": [0.5, 0.4, 0.3], "torch": "2.13.0+cpu"}}
        for key, name in figures.NAMES.items()]}


def test_the_manual_block_is_the_rendering_of_its_inputs():
    found = figures.read_block(figures.PAGE.read_text())
    assert found is not None, f"{figures.PAGE} has no generated tracker-figures block"
    inputs, paragraph = found
    assert paragraph == figures.render(inputs)


def test_figures_are_computed_from_the_fastest_rounds():
    per = figures.STEPS_PER_ROUND
    x = figures.inputs(_run(bare=100e-6 * per, probe=103e-6 * per, phases=106e-6 * per,
                            call=1e-6 * per, fetch=50e-6 * per, timed_fetch=50.5e-6 * per,
                            batched=0.5e-3, per_sample=12e-3))
    text = figures.render(x)
    assert "Test CPU, 2 cores, torch 2.13.0+cpu" in text and "load average up to 0.5" in text
    assert "call costs 1 us, against a plain-loop Linear step of 100 us without a DataLoader " \
           "(1%) and 150 us" in text
    assert "takes 50 us (0.67%)" in text and "trackers adds 3 us a step" in text
    assert "phase probes 3 us a step averaged over all steps, 12 us per probed step" in text
    assert "data-wait probe 0.5 us a fetch" in text
    assert "2048 MLP samples in 500 us, against 12 ms" in text


def test_a_cost_below_the_noise_is_said_so_not_printed_negative():
    per = figures.STEPS_PER_ROUND
    x = figures.inputs(_run(bare=100e-6 * per, probe=99e-6 * per, phases=106e-6 * per,
                            call=1e-6 * per, fetch=50e-6 * per, timed_fetch=50e-6 * per,
                            batched=1e-3, per_sample=1e-2))
    text = figures.render(x)
    assert "trackers adds less than this run's noise" in text and "-" not in text.split(
        "trackers adds")[1].split(";")[0]


def test_the_readme_is_rewritten_in_place_and_a_partial_run_is_refused(tmp_path, capsys):
    per = figures.STEPS_PER_ROUND
    run = _run(bare=1e-4 * per, probe=1.1e-4 * per, phases=1.2e-4 * per, call=1e-6 * per,
               fetch=5e-5 * per, timed_fetch=5.1e-5 * per, batched=1e-3, per_sample=1e-2)
    (tmp_path / "run.json").write_text(json.dumps(run))
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{figures.BEGIN}\n<!-- {{}} -->\nold\n{figures.END}\nafter\n")
    assert figures.main([str(tmp_path / "run.json"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert figures.read_block(text)[1] == figures.render(figures.inputs(run))
    run["benchmarks"] = run["benchmarks"][:2]
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert figures.main([str(tmp_path / "run.json"), "--readme", str(readme)]) == 2
    assert figures.main([str(tmp_path / "run.json")]) == 0  # printing: nothing to say
    assert "not in this run" in capsys.readouterr().err


@pytest.mark.parametrize("path", ["benchmarks/test_training_steps.py", "README.md",
                                  "docs/pages/measurement.md"])
def test_framework_time_is_defined_with_the_data_wait(path):
    from harness.analyse.analysis import FRAMEWORK_TIME

    text = " ".join((ROOT / path).read_text().split())
    assert "minus the forward, backward and optimizer" not in text
    if path.endswith(".py"):
        assert FRAMEWORK_TIME in text
