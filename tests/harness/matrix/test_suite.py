from __future__ import annotations

from pathlib import Path

import pytest

from harness.matrix.matrix import plan
from harness.matrix.suite import SuiteError, load_suite

SUITE = """
name = "t"
repetitions = 2

[defaults]
size = "tiny"
steps = 8
window = 4
warmup = 2
batch_size = 8

[[matrix]]
workload = ["linear", "mlp"]
precision = ["fp32", "bf16-mixed"]

[[matrix]]
workload = "linear"
repetitions = 5
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(SUITE)
    return path


def test_expansion_is_a_product_with_paradigms_innermost(suite_file):
    suite = load_suite(suite_file)
    labels = [(c.workload, c.precision.value, c.paradigm.value) for c in suite.cells]
    assert labels[:3] == [("linear", "fp32", p) for p in ("plain", "lightning", "ignite")]
    assert len(suite.cells) == 2 * 2 * 3  # the second table's cells repeat the first's


def test_a_table_can_ask_for_more_repetitions(suite_file):
    suite = load_suite(suite_file)
    linear_fp32 = [c for c in suite.cells if c.workload == "linear" and c.precision.value == "fp32"]
    assert {suite.plans[c].repetitions for c in linear_fp32} == {5}
    assert {p.repetitions for c, p in suite.plans.items() if c.workload == "mlp"} == {2}
    steps = plan(suite.cells, suite.plans)
    assert len(steps) == 3 * 5 + 9 * 2
    assert [rep for _, rep in steps[:12]] == [0] * 12  # interleaved: round 0 first
    assert all(c.workload == "linear" for c, rep in steps if rep >= 2)


def test_filters_and_overrides(suite_file):
    suite = load_suite(suite_file, workloads=["mlp"], paradigms=["plain"], repetitions=7)
    assert {(c.workload, c.paradigm.value) for c in suite.cells} == {("mlp", "plain")}
    assert {p.repetitions for p in suite.plans.values()} == {7}
    with pytest.raises(SuiteError, match="no cells left"):
        load_suite(suite_file, workloads=["cnn"])


def test_threads_auto_shares_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    path = tmp_path / "s.toml"
    path.write_text('[[matrix]]\nworkload = "mlp"\nbatch_size = 8\nworld_size = [1, 2, 4]\n'
                    'paradigm = "plain"\n')
    assert [c.threads for c in load_suite(path).cells] == [8, 4, 2]


def test_bad_table_names_its_position(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[[matrix]]\nworkload = "mlp"\nbatch_size = 0\n')
    with pytest.raises(SuiteError, match=r"\[\[matrix\]\] #1: batch_size must be > 0"):
        load_suite(path)


ADAPTIVE = """
name = "a"
repetitions = 3

[defaults]
size = "tiny"
steps = 8
window = 4
attribution = true

[[matrix]]
workload = "linear"
features = [{}, {val_every = 4}, {log = ["csv"], log_every = 2}]
phases = [true, false]

[[matrix]]
workload = "linear"
repetitions = 20
until_ci = 5
min_repetitions = 8
"""


def test_features_phases_and_plans_from_a_suite(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text(ADAPTIVE)
    suite = load_suite(path)
    assert len(suite.cells) == 3 * 2 * 3  # features x phases x paradigms
    labels = {c.features.label for c in suite.cells}
    assert labels == {"none", "validate/4", "log[csv]/2"}
    bare = [c for c in suite.cells if c.features.label == "none" and c.phases]
    # the bare, probed cells are listed by both tables: the larger, adaptive plan wins
    assert {(p.repetitions, p.until_ci_pct, p.min_repetitions, p.attribution)
            for c, p in suite.plans.items() if c in bare} == {(20, 5, 8, True)}
    others = [p for c, p in suite.plans.items() if c not in bare]
    assert {(p.repetitions, p.until_ci_pct, p.attribution) for p in others} == {(3, None, True)}


def test_a_bad_feature_in_a_suite_names_the_table(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('name = "b"\nrepetitions = 1\n[[matrix]]\nworkload = "linear"\n'
                    'features = {val_evry = 3}\n')
    with pytest.raises(SuiteError, match=r"\[\[matrix\]\] #1: .*val_evry"):
        load_suite(path)


SHIPPED = sorted((Path(__file__).resolve().parents[3] / "benchmarks" / "suites").glob("*.toml"))


def test_the_shipped_suites_are_found():
    # an empty list would skip the test below without a word (it did, after a move)
    assert {p.stem for p in SHIPPED} >= {"cpu", "gpu", "smoke", "versions"}


# ids are file names: a bare "gpu" id reads as the gpu marker and skips without CUDA
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_suite_loads(path):
    suite = load_suite(path)
    assert suite.cells and all(suite.plans[c] for c in suite.cells)


def test_compile_modes_expand_and_an_eager_cell_has_no_region(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "c"\n[[matrix]]\nworkload = "linear"\nsize = "tiny"\n'
                    'paradigm = "lightning"\ncompile = ["none", "default", "reduce-overhead"]\n'
                    'compile_style = "documented"\n')
    cells = load_suite(path).cells
    assert [(c.compile.value, c.compile_style.value) for c in cells] == [
        ("none", "model"), ("default", "documented"), ("reduce-overhead", "documented")]
    assert "compile" not in cells[0].key and "compile-default-documented" in cells[1].key


def test_a_table_sets_its_cold_repetitions_and_whether_a_budget_may_drop_it(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "c"\n[defaults]\ncold_repetitions = 0\nsize = "tiny"\n'
                    '[[matrix]]\nworkload = "mlp"\nrepetitions = 8\ncold_repetitions = 3\n'
                    '[[matrix]]\nworkload = "linear"\noptional = true\n')
    suite = load_suite(path)
    by_workload = {c.workload: (p, suite.tables[c]) for c, p in suite.plans.items()}
    assert by_workload["mlp"][0].cold_repetitions == 3
    assert not by_workload["mlp"][1].optional
    assert by_workload["linear"][0].cold_repetitions == 0
    assert by_workload["linear"][1].optional
    path.write_text('name = "c"\n[[matrix]]\nworkload = "mlp"\noptional = "yes"\n')
    with pytest.raises(SuiteError, match="optional must be true or false"):
        load_suite(path)


def test_a_table_extends_wide_excesses_up_to_its_most_repetitions(tmp_path):
    from harness.analyse.stopping import Extension

    path = tmp_path / "e.toml"
    path.write_text('name = "e"\n[defaults]\nsize = "tiny"\n'
                    '[[matrix]]\nworkload = "mlp"\nrepetitions = 8\nuntil_excess = 10\n'
                    '[[matrix]]\nworkload = "linear"\nrepetitions = 4\nuntil_excess = 5\n'
                    'most_repetitions = 30\n')
    plans = {c.workload: p for c, p in load_suite(path).plans.items()}
    assert plans["mlp"].extension == Extension(10.0, 16)  # most: twice the repetitions
    assert plans["linear"].extension == Extension(5.0, 30)
    assert load_suite(path, repetitions=3).plans  # a command-line count: no extension
    assert all(p.extension is None for p in load_suite(path, repetitions=3).plans.values())
    for bad, message in (('most_repetitions = 30\n', "needs until_excess"),
                         ('until_excess = "x"\n', "until_excess must be a number"),
                         ('until_excess = 10\nmost_repetitions = 2\n', "at least repetitions")):
        path.write_text(f'name = "e"\n[[matrix]]\nworkload = "mlp"\nrepetitions = 4\n{bad}')
        with pytest.raises(SuiteError, match=message):
            load_suite(path)
