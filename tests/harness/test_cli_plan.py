"""``--plan`` and ``--budget`` on the command line: a plan without running anything, bad
budgets refused before torch is imported, budgets too small refused with the smallest."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from harness.matrix.suite import load_suite
from harness.plan.costs import (
    CellCost,
    CostCache,
    HostCosts,
    cost_key,
    host_fingerprint,
    save_cache,
    shape_of,
    startup_key,
)
from harness.results import SCHEMA_VERSION, record_path, write_json_atomic

HEAVY = {"torch", "pytorch_lightning", "lightning", "ignite", "numpy", "scipy", "pandas"}
SUITE = """
name = "small"
repetitions = 4

[defaults]
size = "tiny"
batch_size = 8
steps = 18
warmup = 2
window = 2

[[matrix]]
workload = "linear"
priority = 1
attribution = true

[[matrix]]
workload = "mlp"
repetitions = 8
"""
SECONDS = 10.0  # every repetition of the fake cache: 9.8 s of overhead, 20 steps of 10 ms


def _cli(*args: str, env_cache: Path, cwd: Path) -> tuple[subprocess.CompletedProcess, set]:
    import os

    env = {**os.environ, "PARADIGM_BENCH_COST_CACHE": str(env_cache)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness", *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    lines = proc.stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in lines if line.startswith("import time:")}
    proc.stderr = "\n".join(line for line in lines if not line.startswith("import time:"))
    return proc, imported


@pytest.fixture
def small(tmp_path):
    """The suite file and a cost cache in which every cell of it is measured (no probe)."""
    path = tmp_path / "small.toml"
    path.write_text(SUITE)
    cells = load_suite(path).cells
    profiled = [c.replace(profiler=True) for c in cells]
    host = HostCosts(cells={cost_key(c): CellCost(shape_of(c), [0.01], [SECONDS - 0.2])
                            for c in cells + profiled},
                     startup_s={startup_key(c): [SECONDS - 0.2] for c in cells},
                     # imports known (no probe), and so the fork servers' start-ups: 0 s
                     torch_import_s=0.0, framework_import_s=dict.fromkeys(
                         (c.paradigm.value for c in cells), 0.0))
    cache = tmp_path / "costs.json"
    save_cache(CostCache({host_fingerprint(): host}), cache)
    return path, cache, cells


def test_plan_prints_cells_processes_and_estimate_and_runs_nothing(small, tmp_path):
    path, cache, _ = small
    proc, imported = _cli("suite", str(path), "--plan", env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    processes = 3 * (4 + 1) + 3 * 8
    assert out.splitlines()[0] == (f"plan: 6 cells, {processes} cell processes; estimated "
                                   f"{math.floor(processes * SECONDS / 60)} min "
                                   f"{processes * SECONDS % 60:02.0f} s "
                                   "(every figure measured here)")
    assert "[[matrix]] #1 (priority 1)" in out and "[[matrix]] #2 (priority 0)" in out
    assert "linear_tiny_minimal_fp32_w1_b8 20 steps  [plain,lightning,ignite] x4 " \
           "+1 profiling: 15 processes, 2 min 30 s" in out
    assert "processes: 36 timed repetitions, 3 profiling repetitions" in out
    assert not (tmp_path / "results").exists()  # nothing ran
    assert not imported & HEAVY, imported & HEAVY


def test_a_budget_cuts_the_lower_priority_first_and_says_so(small, tmp_path):
    path, cache, _ = small
    # full: 39 x 10 s = 6.5 min; 6 min = 36 processes: mlp (priority 0) 8 -> 7 is enough
    proc, _ = _cli("suite", str(path), "--plan", "--budget", "6", env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "budget 6 min: cut\n  [[matrix]] #2 (priority 0, 3 cells): repetitions 8 -> 7" \
        in proc.stdout
    assert "#1 (priority 1, " not in proc.stdout


def test_a_budget_that_holds_no_minimum_is_refused_with_the_smallest(small, tmp_path):
    path, cache, _ = small
    proc, _ = _cli("suite", str(path), "--plan", "--budget", "1", env_cache=cache,
                   cwd=tmp_path)
    # fewest: linear 3 + 1 profiling, mlp 6 (its overhead interval): 30 processes, 5 min
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: a budget of 1 min cannot hold the fewest repetitions every cell needs: the "
        "smallest budget that can is 5 min (--budget 5), or lift the budget with --rigorous"]


def test_a_suites_budget_holds_unless_rigorous(small, tmp_path):
    path, cache, _ = small
    path.write_text('budget = 6\n' + SUITE)
    proc, _ = _cli("suite", str(path), "--plan", env_cache=cache, cwd=tmp_path)
    assert "repetitions 8 -> 7" in proc.stdout
    proc, _ = _cli("suite", str(path), "--plan", "--rigorous", env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 0 and "cut" not in proc.stdout


def test_a_suites_budget_this_host_cannot_hold_plans_the_fewest_and_says_so(small, tmp_path):
    path, cache, _ = small
    path.write_text('budget = 1\n' + SUITE)  # the suite's target; 5 min at the fewest here
    proc, _ = _cli("suite", str(path), "--plan", env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert ("budget 1 min (the suite's) cannot be held here: every table at its fewest "
            "repetitions needs 5 min") in proc.stdout
    assert proc.stdout.startswith("plan: 6 cells, 30 cell processes;")
    proc, _ = _cli("suite", str(path), "--plan", "--budget", "1", env_cache=cache,
                   cwd=tmp_path)  # the user's own budget is a limit: refused
    assert proc.returncode == 2 and "smallest budget that can is 5 min" in proc.stderr


def test_a_budget_cuts_a_runs_repetitions_too(small, tmp_path):
    _, cache, _ = small  # the cache measures mlp tiny b8 18 steps, as the command line asks
    run = ("run", "--workload", "mlp", "--size", "tiny", "--batch-size", "8", "--steps", "18",
           "--warmup", "2", "--window", "2", "--repetitions", "8", "--plan")
    proc, _ = _cli(*run, env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("plan: 3 cells, 24 cell processes;")
    proc, _ = _cli(*run, "--budget", "3", env_cache=cache, cwd=tmp_path)  # 18 processes fit
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("plan: 3 cells, 18 cell processes;")
    assert "the command line's cells (3 cells): repetitions 8 -> 6" in proc.stdout


def test_a_resumed_folder_plans_only_what_is_left(small, tmp_path):
    path, cache, cells = small
    out = tmp_path / "run"
    for cell in cells:
        write_json_atomic(record_path(out, cell.key, 0),
                          {"schema_version": SCHEMA_VERSION, "status": "ok"})
    proc, _ = _cli("suite", str(path), "--plan", "--out", str(out), env_cache=cache,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("plan: 6 cells, 33 cell processes, 6 already done;")


@pytest.mark.parametrize("budget, expected", [
    ("0", "--budget must be a positive number of minutes, got '0'"),
    ("-5", "--budget must be a positive number of minutes, got '-5'"),
    ("soon", "--budget must be a number of minutes, got 'soon'"),
    ("nan", "--budget must be a positive number of minutes, got 'nan'"),
])
@pytest.mark.parametrize("command", ["run", "suite"])
def test_a_bad_budget_is_refused_before_torch(small, tmp_path, budget, expected, command):
    path, cache, _ = small
    head = ["suite", str(path)] if command == "suite" else ["run", "--workload", "mlp"]
    proc, imported = _cli(*head, f"--budget={budget}", env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {expected}"]
    assert not imported & HEAVY, imported & HEAVY


def test_no_repetitions_is_refused(small, tmp_path):
    """0 repetitions is how the matrix holds a dropped table's cells, never a user's count."""
    _, cache, _ = small
    proc, _ = _cli("run", "--workload", "mlp", "--repetitions", "0", "--plan",
                   env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --repetitions must be >= 1, got 0"]


def test_plan_on_a_suite_whose_only_cell_cannot_run_here_exits_2(small, tmp_path):
    path, cache, _ = small
    path.write_text(SUITE.replace('workload = "mlp"', 'workload = "mlp"\nworld_size = 4096')
                    .replace('workload = "linear"', 'workload = "nope"'))
    proc, _ = _cli("suite", str(path), "--plan", env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 2 and "unknown workload 'nope'" in proc.stderr
    path.write_text(SUITE.split("[[matrix]]")[0] + '[[matrix]]\nworkload = "mlp"\n'
                    'world_size = 4096\n')
    proc, _ = _cli("suite", str(path), "--plan", env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 2
    assert "no cell fits this machine: mlp_tiny_plain_minimal_fp32_w4096_b8" in proc.stderr


@pytest.mark.parametrize("command", [["run"], ["run", "--plan"]])
def test_a_batch_its_dataset_cannot_fill_is_refused_before_anything_runs(tmp_path, command):
    cache = tmp_path / "costs.json"
    proc, _ = _cli(*command, "--workload", "linear", "--size", "tiny", "--batch-size", "300",
                   "--out", str(tmp_path / "run"), env_cache=cache, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: linear at size 'tiny' has 256 training samples, 256 per rank over 1: fewer "
        "than one batch of 300; the largest batch that fits is 256 (--batch-size 256)"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("workload", ["resnet18", "resnet50", "bert-base", "gpt2"])
def test_a_tiny_real_model_gets_a_batch_its_dataset_fills(workload):
    """What a new user tries first (``run --workload resnet18 --size tiny``): the cells the
    command line makes pass the check that would refuse them (in-process: a ``--plan`` here
    would probe the host for minutes)."""
    from harness.commands.arguments import build_parser
    from harness.commands.selection import cells_from_args, check_batches, with_default_batches

    args = build_parser().parse_args(["run", "--workload", workload, "--size", "tiny"])
    cells = with_default_batches(cells_from_args(args))
    check_batches(cells)  # raises InputError where a batch does not fit
    assert {c.batch_size for c in cells} == {8 if workload.startswith("resnet") else 32}
