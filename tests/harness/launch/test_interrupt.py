"""Ctrl-C during a suite: exit 130, no orphans, finished cells kept, report rendered, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.results import load_run

# one repetition of three cells: two finish, the Ctrl-C lands in the third (each takes
# seconds: it sleeps before its framework import), and the resume runs what is left. The
# three are the plain loop's, in three precisions: the Ctrl-C lands before any framework
# import, so a framework's cell would add its import and prove nothing more
# (tests/harness/search/test_faults.py interrupts Lightning's fit itself)
SLOW = str(Path(__file__).parents[2] / "fixtures" / "slow.py") + ":Slow"
ARGS = ["-m", "harness", "run", "--workload", SLOW, "--size", "tiny", "--steps", "20",
        "--warmup", "5", "--window", "5", "--repetitions", "1", "--no-progress",
        "--paradigm", "plain", "--precision", "fp32", "bf16-mixed", "fp16-mixed"]
CELLS = 3


def _survivors(marker: str, descendants: list[psutil.Process]) -> list[int]:
    """Processes naming the run folder, working in it (a forked cell process carries the
    fork server's command line), or started under the CLI (the fork server itself)."""
    found = [p.pid for p in descendants if p.is_running() and p.status() != "zombie"]
    for p in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            if any(marker in part for part in (p.info["cmdline"] or [])) \
                    or marker in (p.info["cwd"] or ""):
                found.append(p.pid)
        except psutil.Error:
            pass
    return found


def test_ctrl_c_keeps_finished_cells_and_resume_finishes_the_rest(tmp_path):
    out = tmp_path / "run"
    cli = subprocess.Popen([sys.executable, *ARGS, "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "cells").glob("*.json"))) < 2:
        time.sleep(0.2)
    time.sleep(1.0)  # the third cell is running now
    descendants = psutil.Process(cli.pid).children(recursive=True)
    cli.send_signal(signal.SIGINT)
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 130, err
    time.sleep(0.5)
    assert _survivors(str(out), descendants) == [], "a cell process outlived the Ctrl-C"

    records = load_run(out)  # every file readable: nothing half-written
    statuses = sorted(r["status"] for r in records)
    assert statuses.count("ok") >= 2 and statuses.count("interrupted") == 1
    assert (out / "report.html").exists()
    assert json.loads((out / "manifest.json").read_text())["state"] == "interrupted"

    done_before = {r["key"] + str(r["repetition"]) for r in records if r["status"] == "ok"}
    resumed = subprocess.run([sys.executable, *ARGS, "--out", str(out), "--no-report"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["skipped_done"] == len(done_before)
    assert manifest["ran"] == CELLS - len(done_before)
    assert sorted(r["status"] for r in load_run(out)) == ["ok"] * CELLS
