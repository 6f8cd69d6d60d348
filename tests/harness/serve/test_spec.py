"""A serving comparison is checked before anything runs: the spec, suite tables, the command."""

import pytest

from harness.cli import main
from harness.commands import serve as command
from harness.matrix.suite import SuiteError, load_suite
from harness.serve.spec import ServeSpec, SpecError


def test_litserve_serves_only_the_lightning_model():
    spec = ServeSpec("tabular", paths=("model", "litserve"))
    assert [t.label for t in spec.targets] == [
        "plain/model", "lightning/model", "lightning/litserve", "ignite/model"]


@pytest.mark.parametrize(("changes", "says"), [
    ({"rates": (50.0, 20.0)}, "rates must rise"),
    ({"paths": ("grpc",)}, "unknown serving path"),
    ({"paradigms": ("keras",)}, "unknown paradigm"),
    ({"warmup_s": 5.0}, "warm-up"),
    ({"slo_ms": 0.0}, "slo-ms"),
])
def test_an_impossible_comparison_is_refused(changes, says):
    with pytest.raises(SpecError, match=says):
        ServeSpec("tabular", **changes)


def test_the_spec_round_trips_through_json_and_names_itself():
    spec = ServeSpec("tabular", rates=(10.0, 20.0))
    assert ServeSpec.from_dict(spec.to_dict()) == spec
    assert spec.name.startswith("tabular_tiny_cpu_")


def test_serve_tables_are_read_from_a_suite(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[[matrix]]\nworkload = "linear"\nsize = "tiny"\n'
                    '[[serve]]\nworkload = "tabular"\nrates = [10, 20]\nslo_ms = 30\n'
                    'paths = "model"\nparadigm = ["plain", "ignite"]\nduration = 1\n')
    [spec] = load_suite(path, paradigms=["plain"]).serving
    assert spec.rates == (10.0, 20.0) and spec.paradigms == ("plain",)
    assert spec.paths == ("model",) and spec.duration_s == 1
    path.write_text('[[matrix]]\nworkload = "linear"\n[[serve]]\nworkload = "tabular"\n')
    with pytest.raises(SuiteError, match=r"\[\[serve\]\] #1: rates, slo_ms required"):
        load_suite(path)


def test_bad_input_exits_2_with_one_line(capsys):
    assert main(["serve", "--workload", "tabular", "--rates", "20", "10",
                 "--slo-ms", "50"]) == 2
    assert "rates must rise" in capsys.readouterr().err


def test_missing_packages_exit_2_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setattr(command, "missing_packages", lambda: ["litserve"])
    assert main(["serve", "--workload", "tabular", "--rates", "10", "--slo-ms", "50"]) == 2
    assert "pip install 'paradigm-bench[serve]'" in capsys.readouterr().err
