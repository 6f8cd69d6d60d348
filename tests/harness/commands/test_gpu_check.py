"""`python -m harness gpu-check`: its parts, run on the CPU with a one-cell suite.

The GPU itself is not needed to test what the check does with what it measures: quick cells,
the deadline that interrupts a part, the JUnit counts and the summary."""

from __future__ import annotations

import json
import textwrap

import pytest

from harness.cli import main
from harness.commands.gpu_check import junit_counts, quick_cell
from harness.launch.devices import cuda_device_count
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


def test_a_part_that_runs_out_of_time_is_interrupted_and_keeps_what_it_measured(tmp_path):
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
