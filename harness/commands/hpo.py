"""``python -m harness hpo``: one Optuna study per paradigm over the same workload, search
space, sampler seed and pruner, then the HPO page.

    python -m harness hpo --workload mlp --size tiny --trials 20
    python -m harness hpo --workload mlp --trials 40 --workers 1 2 --out runs/hpo
    python -m harness hpo --workload mlp --trials 40 --workers 4 \\
        --storage postgresql://user@db-host/optuna          # several machines, one study
    python -m harness hpo --workload mlp --trials 40 --workers 2 \\
        --storage redis://:PASSWORD@db-host:6379/0           # or through Redis
    python -m harness hpo --workload mlp --trials 40 --aa   # + an A/A copy of the plain loop

The paradigms' studies take turns, a block of trials each, in a seeded shuffled order
(``harness.search.schedule``).

``run``'s cell options apply (each trial trains warm-up + steps optimizer steps of that
cell); ``--workers`` here counts study processes sharing one study, and the DataLoader's
workers are ``--loader-workers``. Bad input (an unknown sampler or pruner, a storage that
cannot be reached, a wrong password, SQLite for several workers, a cell a trial cannot be)
exits 2 with one line before any trial runs; Ctrl-C ends the running trials, keeps every
finished one in the storage, renders the page and exits 130; a storage that fails mid-study
exits 4 (what finished kept); the same command again resumes each study by name.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.commands.exits import EXIT_INTERRUPTED
from harness.commands.selection import (
    InputError,
    cells_from_args,
    check_batches,
    validate_cells,
    with_default_batches,
)
from harness.search.spec import PRUNERS, SAMPLERS, SpecError, StudySpec

DEFAULT_OUT = Path("results") / "hpo"  # fixed, so that the same command resumes its studies
NEEDS = ("optuna", "optuna_integration", "sqlalchemy")
INSTALL = "pip install 'paradigm-bench[search]'"
DEFAULT_STUDY_TIMEOUT_S = 3600.0
EXIT_STORAGE_LOST = 4  # the storage failed mid-study: what finished is kept


def add_parser(subparsers: Any, cell_options: Callable[[argparse.ArgumentParser], None]
               ) -> None:
    """The ``hpo`` sub-command: ``cell_options`` adds ``run``'s cell options."""
    p = subparsers.add_parser(
        "hpo", help="one Optuna study per paradigm: cost per trial, and whether they agree",
        conflict_handler="resolve")  # --workers counts study processes here
    cell_options(p)
    p.add_argument("--trials", type=int, required=True, help="trials per study")
    p.add_argument("--workers", type=int, nargs="+", default=[1], metavar="N",
                   help="study processes sharing one study; several values run one study "
                        "at each (trials per hour at 1, 2, ... workers)")
    p.add_argument("--loader-workers", type=int, default=0,
                   help="DataLoader worker processes of each trial")
    p.add_argument("--storage", metavar="URL",
                   help="a journal file path (one machine), or a database URL such as "
                        "postgresql://user@host/db (several machines); default: "
                        "OUT/optuna.journal")
    p.add_argument("--sampler", default="tpe", help=f"{', '.join(SAMPLERS)} (default tpe)")
    p.add_argument("--sampler-seed", type=int, default=0)
    p.add_argument("--pruner", default="median", help=f"{', '.join(PRUNERS)} (default median)")
    p.add_argument("--pruner-startup-trials", type=int, default=5,
                   help="trials before the median pruner prunes (default 5)")
    p.add_argument("--pruner-warmup-steps", type=int, default=0,
                   help="reported steps the median pruner waits for (default 0; a step-indexed "
                        "setting: docs/pages/hpo.md says where each integration counts from)")
    p.add_argument("--val-every", type=int, default=0,
                   help="validate and report every N optimizer steps (default: one epoch)")
    p.add_argument("--study-name", default="hpo", help="prefix of the studies' names")
    p.add_argument("--block", type=int, metavar="N",
                   help="trials per turn: the studies take turns in a seeded shuffled order, "
                        "N trials each (default two per worker)")
    p.add_argument("--aa", nargs="?", const="plain", metavar="PARADIGM",
                   help="A/A check: a second study of PARADIGM (default plain) taking its "
                        "turns like the others; it should read no difference")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"run folder (default {DEFAULT_OUT}; an existing one is resumed)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML page")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(timeout=DEFAULT_STUDY_TIMEOUT_S)  # here: per study process


def missing_packages() -> list[str]:
    """The packages hpo needs that are not installed (found without importing them)."""
    def present(name: str) -> bool:
        if name in sys.modules:  # optuna_integration's lazy module has no __spec__
            return True
        return importlib.util.find_spec(name) is not None

    return [name for name in NEEDS if not present(name)]


def specs_from_args(args: argparse.Namespace) -> list[StudySpec]:
    """The studies the command asks for, validated without importing torch."""

    missing = missing_packages()
    if missing:
        raise InputError(f"hpo needs {', '.join(missing)}, which is not installed: {INSTALL}")
    refused = [(args.repetitions != 1, "--repetitions"), (args.until_ci is not None,
               "--until-ci"), (args.attribution, "--attribution"), (args.nnodes != 1, "--nnodes")]
    for bad, flag in refused:
        if bad:
            raise InputError(f"{flag} does not apply to hpo: a study's trials are its "
                             "repetitions, each inside the study's process")
    if args.profile != ["minimal"]:
        raise InputError("hpo validates every N steps (a feature), which goes on top of the "
                         "minimal profile: use --profile minimal")
    if args.world_size != [1]:
        raise InputError("a trial runs inside the study's process: --world-size must be 1")
    if len(args.features) != 1:
        raise InputError("hpo takes one feature set (--features), the same for every trial")
    features = args.features[0]
    if args.val_every:  # otherwise 0: one epoch, resolved in the study process
        if "val_every" in features:
            raise InputError("give the validation interval once: --val-every or "
                             "--features val_every=N")
        features = f"val_every={args.val_every}" + ("" if features == "none" else
                                                    f",{features}")
    cell_args = argparse.Namespace(**{**vars(args), "workers": args.loader_workers,
                                      "features": [features], "no_phases": True})
    cells = cells_from_args(cell_args)
    validate_cells(cells)
    if args.block is not None and args.block < 1:
        raise InputError(f"--block must be at least 1, got {args.block}")
    out = []
    try:
        for workers in args.workers:
            for cell in cells:
                if args.threads is None:  # the cores, shared by the study's processes
                    cell = cell.replace(threads=max(1, (os.cpu_count() or 1) // workers))
                out.append(StudySpec(cell, args.trials, workers, args.sampler,
                                     args.sampler_seed, args.pruner,
                                     args.pruner_startup_trials, args.pruner_warmup_steps,
                                     prefix=args.study_name))
    except SpecError as exc:
        raise InputError(str(exc)) from None
    return out + aa_copies(out, args.aa)


def aa_copies(specs: list[StudySpec], paradigm: str | None) -> list[StudySpec]:
    """The A/A check's second study of ``paradigm`` in each comparison (none without --aa)."""

    if paradigm is None:
        return []
    copies = [s.replace(arm="aa") for s in specs if s.cell.paradigm.value == paradigm]
    if not copies:
        present = sorted({s.cell.paradigm.value for s in specs})
        raise InputError(f"--aa {paradigm}: no study of that paradigm to repeat (the "
                         f"studies are of {', '.join(present)})")
    return copies


def run(args: argparse.Namespace) -> int:
    """Validate, run every study (resuming those the storage holds), render, summarise."""
    from harness.search.storage import (
        StorageError,
        check,
        default_storage,
        refuse_sqlite_workers,
    )

    specs = specs_from_args(args)
    storage = args.storage or default_storage(args.out)
    try:
        refuse_sqlite_workers(storage, max(s.workers for s in specs))
        check(storage)
    except StorageError as exc:
        raise InputError(str(exc)) from None
    if args.batch_size is None:
        cells = with_default_batches([s.cell for s in specs])
        specs = [s.replace(cell=c) for s, c in zip(specs, cells)]
    check_batches([s.cell for s in specs])
    specs = [s.replace(storage=storage) for s in specs]
    print(f"hpo folder: {args.out}  ({len(specs)} studies of {args.trials} trials; storage "
          f"{_shown(storage)})", file=sys.stderr)
    return run_studies(specs, args.out, progress=not args.no_progress,
                       report=not args.no_report, block=args.block)


def run_studies(specs: list[StudySpec], out_dir: Path, progress: bool = True,
                report: bool = True, block: int | None = None) -> int:
    """Run validated studies (their storage filled in), then summarise and render; Ctrl-C
    keeps what finished, renders it and returns 130."""
    from harness.search.runner import StorageLost
    from harness.search.storage import redacted

    try:
        failed = execute(specs, out_dir, progress, block)
    except KeyboardInterrupt:
        print(f"\ninterrupted: every finished trial is kept in the storage; run the same "
              f"command to resume (results in {out_dir})", file=sys.stderr)
        _finish(specs, out_dir, report)
        return EXIT_INTERRUPTED
    except StorageLost as exc:
        print(f"\nthe study storage {redacted(specs[0].storage)} failed mid-study ({exc}): the "
              f"running trials are recorded failed, the finished ones kept (results in "
              f"{out_dir}); run the same command to resume once the storage is back",
              file=sys.stderr)
        _finish(specs, out_dir, report)
        return EXIT_STORAGE_LOST
    code = _finish(specs, out_dir, report)
    if failed:
        print(f"{len(failed)} of {len(specs)} studies stopped on a failed worker process "
              f"(above; logs in {out_dir}/logs)", file=sys.stderr)
        return code or 1
    return code


def run_suite_studies(specs: list[StudySpec], out_dir: Path, progress: bool = True,
                      report: bool = True) -> int:
    """A suite's ``[[hpo]]`` studies, after its cells: skipped, with the install command,
    where Optuna is missing (the cells' measurements stand on their own)."""
    from harness.search.storage import StorageError, check, default_storage

    missing = missing_packages()
    if missing:
        print(f"skipped {len(specs)} hpo studies: {', '.join(missing)} not installed: "
              f"{INSTALL}", file=sys.stderr)
        return 0
    storage = default_storage(out_dir)
    try:
        check(storage)
    except StorageError as exc:
        print(f"skipped {len(specs)} hpo studies: {exc}", file=sys.stderr)
        return 0
    return run_studies([s.replace(storage=storage) for s in specs], out_dir, progress, report)


def execute(specs: list[StudySpec], out_dir: Path, progress: bool = True,
            block: int | None = None) -> list[str]:
    """Run each comparison (the studies of one group) in the fair order, one comparison after
    another; its studies are snapshotted when it ends (or is interrupted). Returns the
    studies whose worker processes failed."""
    from harness.launch.runner import child_env
    from harness.search.results import snapshot
    from harness.search.runner import new_session, run_group

    session = new_session()
    groups: dict[str, list[StudySpec]] = {}
    for spec in specs:
        groups.setdefault(spec.group, []).append(spec)
    failed: list[str] = []
    for group in groups.values():
        env = child_env(group[0].cell)
        try:
            records = run_group(group, out_dir, session, env, progress, block)
            failed += [r["study"] for r in records if r.get("failed")]
        finally:
            for spec in group:
                snapshot(spec, out_dir)
    return failed


def _finish(specs: list[StudySpec], out_dir: Path, report: bool) -> int:
    from harness.search.analysis import print_summary
    from harness.search.results import load_studies, snapshot

    for spec in specs:
        try:
            snapshot(spec, out_dir)
        except Exception as exc:  # the storage may be what failed; keep the last snapshot
            from harness.search.storage import first_line

            print(f"could not refresh {spec.name} from the storage: "
                  f"{first_line(exc, spec.storage)}", file=sys.stderr)
    names = {s.name for s in specs}
    print_summary([s for s in load_studies(out_dir) if s["study"] in names])
    if not report:
        return 0
    from reports.search import render_search

    try:
        print(f"hpo report: {render_search(out_dir)}")
    except Exception:
        traceback.print_exc()
        print(f"the page could not be rendered (above); the studies are kept in "
              f"{out_dir}/studies", file=sys.stderr)
        return 3
    return 0


def _shown(url: str) -> str:
    from harness.search.storage import redacted

    return redacted(url)
