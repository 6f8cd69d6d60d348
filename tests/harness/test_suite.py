from __future__ import annotations

import pytest

from harness.matrix import plan
from harness.suite import SuiteError, load_suite

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
    assert {suite.repetitions[c] for c in linear_fp32} == {5}
    assert {n for c, n in suite.repetitions.items() if c.workload == "mlp"} == {2}
    steps = plan(suite.cells, suite.repetitions)
    assert len(steps) == 3 * 5 + 9 * 2
    assert [rep for _, rep in steps[:12]] == [0] * 12  # interleaved: round 0 first
    assert all(c.workload == "linear" for c, rep in steps if rep >= 2)


def test_filters_and_overrides(suite_file):
    suite = load_suite(suite_file, workloads=["mlp"], paradigms=["plain"], repetitions=7)
    assert {(c.workload, c.paradigm.value) for c in suite.cells} == {("mlp", "plain")}
    assert set(suite.repetitions.values()) == {7}
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
