"""The pytest-benchmark suite (benchmarks/test_training_steps.py) as its users run it: autosaved
with the probes' figures in extra_info, then compared against the saved run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pytest(*args: str, select: str = "linear") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/test_training_steps.py", "-k", select,
         "--benchmark-enable", "-p", "no:cacheprovider", "-q", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_autosaved_run_carries_the_probes_figures_and_compares(tmp_path):
    storage = f"file://{tmp_path}"
    first = _pytest("--benchmark-autosave", f"--benchmark-storage={storage}")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    [saved] = list(tmp_path.rglob("0001_*.json"))
    benchmarks = {b["params"]["paradigm"]: b for b in json.loads(saved.read_text())["benchmarks"]}
    assert set(benchmarks) == {"plain", "lightning", "ignite"}
    for b in benchmarks.values():
        info = b["extra_info"]
        assert b["stats"]["rounds"] == 5 and b["stats"]["mean"] > 0
        assert info["step_time_s"] > 0 and info["items_per_s"] > 0
        assert 0 < info["framework_s"] < info["step_time_s"]
        assert info["versions"]["torch"] and info["steps_per_round"] == 60

    # a generous threshold: the comparison must run and pass, not judge this noisy machine;
    # the plain loop's benchmark alone is compared (the frameworks' imports would add nothing)
    second = _pytest("--benchmark-autosave", f"--benchmark-storage={storage}",
                     "--benchmark-compare", "--benchmark-compare-fail=mean:1000%",
                     select="linear and plain")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"Comparing against benchmarks from: {saved.parent.name}/{saved.name}" \
        in second.stdout + second.stderr
    assert len(list(tmp_path.rglob("000[12]_*.json"))) == 2
