"""``python -m harness gpu-check --out DIR``: prove the GPU path in one short run.

What a user runs first on a rented GPU (``nox -s gpu-check``), and what a developer runs in a
short window on a lent one: the GPU tests (``pytest -m gpu``), then every cell of the gpu
suite once at reduced steps (no profiling repetition: "does every table run, and what does
it measure?"), then the report, then a small JSON summary of what came out. Each part has a
deadline; a part that runs out is interrupted like a Ctrl-C (every finished record is kept,
the report is rendered from them) and the summary says so. ``DIR`` receives::

    tests.xml       the GPU tests' JUnit report      run/            the quick suite's run folder
    tests.log       their output                     run/report.html its report
    summary.json    statuses, step times, overheads, MFU, memory, energy, start-up, wall times
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.commands.selection import InputError, fitting_cells
from harness.config import CellConfig, ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]  # where tests/ is
QUICK_WINDOWS = 4  # measured windows per cell in the quick run
QUICK_WARMUP = 10


def add_parser(sub: Any) -> None:
    p = sub.add_parser("gpu-check", help="the GPU tests, every gpu-suite cell once at reduced "
                       "steps, the report and a JSON summary (minutes, not hours)")
    p.add_argument("--out", type=Path, required=True, help="folder for the results")
    p.add_argument("--suite", type=Path, default=Path("benchmarks/suites/gpu.toml"))
    p.add_argument("--tests-deadline", type=float, default=240.0, metavar="S",
                   help="seconds for the GPU tests (default 240)")
    p.add_argument("--suite-deadline", type=float, default=180.0, metavar="S",
                   help="seconds for the quick suite (default 180)")
    p.add_argument("--skip-tests", action="store_true", help="only the quick suite")


def quick_cell(cell: CellConfig) -> CellConfig:
    """``cell`` cut to QUICK_WINDOWS windows after a short warm-up (kept as it is where the
    shorter run would be invalid, e.g. a resume point past the new end)."""
    steps = min(cell.steps, QUICK_WINDOWS * cell.window)
    try:
        return cell.replace(steps=steps, warmup=min(cell.warmup, QUICK_WARMUP))
    except ConfigError:
        return cell


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise KeyboardInterrupt in the main thread after ``seconds``: the matrix handles it as
    a Ctrl-C (ends the running cell's process tree, keeps every finished record)."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_tests(out: Path, seconds: float) -> dict[str, Any]:
    """``pytest -m gpu`` in a subprocess, killed at the deadline; counts from its JUnit XML."""
    xml, log = out / "tests.xml", out / "tests.log"
    start = time.perf_counter()
    with open(log, "wb") as sink:
        try:
            code: int | None = subprocess.run(
                [sys.executable, "-m", "pytest", "-m", "gpu", "-p", "no:cacheprovider",
                 f"--junitxml={xml}", "-q", "-rs"], stdout=sink, stderr=subprocess.STDOUT,
                cwd=REPO_ROOT, timeout=seconds).returncode
        except subprocess.TimeoutExpired:
            code = None
    summary: dict[str, Any] = {"exit_code": code, "timed_out": code is None,
                               "wall_s": time.perf_counter() - start}
    if xml.exists():
        summary.update(junit_counts(xml))
    return summary


def junit_counts(xml: Path) -> dict[str, Any]:
    root = ElementTree.parse(xml).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    counts = {k: sum(int(s.get(k, 0)) for s in suites)
              for k in ("tests", "failures", "errors", "skipped")}
    failed = []
    for case in root.iter("testcase"):
        for bad in [*case.findall("failure"), *case.findall("error")]:
            failed.append({"test": f"{case.get('classname')}::{case.get('name')}",
                           "message": (bad.get("message") or "")[:500]})
    return {**counts, "failed": failed}


def quick_cells(suite_file: Path) -> tuple[str, list[CellConfig]]:
    """The suite's name and its cells that fit this host, each once, at reduced steps (bad
    input raises an InputError, before anything runs)."""
    from harness.matrix.suite import SuiteError, load_suite

    try:
        suite = load_suite(suite_file)
    except SuiteError as exc:
        raise InputError(str(exc)) from None
    return suite.name, list(dict.fromkeys(quick_cell(c) for c in fitting_cells(suite.cells)))


def run_quick_suite(name: str, cells: list[CellConfig], out: Path, seconds: float
                    ) -> dict[str, Any]:
    """Every cell once (one repetition, no profiling one), then the report."""
    from harness.analyse.stopping import Plan
    from harness.matrix.matrix import execute
    from reports.render import render_run

    run_dir = out / "run"
    start, state = time.perf_counter(), "finished"
    try:
        with deadline(seconds):
            execute(cells, run_dir, {c: Plan(1) for c in cells}, f"{name}-quick",
                    progress=False)
    except KeyboardInterrupt:
        state = "deadline"
    wall = time.perf_counter() - start
    try:
        report = str(render_run(run_dir))
    except Exception as exc:  # the summary must still be written
        report = f"failed: {type(exc).__name__}: {exc}"
    return {"cells_planned": len(cells), "state": state, "wall_s": wall, "report": report,
            "run_dir": str(run_dir)}


def summarise(run_dir: Path) -> dict[str, Any]:
    """Per cell: status and the figures a reader checks first; start-up medians over all."""
    import pandas as pd

    from harness.analyse.analysis import cells_frame, records_frame
    from harness.results import load_run

    records = load_run(run_dir, unreadable=[]) if (run_dir / "cells").is_dir() else []
    if not records:
        return {"cells": [], "startup": {}}
    frame = records_frame(records)
    stats = cells_frame(frame)
    cells = []
    for r in records:
        m = r.get("measurements") or {}
        mem = m.get("memory") or {}
        cells.append({
            "key": r["key"], "status": r["status"], "message": r.get("message"),
            "step_time_s": m.get("step_time_s"), "mfu": m.get("mfu"),
            "items_per_s": m.get("items_per_s"), "energy_per_item_j": m.get("energy_per_item_j"),
            "cuda_max_allocated_bytes": mem.get("cuda_max_allocated_bytes"),
            "cuda_max_reserved_bytes": mem.get("cuda_max_reserved_bytes"),
            "nvml_used_peak_bytes": mem.get("nvml_used_peak_bytes"),
            "framework_s": (m.get("phases") or {}).get("framework_s"),
            "sync_s": (m.get("phases") or {}).get("sync"),
            "startup": m.get("startup"), "process_wall_s": r.get("process_wall_s"),
        })
    overheads = [] if stats.empty else [
        {k: row.get(k) for k in ("workload", "size", "precision", "profile", "paradigm",
                                 "step_time_s", "overhead_s", "overhead_frac")}
        for _, row in stats[stats["paradigm"] != "plain"].iterrows()]
    startup_keys = ("import_torch_s", "import_framework_s", "to_first_step_s",
                    "spawn_to_first_step_s")
    starts = pd.DataFrame([c["startup"] for c in cells if c["startup"]])
    startup: dict[str, float | None] = {k: float(starts[k].median()) for k in startup_keys
                                        if k in starts}
    walls = [c["process_wall_s"] for c in cells if c["process_wall_s"]]
    startup["process_wall_s"] = float(pd.Series(walls).median()) if walls else None
    statuses: dict[str, int] = {}
    for c in cells:
        statuses[c["status"]] = statuses.get(c["status"], 0) + 1
    return {"statuses": statuses, "cells": cells, "overheads": overheads, "startup": startup}


def device_identity() -> dict[str, Any]:
    from harness.measure.environment import capture_host

    host = capture_host()
    return {k: host.get(k) for k in ("gpus", "driver", "cpu", "cpu_count", "packages",
                                     "git_commit", "git_dirty")}


def run(args: argparse.Namespace) -> int:
    from harness.results import write_json_atomic

    out: Path = args.out
    name, cells = quick_cells(args.suite)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    summary: dict[str, Any] = {"device": device_identity()}
    if not args.skip_tests:
        summary["tests"] = run_tests(out, args.tests_deadline)
        write_json_atomic(out / "summary.json", summary)  # kept even if the suite breaks
    summary["suite"] = run_quick_suite(name, cells, out, args.suite_deadline)
    summary.update(summarise(out / "run"))
    summary["wall_s"] = time.perf_counter() - start
    write_json_atomic(out / "summary.json", summary)
    tests = summary.get("tests") or {}
    print(f"gpu-check: tests {tests.get('tests', '-')} run, {tests.get('failures', '-')} failed"
          f", {tests.get('errors', '-')} errors; cells {summary.get('statuses')}; "
          f"{summary['wall_s']:.0f} s; summary in {out / 'summary.json'}")
    failed = tests.get("failures") or tests.get("errors") or tests.get("timed_out")
    return 1 if failed or summary.get("statuses", {}).keys() - {"ok", "unsupported"} else 0

