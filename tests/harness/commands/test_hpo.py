"""Bad input to ``hpo`` is refused in one line with exit code 2, before any trial runs."""

from __future__ import annotations

import pytest

from harness.cli import main

BASE = ["hpo", "--workload", "linear", "--size", "tiny", "--trials", "2"]


@pytest.mark.parametrize("extra, message", [
    (["--sampler", "grid"], "unknown sampler 'grid'; valid: tpe, random"),
    (["--pruner", "patient"], "unknown pruner 'patient'; valid: median, halving"),
    (["--storage", "postgresql://nobody@127.0.0.1:1/optuna"], "cannot reach the study storage"),
    (["--profile", "defaults"], "use --profile minimal"),
    (["--world-size", "2"], "--world-size must be 1"),
    (["--repetitions", "3"], "--repetitions does not apply to hpo"),
    (["--features", "val_every=4", "--val-every", "8"], "give the validation interval once"),
    (["--paradigm", "keras"], "unknown paradigm 'keras'"),
])
def test_bad_input_exits_2_with_one_line_before_any_trial(extra, message, tmp_path, capsys):
    out = tmp_path / "hpo"
    assert main([*BASE, "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (out / "trials").exists()  # no study process ran
