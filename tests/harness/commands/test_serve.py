"""``python -m harness serve`` end to end on the tiny tabular model, and a suite's serving on a
host without the serving packages."""

import json

import pytest

from harness.cli import main
from harness.commands import serve as command
from harness.serve.spec import ServeSpec


@pytest.mark.slow
def test_serve_measures_each_path_checks_parity_and_writes_the_page(tmp_path, capsys):
    code = main(["serve", "--workload", "tabular", "--size", "tiny", "--paradigm", "plain",
                 "--paths", "model", "exported-program", "--rates", "20", "--duration", "0.8",
                 "--warmup", "0.2", "--slo-ms", "2000", "--repetitions", "1",
                 "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    [results] = tmp_path.glob("*/serve.json")
    runs = {r["path"]: r for r in json.loads(results.read_text())["runs"]}
    assert set(runs) == {"noop", "model", "exported-program"}
    assert all(r["status"] == "ok" for r in runs.values()), runs
    assert runs["model"]["parity"] == runs["exported-program"]["parity"] == "bitwise"
    point = runs["model"]["points"][0]
    assert point["parity"]["checked"] == point["ok"] + point["warmup_requests"] > 0
    assert runs["model"]["limit_rps"] == 20 and not runs["model"]["limit_reached"]
    page = (tmp_path / "serve.html").read_text()
    assert "generator ceiling (no-op)" in page and "<svg" in page
    assert "Serving tabular at p99 <= 2000 ms: every target 20+ req/s" in capsys.readouterr().out


def test_a_suite_without_the_packages_records_serving_unsupported(tmp_path, monkeypatch):
    monkeypatch.setattr(command, "missing_packages", lambda: ["fastapi", "litserve"])
    spec = ServeSpec("tabular", paths=("model",), rates=(10.0,))
    assert command.run_suite_serving([spec], tmp_path, progress=False) == 0
    data = json.loads((tmp_path / spec.name / "serve.json").read_text())
    assert {r["status"] for r in data["runs"]} == {"unsupported"}
    assert "pip install 'paradigm-bench[serve]'" in data["runs"][0]["message"]
    assert "unsupported" in (tmp_path / "serve.html").read_text()
