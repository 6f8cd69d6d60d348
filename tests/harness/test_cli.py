"""Bad input is refused before anything runs: exit code 2, the valid choices, under a second."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

BASE = ["run", "--size", "tiny", "--steps", "4", "--warmup", "1", "--window", "2"]
# what the validation path must not import (each costs from a tenth of a second to seconds)
HEAVY = {"torch", "pytorch_lightning", "lightning", "ignite", "numpy", "scipy", "pandas",
         "matplotlib", "jinja2"}


def _cli(*args: str, cwd=None):
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)
    return proc, time.monotonic() - start


def _cli_imports(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """The CLI's result for ``args`` (its own stderr lines only) and the top-level packages
    it imported (``python -X importtime``), from one process."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness", *args],
                          capture_output=True, text=True, timeout=120)
    lines = proc.stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in lines if line.startswith("import time:")}
    proc.stderr = "\n".join(line for line in lines if not line.startswith("import time:"))
    return proc, imported


@pytest.mark.parametrize("args, expected", [
    (["--workload", "resnet9000"], "valid: bert-base, cnn, gpt, gpt2, linear, mlp"),
    (["--workload", "mlp", "--paradigm", "keras"], "valid: plain, lightning, ignite"),
    (["--workload", "mlp", "--precision", "fp8"], "valid: fp32, bf16-mixed, fp16-mixed"),
    (["--workload", "mlp", "--world-size", "4096"], "more processes than"),
    (["--workload", "mlp", "--device", "cuda"], "bench-cpu"),
    (["--workload", "mlp", "--size", "../etc"], "must match [A-Za-z0-9_.-]+"),
    (["--workload", "mlp", "--compile", "default", "turbo"],
     "unknown compile mode 'turbo'; valid: none, default, reduce-overhead, "
     "max-autotune-no-cudagraphs"),
])
def test_bad_run_input_exits_2_fast(args, expected, tmp_path):
    proc, imported = _cli_imports(*BASE, *args, "--out", str(tmp_path / "r"))
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert not (tmp_path / "r").exists()
    # fast because the check imports nothing heavy (torch alone takes about a second, scipy's
    # statistics 1.3 s): asserted on the imports themselves, not on a wall-clock bound that a
    # loaded machine would break
    assert "harness" in imported and not imported & HEAVY, imported & HEAVY


def test_a_bad_launch_path_exits_2_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("PARADIGM_BENCH_LAUNCH", "vfork")
    proc, imported = _cli_imports(*BASE, "--workload", "linear", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "expected one of fork, spawn" in proc.stderr
    assert not (tmp_path / "r").exists() and not imported & HEAVY, imported & HEAVY


def test_batch_size_zero_exits_2(tmp_path):
    proc, _ = _cli(*BASE, "--workload", "linear", "--batch-size", "0", "--out", str(tmp_path))
    assert proc.returncode == 2 and "batch_size must be > 0" in proc.stderr


@pytest.mark.parametrize("content, expected", [
    (None, "cannot read suite file"),
    ("name = [unclosed", "not valid TOML"),
    ('name = "bad name!"\n[[matrix]]\nworkload = "mlp"', "must match"),
])
def test_bad_suite_files_exit_2(tmp_path, content, expected):
    path = tmp_path / "s.toml"
    if content is not None:
        path.write_text(content)
    proc, _ = _cli("suite", str(path))
    assert proc.returncode == 2 and expected in proc.stderr


def test_a_suite_with_a_bad_workload_is_refused_before_heavy_imports():
    proc, imported = _cli_imports(
        "suite", str(Path(__file__).parents[2] / "benchmarks/suites/cpu.toml"), "--workload",
        "nope")
    assert proc.returncode == 2 and "unknown workload 'nope'" in proc.stderr
    assert "harness" in imported and not imported & HEAVY


def test_help_and_list():
    proc, _ = _cli("--help")
    assert proc.returncode == 0 and "suite" in proc.stdout
    proc, _ = _cli("list")
    assert "mlp" in proc.stdout and "lightning" in proc.stdout


def test_list_and_help_name_every_feature_setting_from_the_dataclass(capsys):
    """A user finds the feature names, their settings and what each does without the source;
    the listing is read off ``Features`` itself (its fields' metadata), never a typed copy."""
    import dataclasses

    from harness import cli
    from harness.features import FEATURE_FIELDS, Features

    assert cli.main(["list"]) == 0
    listing = capsys.readouterr().out
    for feature in FEATURE_FIELDS:
        assert f"  {feature}: " in listing
    for field in dataclasses.fields(Features):
        line = next(line for line in listing.splitlines() if f" {field.name}=" in line)
        assert field.metadata["doc"] in line
    run_help = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    flat = " ".join(run_help.split())
    assert all(field.name in flat for field in dataclasses.fields(Features))
    assert "python -m harness list" in flat


def readme_workload_example() -> str:
    """The code block of the README's "Add a workload" section, exactly as a user copies it."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Add a workload", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_user_workload_file_runs_through_all_three(tmp_path):
    """A user's workload, one new file, no other edit: the README's promise."""
    user_file = tmp_path / "my_workload.py"
    user_file.write_text(readme_workload_example())
    # a relative --out, as a user types it: the cell processes run in other folders
    proc, _ = _cli(*BASE, "--workload", str(user_file), "--out", "run",
                   "--no-progress", "--no-report", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for paradigm in ("plain", "lightning", "ignite"):
        assert any(line.strip().startswith(paradigm) for line in lines), proc.stdout
    assert proc.stdout.count("bitwise") == 2


def test_a_failing_report_keeps_the_run_and_says_how_to_render_it(tmp_path, monkeypatch, capsys):
    import argparse

    import reports.render
    from harness import cli

    def broken(run_dir, output=None, notices=None, summary=None):
        raise ValueError("renderer bug")

    monkeypatch.setattr(reports.render, "render_run", broken)
    assert cli._render(tmp_path, argparse.Namespace(no_report=False)) is False
    err = capsys.readouterr().err
    assert "renderer bug" in err and f"python -m harness report {tmp_path}" in err


def test_report_says_on_the_terminal_which_records_it_left_out(tmp_path, capsys):
    import json

    from harness import cli
    from harness.results import SCHEMA_VERSION
    from tests.reports.fixtures import standard_records, write_run

    run = write_run(tmp_path, standard_records(("mlp",), repetitions=2))
    (run / "cells" / "truncated__r0.json").write_text('{"schema_version": 2, "trunc')
    (run / "cells" / "future__r0.json").write_text(
        json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    assert cli.main(["report", str(run)]) == 0
    err = capsys.readouterr().err
    assert "truncated__r0.json" in err and "future__r0.json" in err
    assert "newer than this harness reads" in err
    assert err.count("warning: left out of the report") == 2


SERVING_SUITE = """
name = "served"
repetitions = 2

[defaults]
size = "tiny"
batch_size = 8
steps = 18
warmup = 2
window = 2

[[matrix]]
workload = "mlp"
paradigm = ["plain", "lightning"]

[[serve]]
workload = "tabular"
size = "tiny"
paths = ["model"]
rates = [10]
slo_ms = 50
"""


def test_a_suite_with_serving_prints_the_glance_once_at_the_very_end(
        tmp_path, monkeypatch, capsys, fake_runs):
    """The cells' report is rendered before serving too, but only the last render prints the
    Verdict at a glance: below the serving lines, once."""
    from harness import cli
    from harness.commands import serve

    def served(specs, out, progress=True, report=True):
        print("Serving tabular: every target 10+ req/s")
        return 0

    monkeypatch.setattr(serve, "run_suite_serving", served)
    suite = tmp_path / "served.toml"
    suite.write_text(SERVING_SUITE)
    assert cli.main(["suite", str(suite), "--out", str(tmp_path / "out"), "--no-progress",
                     "--rigorous"]) == 0
    out = capsys.readouterr().out
    assert out.count("Verdict at a glance") == 1 and out.count("report: ") == 1
    assert out.index("Serving tabular") < out.index("Verdict at a glance")
    assert out.rstrip().splitlines()[-1].startswith("report: ")
    assert len(fake_runs) == 4
