"""The cells a command line asks for: the product of its choices (``cells_from_args``),
checked before anything heavy imports (``validate_cells`` for ``run``, ``fitting_cells`` for a
suite), then given their workloads' default batch sizes (``with_default_batches``, which does
import torch) and checked against their datasets (``check_batches``). Anything wrong is an
``InputError``: one line, exit code 2, nothing runs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path

from harness.config import (
    CellConfig,
    CompileMode,
    CompileStyle,
    ConfigError,
    Paradigm,
    Precision,
    Profile,
    Scenario,
)
from harness.features import FeatureError, Features


def choices(kind: type[Enum]) -> list[str]:
    """The values a command-line option naming ``kind`` takes."""
    return [m.value for m in kind]


class InputError(Exception):
    """Bad input: printed as one message, exit code 2, nothing runs."""


def validate_cells(cells: Sequence[CellConfig]) -> None:
    """Reject what cannot run, cheaply and before anything starts (no torch import)."""
    from harness.launch.devices import check_devices

    check_workloads(sorted({c.workload for c in cells}))
    check_metric_workloads(cells)
    for cell in cells:
        problem = check_devices(cell)
        if problem:
            raise InputError(problem)


def check_metric_workloads(cells: Sequence[CellConfig]) -> None:
    """Metrics score a classifier (and, per training step, its step's logits): a workload
    that cannot is refused before anything runs (this imports the workloads that metrics
    cells name, and only those)."""
    asked = {(c.workload, c.features.metrics_where): c.features for c in cells
             if c.features.metrics}
    if not asked:  # harness.workload imports torch: a plan without metrics cells never does
        return
    from harness.discovery import resolve
    from harness.workload import metrics_workload_problem

    for (spec, _), features in sorted(asked.items(), key=lambda kv: kv[0][0]):
        problem = metrics_workload_problem(features, resolve(spec))
        if problem:
            raise InputError(problem)


def fitting_cells(cells: Sequence[CellConfig]) -> list[CellConfig]:
    """A suite's cells that fit this machine; the rest are named and skipped.

    A suite is written once for many machines (its DDP cells go up to 8 GPUs); a cell that
    needs more devices than this machine has is left out, not a reason to refuse the suite.
    An explicit ``run`` is strict instead (``validate_cells``).
    """
    from harness.launch.devices import check_devices

    check_workloads(sorted({c.workload for c in cells}))
    check_metric_workloads(cells)
    fitting: list[tuple[CellConfig, str | None]] = []
    skipped: list[tuple[CellConfig, str | None]] = []
    for cell in cells:
        problem = check_devices(cell)
        (skipped if problem else fitting).append((cell, problem))
    if not fitting:
        cell, problem = skipped[0]
        raise InputError(f"no cell fits this machine: {cell.key}: {problem}")
    for cell, problem in skipped:
        print(f"skipped {cell.key}: {problem}", file=sys.stderr)
    return [cell for cell, _ in fitting]


def check_workloads(specs: Sequence[str]) -> None:
    from harness.discovery import UnknownWorkloadError, check_spec

    for spec in specs:
        try:
            check_spec(spec)
        except UnknownWorkloadError as exc:
            raise InputError(str(exc)) from None


def enum_values(kind: type, values: Sequence[str], name: str | None = None) -> list[str]:
    valid = choices(kind)
    bad = [v for v in values if v not in valid]
    if bad:
        raise InputError(f"unknown {name or kind.__name__.lower()} {bad[0]!r}; valid: "
                         f"{', '.join(valid)}")
    return list(values)


def cells_from_args(args: argparse.Namespace) -> list[CellConfig]:
    """The product of the command-line choices, paradigms innermost (interleaved).

    Without ``--batch-size`` the cells carry a placeholder batch of 1 until
    ``with_default_batches``: everything else is validated first, without importing torch.
    """
    workloads = [_absolute_if_file(w) for w in args.workload]
    try:
        feature_sets = [Features.parse(f) for f in args.features]
    except FeatureError as exc:
        raise InputError(str(exc)) from None
    combos = itertools.product(
        workloads, enum_values(Profile, args.profile), feature_sets,
        enum_values(Precision, args.precision), args.world_size,
        enum_values(CompileMode, args.compile, "compile mode"),
        enum_values(Scenario, args.scenario), enum_values(Paradigm, args.paradigm),
    )
    cells = []
    try:
        for workload, profile, features, precision, world, mode, scenario, paradigm in combos:
            per_node = max(world // max(args.nnodes, 1), 1)
            threads = args.threads or max(1, (os.cpu_count() or 1) // per_node)
            cells.append(CellConfig.from_dict(dict(
                workload=workload, paradigm=paradigm, size=args.size, profile=profile,
                precision=precision,
                batch_size=args.batch_size if args.batch_size is not None else 1,
                steps=args.steps, warmup=args.warmup, window=args.window, seed=args.seed,
                device=args.device, threads=threads, world_size=world, workers=args.workers,
                data=args.data, timeout_s=args.timeout, nnodes=args.nnodes, features=features,
                phases=not args.no_phases, compile=mode,
                compile_style=args.compile_style if mode != CompileMode.NONE.value
                else CompileStyle.MODEL.value, scenario=scenario,
            )))
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    return cells


def with_default_batches(cells: list[CellConfig]) -> list[CellConfig]:
    """Each cell with its workload's default batch size (imports the workloads, so torch)."""
    from harness.discovery import default_batch_size

    return [c.replace(batch_size=default_batch_size(c.workload, c.size)) for c in cells]


def check_batches(cells: Sequence[CellConfig]) -> None:
    """Refuse a cell whose batch its dataset cannot fill (imports the workloads, so torch):
    it would only end ``error`` after its process started."""
    from harness.discovery import batch_misfit

    for key in dict.fromkeys((c.workload, c.size, c.batch_size, c.world_size) for c in cells):
        try:
            problem = batch_misfit(*key)
        except ValueError as exc:  # a size the workload does not have
            raise InputError(str(exc)) from None
        if problem:
            raise InputError(problem)


def _absolute_if_file(spec: str) -> str:
    target, sep, cls = spec.partition(":")
    if target.endswith(".py") or "/" in target:
        return str(Path(target).resolve()) + sep + cls
    return spec
