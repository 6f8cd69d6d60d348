"""``python -m harness.install``: what a host has of the project's requirements, and the pip
calls that add only what it lacks (pip itself is not run here: the calls are recorded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.install import (
    EXIT_MISSING,
    install,
    missing_by_group,
    parse_torch_line,
    requirements,
    survey,
)

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = """
[project]
name = "paradigm-bench"
dependencies = ["torch>=2.3", "pytorch-ignite>=0.5", "pandas>=2.0"]
[project.optional-dependencies]
search = ["optuna==5.0.0"]
vision = ["torchvision>=0.26,<0.29"]
test = ["pytest>=8", "paradigm-bench[search,vision]"]
"""
HOST = {"torch": "2.11.0+cu130", "pandas": "2.3.1", "pytest": "9.0", "torchvision": "0.30.0"}


@pytest.fixture(autouse=True)
def _a_python_pip_installs_into(monkeypatch):
    """Whatever interpreter runs the tests, the install under test may use pip."""
    import harness.install

    monkeypatch.setattr(harness.install, "externally_managed", lambda: False)


def test_an_extra_that_names_the_projects_extras_brings_theirs():
    import tomllib

    found = requirements(tomllib.loads(PYPROJECT), ["test"])
    assert [g for g, _ in found] == ["base"] * 3 + ["test", "search", "vision"]


def test_the_survey_finds_what_the_host_has_and_keeps_another_version():
    import tomllib

    needs = {n.name: n for n in survey(tomllib.loads(PYPROJECT), ["test"], HOST.get)}
    assert needs["torch"].installed == "2.11.0+cu130" and needs["torch"].within_range
    assert needs["torchvision"].installed and not needs["torchvision"].within_range
    assert missing_by_group(list(needs.values())) == {"base": ["pytorch-ignite>=0.5"],
                                                      "search": ["optuna==5.0.0"]}


def _install(tmp_path: Path, host: dict[str, str], ok: set[str], index: bool = True
             ) -> tuple[int, list[list[str]]]:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    calls: list[list[str]] = []

    def run(argv: list[str]) -> int:
        calls.append(argv)
        offline = "--no-index" in argv
        return 0 if "-e" in argv or any(a in ok or (a, offline) in ok for a in argv) else 1

    return install(tmp_path, ["test"], tmp_path / "wheels", index, "python", run,
                   host.get), calls


def test_the_project_goes_in_without_dependencies_and_ignite_from_the_wheel_folder(tmp_path):
    code, calls = _install(tmp_path, HOST, ok={("pytorch-ignite>=0.5", True)}, index=False)
    assert code == 0
    project, ignite, optuna = calls
    assert {"--no-deps", "--no-index", "-e"} <= set(project)
    assert "--no-index" in ignite and ignite[-1] == "pytorch-ignite>=0.5"
    assert ignite[ignite.index("--find-links") + 1] == str(tmp_path / "wheels")
    assert "--no-index" in optuna  # never the registry when told so: optuna is left out


def test_the_registry_is_asked_only_for_what_the_folder_lacks(tmp_path):
    code, calls = _install(tmp_path, HOST, ok={("pytorch-ignite>=0.5", True),
                                               ("optuna==5.0.0", False)})
    assert code == 0
    assert [("--no-index" in c, c[-1]) for c in calls[1:]] == [
        (True, "pytorch-ignite>=0.5"), (True, "optuna==5.0.0"), (False, "optuna==5.0.0")]


def test_the_hosts_torch_is_pinned_for_every_install(tmp_path):
    pins = []

    def run(argv: list[str]) -> int:
        if "-c" in argv:
            pins.append(Path(argv[argv.index("-c") + 1]).read_text())
        return 0

    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    assert install(tmp_path, ["test"], tmp_path, False, "python", run, HOST.get) == 0
    assert pins == ["torch==2.11.0+cu130\n"] * 2


def test_a_missing_framework_is_named_with_the_command_that_fills_the_folder(tmp_path, capsys):
    code, _ = _install(tmp_path, HOST, ok=set(), index=False)
    out = capsys.readouterr().out
    assert code == 0  # Ignite's cells are `unsupported`; the rest runs
    assert f"pip download pytorch-ignite==0.5.5 --no-deps -d {tmp_path / 'wheels'}" in out
    assert "optuna==5.0.0 ([search]): not installed" in out


def test_a_missing_base_library_other_than_a_framework_stops(tmp_path, capsys):
    code, _ = _install(tmp_path, {k: v for k, v in HOST.items() if k != "pandas"}, ok=set())
    assert code == EXIT_MISSING
    assert "pandas>=2.0: not installed, and the harness needs it" in capsys.readouterr().out


def test_the_torch_version_is_read_from_its_marked_line_not_from_a_warning():
    output = "UserWarning: something at import\nparadigm-bench-torch: " \
             '{"version": "2.11.0+cu130", "cuda": true}\n'
    assert parse_torch_line(output) == {"version": "2.11.0+cu130", "cuda": True}
    assert parse_torch_line("2.11.0 True\n") is None


def test_gpu_tests_collect_without_optuna_ignite_and_pytest_benchmark(tmp_path):
    """A GPU host's pytest: the optional libraries absent (None in sys.modules makes their
    import fail and find_spec report them missing) and pytest-benchmark disabled."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nfor name in ('optuna', 'optuna_integration', 'ignite', 'mlflow'):\n"
        "    sys.modules[name] = None\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    modules = ["tests/harness/search", "tests/harness/training/adapters/test_ignite.py",
               "tests/harness/training/test_features.py"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:benchmark", "-p", "no:cacheprovider", *modules],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "needs pytorch-ignite" in proc.stdout and "needs Optuna" in proc.stdout


@pytest.mark.parametrize("module", ["harness.training.adapters.ignite",
                                    "harness.predict.ignite"])
def test_a_paradigm_whose_framework_is_missing_is_unsupported_with_the_install_command(
        monkeypatch, module):
    from harness.config import Paradigm
    from harness.launch.failures import classify
    from harness.results import Status
    from harness.training.adapters import import_paradigm_module

    # as on a host without Ignite: its submodules too, which earlier tests may have imported
    # (``from ignite.engine import Engine`` finds a cached submodule without its parent)
    for name in [m for m in sys.modules if m == "ignite" or m.startswith("ignite.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "ignite", None)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(NotImplementedError, match="pip install pytorch-ignite") as exc:
        import_paradigm_module(module, Paradigm.IGNITE)
    assert classify(exc.value) is Status.UNSUPPORTED


def test_check_lists_what_the_interpreter_has_and_installs_nothing(capsys):
    from harness.install import main

    assert main(["--check", "--extras", "test"]) == 0
    out = capsys.readouterr().out
    assert "found    torch " in out and "[test]" in out


def test_require_cuda_stops_where_torch_sees_no_gpu(capsys):
    import torch

    from harness.install import main

    if torch.cuda.is_available():
        pytest.skip("this torch sees a GPU")
    assert main(["--require-cuda", "--check"]) == 2
    assert "sees no CUDA device" in capsys.readouterr().out


def test_a_system_python_pip_refuses_gets_the_venv_command_before_any_pip_call(
        tmp_path, monkeypatch, capsys):
    import harness.install

    monkeypatch.setattr(harness.install, "externally_managed", lambda: True)
    code, calls = _install(tmp_path, HOST, ok=set())
    assert code == EXIT_MISSING and calls == []
    assert "python3 -m venv --system-site-packages .venv" in capsys.readouterr().out
