"""The shipped suites' serving tables, and a suite running its serving after its cells."""

from pathlib import Path

import pytest

from harness.matrix.suite import load_suite

SUITE = """
name = "with-serve"
[defaults]
size = "tiny"
steps = 4
warmup = 1
window = 2
[[matrix]]
workload = "linear"
[[serve]]
workload = "tabular"
paths = "model"
rates = [10, 20]
slo_ms = 50
"""


@pytest.mark.parametrize(("name", "device", "litserve"),
                         [("cpu", "cpu", False), ("cpu-full", "cpu", True), ("gpu", "cuda", True)])
def test_the_shipped_suites_hold_a_serving_table(name, device, litserve):
    """The default cpu suite serves each paradigm's own object only (LitServe's start-up is
    half a minute on two cores: the full suite has it); the others every path and LitServe."""
    [spec] = load_suite(Path("benchmarks/suites") / f"{name}.toml").serving
    assert spec.device == device and ("litserve" in spec.paths) is litserve
    assert {t.paradigm for t in spec.targets} == {"plain", "lightning", "ignite"}


def test_a_suite_runs_its_serving_after_its_cells_into_its_serve_folder(tmp_path, monkeypatch):
    import harness.cli as cli
    import harness.commands.serve as command

    calls = []
    monkeypatch.setattr(cli, "_execute_and_report", lambda cells, run_dir, *a, **kw: calls.append(
        ("cells", len(cells.plans), run_dir)) or 0)
    monkeypatch.setattr(command, "run_suite_serving", lambda specs, out, *a: calls.append(
        ("serve", len(specs), out)) or 0)
    monkeypatch.setattr(cli, "_render",
                        lambda run_dir, args, **kw: calls.append(("render",)) or True)
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    out = tmp_path / "run"
    assert cli.main(["suite", str(suite), "--out", str(out)]) == 0
    assert calls == [("cells", 3, out), ("serve", 1, out / "serve"), ("render",)]
