"""A storage that refuses before any trial (wrong password), and one that dies mid-study:
the running trial recorded failed with the storage's error, the finished ones kept, a clear
message and a non-zero exit; the same command resumes once the storage is back. Against a
redis-server started here (skipped, with the reason, where there is none)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna", reason="needs Optuna: pip install '.[search]'")

from harness.cli import main
from harness.search import analysis as an
from harness.search.results import load_studies, local_records
from harness.search.storage import open_storage
from tests.harness.search.conftest import SEARCH_WORKLOADS, TRIAL, hpo_here
from tests.harness.search.servers import redis_server


def test_a_wrong_password_is_refused_in_one_line_before_any_trial(tmp_path, capsys):
    with redis_server() as server:
        wrong = server.url.replace(server.password, "not-the-password")
        code = main(["hpo", "--workload", "linear", "--size", "tiny", "--trials", "2",
                     "--storage", wrong, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "cannot reach the study storage redis://:***@127.0.0.1" in err
    assert "invalid username-password pair" in err
    assert "\n" not in err and "not-the-password" not in err
    assert not (tmp_path / "trials").exists()


def test_a_storage_that_dies_mid_study_keeps_what_finished_and_the_command_resumes(
        tmp_path, monkeypatch):
    mark = tmp_path / "third-trial-running"
    monkeypatch.setenv("PB_TEST_MARK", str(mark))
    with redis_server(persist=True) as server:
        args = ["--workload", f"{SEARCH_WORKLOADS}:MarksThirdTrial", *TRIAL, "--paradigm",
                "plain", "--trials", "4", "--pruner", "none", "--storage", server.url,
                "--out", str(tmp_path / "out"), "--no-report"]
        cli = subprocess.Popen([sys.executable, "-m", "harness", "hpo", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not mark.exists() and time.monotonic() < deadline and cli.poll() is None:
            time.sleep(0.05)
        server.kill()  # the third trial is training: its next report meets a dead storage
        _, err = cli.communicate(timeout=90)
        assert cli.returncode == 4, err[-2000:]
        assert "failed mid-study" in err and "run the same command to resume" in err
        assert server.password not in err
        (study,) = load_studies(tmp_path / "out")  # from the workers' records
        states = [(t["state"], t["storage_failed"]) for t in study["trials"]]
        assert states == [("COMPLETE", False), ("COMPLETE", False), ("FAIL", True)]
        assert study["trials"][2]["error_type"] == "ConnectionError"  # redis's, not Optuna's
        server.start()  # back, with all it had acknowledged
        assert hpo_here(*args) == 0  # the same command
        stored = optuna.load_study(study_name=study["study"], storage=open_storage(server.url))
        lost = stored.trials[2]
        assert lost.state.name == "FAIL" and lost.user_attrs["storage_failed"] is True
    (study,) = load_studies(tmp_path / "out")
    assert an.counts(study)["complete"] == 4 and an.counts(study)["interrupted"] == 1
    assert [t["number"] for t in an.counted(study)] == [0, 1, 3, 4]
    assert not any(server.password in str(r) for r in local_records(tmp_path / "out",
                                                                       study["study"]))
