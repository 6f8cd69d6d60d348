"""`python -m harness gpu-check`: its parts, run on the CPU with a one-cell suite.

The GPU itself is not needed to test what the check does with what it measures: quick cells,
the deadline that interrupts a part, the JUnit counts and the summary."""

from __future__ import annotations

import json
import textwrap
import time

import psutil
import pytest

from harness.cli import main
from harness.commands.gpu_check import junit_counts, quick_cell, run_tests, why_tests_failed
from harness.launch.devices import cuda_device_count
from harness.plan.costs import host_fingerprint, load_cache, shape_of
from tests.conftest import tiny_cell

SUITE = textwrap.dedent("""
    name = "one-cell"
    repetitions = 3
    [defaults]
    attribution = true
    size = "tiny"
    threads = 1
    batch_size = 16
    [[matrix]]
    workload = "linear"
    paradigm = ["plain", "ignite"]
    steps = 200
    window = 10
    warmup = 20
""")


def test_a_quick_cell_keeps_its_window_and_cuts_its_steps():
    cell = quick_cell(tiny_cell("linear", steps=200, window=10, warmup=20))
    assert (cell.steps, cell.window, cell.warmup) == (40, 10, 10)
    short = tiny_cell("linear", steps=12, window=4, warmup=2)
    assert quick_cell(short) == short  # already shorter than four windows
    resume = tiny_cell("linear", steps=200, window=10, warmup=20, features={"resume_at": 150})
    assert quick_cell(resume) == resume  # the resume point would lie past the quick end


def test_the_check_runs_every_cell_once_and_writes_its_summary(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE)
    out = tmp_path / "check"
    assert main(["gpu-check", "--out", str(out), "--skip-tests", "--suite", str(suite)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["suite"]["state"] == "finished" and summary["statuses"] == {"ok": 2}
    assert (out / "run" / "report.html").exists()
    assert {c["key"].split("_")[2] for c in summary["cells"]} == {"plain", "ignite"}
    assert len(summary["overheads"]) == 1 and summary["overheads"][0]["paradigm"] == "ignite"
    assert summary["startup"]["spawn_to_first_step_s"] > 0
    assert "gpus" in summary["device"]
    host = load_cache().host(host_fingerprint())  # the next plan starts from these figures
    measured = {c.shape for c in host.cells.values() if c.step_s}
    assert shape_of(quick_cell(tiny_cell("linear", steps=200, window=10, warmup=20))) in measured


@pytest.fixture
def own_fork_servers(monkeypatch):
    """The check's cells start their fork server, as a fresh ``gpu-check`` process's do,
    within its deadline: not one the session's earlier tests left running."""
    from harness.launch import process

    monkeypatch.setattr(process, "_servers", {})
    yield
    process.close_servers()  # this test's, before the session's come back


def test_a_part_that_runs_out_of_time_is_interrupted_and_keeps_what_it_measured(
        tmp_path, own_fork_servers):
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE)
    out = tmp_path / "check"
    code = main(["gpu-check", "--out", str(out), "--skip-tests", "--suite", str(suite),
                 "--suite-deadline", "0.5"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["suite"]["state"] == "deadline"
    assert code == 1 and summary["statuses"] == {"interrupted": 1}


def test_junit_counts_name_the_failed_tests(tmp_path):
    xml = tmp_path / "t.xml"
    xml.write_text('<testsuites><testsuite tests="3" failures="1" errors="0" skipped="1">'
                   '<testcase classname="tests.harness.test_gpu" name="test_a">'
                   '<failure message="boom"/></testcase><testcase name="test_b"/>'
                   '</testsuite></testsuites>')
    counts = junit_counts(xml)
    assert (counts["tests"], counts["failures"], counts["skipped"]) == (3, 1, 1)
    assert counts["failed"] == [{"test": "tests.harness.test_gpu::test_a", "message": "boom"}]


@pytest.mark.skipif(cuda_device_count() > 0, reason="on a GPU host the cell would fit (and the "
                    "check would start the GPU tests from inside this one)")
def test_a_suite_with_no_cell_for_this_host_is_refused_before_the_tests(tmp_path, capsys):
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE.replace('size = "tiny"', 'size = "tiny"\ndevice = "cuda"'))
    assert main(["gpu-check", "--out", str(tmp_path / "check"), "--suite", str(suite)]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "check").exists()


@pytest.mark.parametrize("argv", [["gpu-check"], ["gpu-check", "--out"]])
def test_the_out_folder_is_required(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


# the GPU tests' verdict: pytest's exit code, its JUnit XML and how many tests ran

COUNTS = {"tests": 3, "failures": 0, "errors": 0, "skipped": 1, "failed": []}


@pytest.mark.parametrize(("code", "why"), [(1, "some tests failed"), (2, "interrupted"),
                                           (3, "internal error"), (4, "usage error"),
                                           (5, "no test collected")])
def test_a_non_zero_pytest_exit_fails_the_tests_with_its_meaning(code, why):
    assert why in why_tests_failed(code, False, COUNTS, 240)


def test_the_tests_pass_only_with_an_xml_exit_zero_and_a_test_that_ran():
    assert why_tests_failed(0, False, COUNTS, 240) is None
    assert "no JUnit XML" in why_tests_failed(0, False, None, 240)
    assert "no GPU test ran (3 collected, 3 skipped)" in why_tests_failed(
        0, False, {**COUNTS, "skipped": 3}, 240)
    assert "no GPU test ran (0 collected" in why_tests_failed(0, False, {**COUNTS, "tests": 0,
                                                                     "skipped": 0}, 240)
    assert "past their deadline of 240 s" in why_tests_failed(2, True, COUNTS, 240)


def test_pytest_without_the_xml_it_was_asked_for_fails_the_check(tmp_path):
    """pytest stopped by a usage error (here an unknown option) writes no XML: the summary
    says so instead of counting zero failures as a pass."""
    tests = run_tests(tmp_path, 120, selection=[str(tmp_path), "--no-such-option"])
    assert not tests["passed"] and tests["exit_code"] == 4
    assert "no JUnit XML (exit 4: pytest usage error" in tests["reason"]


OUTLIVES = textwrap.dedent("""
    import subprocess, sys, time

    CHILD = ("import os, signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
             "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)")

    def test_that_outlives_the_deadline():
        # one child in pytest's group that ignores the interrupt, one in a session of its own
        subprocess.Popen([sys.executable, "-c", CHILD, r"{group}"])
        subprocess.Popen([sys.executable, "-c", CHILD, r"{session}"], start_new_session=True)
        time.sleep(600)
""")


def _gone(pid: int) -> bool:
    """Exited (a zombie no init has reaped yet counts as gone), waiting a little for it."""
    for _ in range(100):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_a_test_past_the_deadline_is_interrupted_and_leaves_no_process_behind(tmp_path):
    group, session = tmp_path / "group.pid", tmp_path / "session.pid"
    test = tmp_path / "test_outlives.py"
    test.write_text(OUTLIVES.format(group=group, session=session))
    tests = run_tests(tmp_path, 10, selection=[str(test)], grace_s=3)
    assert group.exists() and session.exists(), "the fake test had not started by its deadline"
    assert tests["timed_out"] and not tests["passed"] and "deadline" in tests["reason"]
    assert (tmp_path / "tests.xml").exists()  # interrupted, pytest still wrote its report
    assert _gone(int(group.read_text())) and _gone(int(session.read_text()))
