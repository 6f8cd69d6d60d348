"""``python -m harness``: run cells, suites or searches, render and compare reports.

Examples::

    python -m harness run --workload mlp --size tiny --steps 50
    python -m harness run --workload mlp --features none val_every=20 ckpt_every=50
    python -m harness suite benchmarks/suites/smoke.toml --out runs/smoke
    python -m harness report runs/smoke
    python -m harness compare runs/before runs/after
    python -m harness hpo --workload mlp --size tiny --trials 20
    python -m harness serve --workload tabular --rates 25 50 100 --duration 3 --slo-ms 50

Bad input exits with code 2 before anything runs; Ctrl-C exits with 130 after saving.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.commands.arguments import build_parser
from harness.commands.exits import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_REPORT_FAILED
from harness.commands.selection import (
    InputError,
    cells_from_args,
    check_batches,
    check_workloads,
    choices,
    enum_values,
    fitting_cells,
    validate_cells,
    with_default_batches,
)
from harness.config import CellConfig, CompileMode, Paradigm, Precision, Profile, Scenario

if TYPE_CHECKING:
    from harness.analyse.stopping import Plan
    from harness.plan.plan import RunPlan, Table



def budget_minutes(value: str | None) -> float | None:
    """``--budget``: a positive, finite number of minutes (checked before anything imports)."""
    if value is None:
        return None
    try:
        minutes = float(value)
    except ValueError:
        raise InputError(f"--budget must be a number of minutes, got {value!r}") from None
    if not 0 < minutes < float("inf"):
        raise InputError(f"--budget must be a positive number of minutes, got {value!r}")
    return minutes


def _run_dir(out: Path | None, name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return out or Path("results") / f"{name}-{stamp}"


def _choose_launch_path(choice: str | None) -> None:
    """``--launch`` over ``PARADIGM_BENCH_LAUNCH``; a bad variable is refused."""
    from harness.process_env import LAUNCH_ENV, launch_path

    if choice:
        os.environ[LAUNCH_ENV] = choice
    try:
        launch_path()
    except ValueError as exc:
        raise InputError(str(exc)) from exc



def plan_run(plans: dict[CellConfig, Plan], tables: dict[CellConfig, Table],
             budget: float | None, out: Path | None, studies: Sequence[Any] = (),
             probe: bool = True, node_rank: int = 0, strict: bool = True,
             serving_s: float = 0.0) -> tuple[RunPlan, str]:
    """``harness.plan.preflight.plan_run``, a budget too small as bad input."""
    from harness.plan.budget import BudgetError
    from harness.plan.preflight import plan_run as preflight

    try:
        return preflight(plans, tables, budget, out, studies, probe, node_rank, strict,
                         serving_s)
    except BudgetError as exc:
        raise InputError(str(exc)) from None


def _execute_and_report(run_plan: RunPlan, run_dir: Path, name: str,
                        args: argparse.Namespace, uncut: dict[CellConfig, Plan] | None = None,
                        tables: dict[CellConfig, Table] | None = None,
                        last: bool = True) -> int:
    """Run the plan's cells and render the report; ``last``: nothing follows (a suite's
    studies or serving do), so the render prints the Verdict at a glance."""
    import time

    from harness.analyse.table import print_run_table
    from harness.matrix.matrix import execute
    from harness.plan.preflight import print_start, record_costs, refitter

    cells = list(run_plan.plans)
    held = held_back(run_plan, uncut or {})
    print(f"run folder: {run_dir}", file=sys.stderr)
    print_start(run_plan)
    from harness.launch.runner import Launch

    if any(c.nnodes > 1 for c in cells) and not args.rdzv_endpoint:
        raise InputError("a multi-node cell needs --rdzv-endpoint HOST:PORT (node 0's address)")
    launch = Launch(args.node_rank, args.rdzv_endpoint)
    seed = args.order_seed
    if seed is None and any(c.nnodes > 1 for c in cells):
        seed = 0  # every node must run the cells in the same order
    since = time.time()
    refit = refitter(run_plan, uncut or run_plan.plans, tables or {}, run_dir, since,
                     args.node_rank)
    try:
        # the cells of the tables a budget dropped go along held (0 repetitions): the refit
        # after the first round gives them repetitions where the measured figures find room
        summary = execute([c for c in uncut or cells if c in run_plan.plans or c in held],
                          run_dir, {**held, **run_plan.plans}, name,
                          progress=not args.no_progress,
                          launch=launch, order_seed=seed, estimates=run_plan.estimates(),
                          run_plan=run_plan.to_manifest(), refit=refit,
                          budget_s=None if run_plan.budget_min is None
                          else run_plan.budget_min * 60 - run_plan.studies_s
                          - run_plan.serving_s)
    except KeyboardInterrupt:
        record_costs(run_dir, since)
        print(f"\ninterrupted: finished cells are kept in {run_dir}; run the same command "
              f"with --out {run_dir} to resume", file=sys.stderr)
        _render(run_dir, args)
        return EXIT_INTERRUPTED
    record_costs(run_dir, since)
    print_run_table(run_dir)
    print(f"suite wall time {summary['wall_s']:.1f} s for {summary['ran']} cell processes "
          f"({summary['skipped_done']} already done)")
    return 0 if _render(run_dir, args, last) else EXIT_REPORT_FAILED


def held_back(run_plan: RunPlan, uncut: dict[CellConfig, Plan]) -> dict[CellConfig, Plan]:
    """The cells a budget left out of ``run_plan`` (its dropped tables), at 0 repetitions."""
    import dataclasses

    return {c: dataclasses.replace(p, repetitions=0, min_repetitions=0, attribution=False)
            for c, p in uncut.items() if c not in run_plan.plans}


def _render(run_dir: Path, args: argparse.Namespace, last: bool = True) -> bool:
    """Render the run's report; a renderer bug must not read as lost measurements. Only the
    command's ``last`` render prints what it left out, the Verdict at a glance and the path,
    so that the table is printed once, at the very end (after a suite's serving lines)."""
    if getattr(args, "no_report", False):
        return True
    from reports.render import render_run

    notices: list[str] = []
    summary: list[str] = []
    try:
        path = render_run(run_dir, notices=notices, summary=summary)
    except Exception:
        traceback.print_exc()
        print(f"\nthe report could not be rendered (above); every measurement is kept in "
              f"{run_dir}: re-render it with `python -m harness report {run_dir}`",
              file=sys.stderr)
        return False
    if last:
        _print_notices(notices)
        print("\n".join(summary))
        print(f"report: {path}")
    return True


def _print_notices(notices: list[str]) -> None:
    """What a report left out, on the terminal as well as on the page."""
    for notice in notices:
        print(f"warning: left out of the report: {notice}", file=sys.stderr)


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a SIGTERM'd suite cleans up exactly like a Ctrl-C'd one


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    # a shell starting us in the background leaves SIGINT ignored; Ctrl-C must always work
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if hasattr(args, "launch"):  # run and suite: refused before any heavy import
            _choose_launch_path(args.launch)
        if args.command in STARTS_PROCESSES:
            _refuse_compromised()
        return _dispatch(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


STARTS_PROCESSES = {"run", "suite", "hpo", "gpu-check"}  # cells import frameworks


def _refuse_compromised() -> None:
    from harness.supply_chain import installed_problem

    problem = installed_problem()
    if problem:
        raise InputError(problem)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "list":
        from harness.discovery import declared_names, declared_requirements, missing_libraries
        from harness.features import describe

        print("workloads: ", ", ".join(declared_names()))
        for name, requires in declared_requirements().items():  # found, not imported
            reason = missing_libraries(name, requires)
            if reason is not None:
                print(f"  unavailable: {reason}")
        for kind in (Paradigm, Precision, Profile, Scenario):
            print(f"{kind.__name__.lower()}s: ", ", ".join(choices(kind)))
        print("compile modes: ", ", ".join(choices(CompileMode)))
        print("features (--features NAME=VALUE,...; a suite table's features = [{...}]; the "
              "defaults are off):")
        print("\n".join(describe()))
        return 0
    if args.command == "run":
        from harness.analyse.stopping import Plan

        budget = _budget_of(args)
        if args.repetitions < 1:
            raise InputError(f"--repetitions must be >= 1, got {args.repetitions}")
        try:
            run_plan = Plan(args.repetitions, until_ci_pct=args.until_ci,
                            attribution=args.attribution)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        cells = cells_from_args(args)
        validate_cells(cells)  # all of it before the batch-size lookup imports torch
        if args.batch_size is None:
            cells = with_default_batches(cells)
        check_batches(cells)
        uncut = dict.fromkeys(cells, run_plan)
        run, listing = plan_run(uncut, {}, budget, args.out,
                                probe=args.plan or budget is not None,
                                node_rank=args.node_rank)
        if args.plan:
            print(listing)
            return 0
        return _execute_and_report(run, _run_dir(args.out, "run"), "run", args, uncut)
    if args.command == "suite":
        from harness.matrix.suite import SuiteError, load_suite

        budget = _budget_of(args)  # before the suite's workloads import torch
        if args.paradigm:
            enum_values(Paradigm, args.paradigm)
        if args.workload:
            check_workloads(args.workload)
        try:
            suite = load_suite(args.file, workloads=args.workload, paradigms=args.paradigm,
                               repetitions=args.repetitions, device=args.device)
        except SuiteError as exc:
            raise InputError(str(exc)) from None
        cells = fitting_cells(suite.cells)
        if not args.plan:  # a suite's --plan imports no torch (its cells name their batches)
            check_batches(cells)
        strict = budget is not None  # the user's budget is a limit; the suite's, a target
        if budget is None and not args.rigorous:
            budget = suite.budget_min
        run, listing = plan_run({c: suite.plans[c] for c in cells}, suite.tables, budget,
                                args.out, suite.studies, probe=args.plan or budget is not None,
                                node_rank=args.node_rank, strict=strict,
                                serving_s=sum(s.estimated_s() for s in suite.serving))
        if args.plan:
            print(listing)
            return 0
        run_dir = _run_dir(args.out, suite.name)
        code = _execute_and_report(run, run_dir, suite.name, args,
                                   {c: suite.plans[c] for c in cells}, suite.tables,
                                   last=not (suite.studies or suite.serving))
        if suite.studies and code != EXIT_INTERRUPTED:  # then the suite's [[hpo]] studies
            from harness.commands.hpo import run_suite_studies

            code = run_suite_studies(suite.studies, run_dir / "hpo", not args.no_progress,
                                     not args.no_report) or code
            # the report now links to the studies' page
            _render(run_dir, args, last=not suite.serving or code == EXIT_INTERRUPTED)
        if suite.serving and code != EXIT_INTERRUPTED:  # then its [[serve]] comparisons
            from harness.commands.serve import run_suite_serving

            code = run_suite_serving(suite.serving, run_dir / "serve", not args.no_progress,
                                     not args.no_report) or code
            _render(run_dir, args)  # the report now names them in its Verdict
        return code
    if args.command == "hpo":
        from harness.commands import hpo

        return hpo.run(args)
    if args.command == "serve":
        from harness.commands import serve

        return serve.run(args)
    if args.command == "report":
        _require_run(args.run_dir)
        from reports.render import render_run

        notices: list[str] = []
        summary: list[str] = []
        path = render_run(args.run_dir, args.output, notices, summary)
        _print_notices(notices)
        print("\n".join(summary))
        print(f"report: {path}")
        return 0
    if args.command == "compare":
        _require_run(args.before)
        _require_run(args.after)
        from reports.render import render_compare

        print(f"compare: {render_compare(args.before, args.after, args.output)}")
        return 0
    if args.command == "versions":
        for run_dir in args.run_dirs:
            _require_run(run_dir)
        from reports.render import render_versions
        from reports.versions import MixedRuns

        try:
            path = render_versions(args.run_dirs, args.output, args.missing, args.allow_mixed)
        except MixedRuns as exc:
            raise InputError(f"{exc}: a difference between releases could be the harness's or "
                             "torch's; pass --allow-mixed to compare them anyway") from None
        print(f"versions: {path}")
        return 0
    if args.command == "gpu-check":
        from harness.commands import gpu_check

        return gpu_check.run(args)
    raise AssertionError(args.command)


def _budget_of(args: argparse.Namespace) -> float | None:
    """``--budget`` in minutes, checked before anything heavy is imported."""
    given = budget_minutes(args.budget)
    if args.rigorous and given is not None:
        raise InputError("--rigorous lifts the budget: give --budget or --rigorous, not both")
    return given


def _require_run(path: Path) -> None:
    if not (path / "cells").is_dir():
        raise InputError(f"{path} is not a run folder (no cells/ inside)")
