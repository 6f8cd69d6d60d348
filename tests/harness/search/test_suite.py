"""``[[hpo]]`` tables in a suite file: expanded into studies, filtered like cells, refused
with the table's number when wrong; the shipped suites parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.matrix.suite import SuiteError, load_suite

SUITE = """
name = "with-hpo"
[defaults]
size = "tiny"
steps = 4
warmup = 1
window = 2
[[matrix]]
workload = "linear"
[[hpo]]
workload = "linear"
size = "tiny"
batch_size = 16
trials = 5
workers = [1, 2]
steps = 30
warmup = 2
window = 2
loader_workers = 0
val_every = 8
pruner = "none"
"""


def _suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


def test_hpo_tables_expand_into_one_study_per_paradigm_and_worker_count(tmp_path):
    suite = load_suite(_suite(tmp_path, SUITE))
    assert len(suite.cells) == 3  # the matrix is untouched
    assert [(s.cell.paradigm.value, s.workers) for s in suite.studies] == [
        (p, w) for w in (1, 2) for p in ("plain", "lightning", "ignite")]
    spec = suite.studies[0]
    assert (spec.trials, spec.pruner, spec.cell.features.val_every, spec.cell.steps) == \
        (5, "none", 8, 30)
    assert spec.cell.phases is False and spec.cell.workers == 0


def test_suite_filters_apply_to_studies(tmp_path):
    suite = load_suite(_suite(tmp_path, SUITE), paradigms=["plain"], device="cpu")
    assert {s.cell.paradigm.value for s in suite.studies} == {"plain"}


@pytest.mark.parametrize("table, message", [
    ('workload = "linear"', "workload and trials are required"),
    ('workload = "linear"\ntrials = 3\npruner = "patient"', "unknown pruner 'patient'"),
    ('workload = "linear"\ntrials = 3\nprecision = "fp8"', "unknown precision 'fp8'"),
])
def test_a_bad_hpo_table_is_refused_with_its_number(tmp_path, table, message):
    text = SUITE.split("[[hpo]]")[0] + "[[hpo]]\n" + table + "\n"
    with pytest.raises(SuiteError, match=rf"\[\[hpo\]\] #1: .*{message}"):
        load_suite(_suite(tmp_path, text))


@pytest.mark.parametrize("name", ["cpu-full", "gpu"], ids=["cpu-full-suite", "gpu-suite"])
def test_the_shipped_suites_hold_a_study_at_one_and_two_workers(name):
    suite = load_suite(Path("benchmarks/suites") / f"{name}.toml")
    assert {s.workers for s in suite.studies} == {1, 2}
    assert {s.cell.paradigm.value for s in suite.studies} == {"plain", "lightning", "ignite"}


def test_a_suite_runs_its_studies_after_its_cells_into_its_hpo_folder(tmp_path, monkeypatch):
    import harness.cli as cli
    import harness.commands.hpo as command

    calls = []
    monkeypatch.setattr(cli, "_execute_and_report", lambda cells, run_dir, *a, **kw: calls.append(
        ("cells", len(cells.plans), run_dir)) or 0)
    monkeypatch.setattr(command, "run_suite_studies", lambda specs, out, *a: calls.append(
        ("studies", len(specs), out)) or 0)
    monkeypatch.setattr(cli, "_render",
                        lambda run_dir, args, **kw: calls.append(("render",)) or True)
    out = tmp_path / "run"
    assert cli.main(["suite", str(_suite(tmp_path, SUITE)), "--out", str(out)]) == 0
    assert calls == [("cells", 3, out), ("studies", 6, out / "hpo"), ("render",)]
