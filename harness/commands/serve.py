"""``python -m harness serve``: each paradigm's model behind a real HTTP endpoint, swept
open-loop over request rates against a p99 latency SLO, then the serving page.

    python -m harness serve --workload tabular --size tiny --rates 25 50 100 \\
        --duration 3 --slo-ms 50

Bad input (a missing package, an unknown path or paradigm, falling rates) exits 2 with one
line before anything starts; Ctrl-C stops every server and the generator, keeps what was
measured, renders the page and exits 130.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

from harness.config import Paradigm
from harness.serve.spec import INSTALL, ServePath, ServeSpec, SpecError, missing_packages

DEFAULT_OUT = Path("results") / "serve"
EXIT_INTERRUPTED = 130  # as harness.cli
PAGE = "serve.html"


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve", help="each paradigm's model behind an HTTP endpoint: the highest request "
                      "rate within a p99 latency SLO")
    p.add_argument("--workload", required=True, help="one workload name, module or .py file")
    p.add_argument("--size", default="tiny", help="workload size preset (default tiny)")
    p.add_argument("--paradigm", nargs="+", default=[m.value for m in Paradigm.frameworks()],
                   metavar="P")
    p.add_argument("--paths", nargs="+", default=[m.value for m in ServePath], metavar="PATH",
                   help=f"inference paths ({', '.join(m.value for m in ServePath)}; default "
                        "all; litserve serves the Lightning model only)")
    p.add_argument("--rates", nargs="+", type=float, required=True, metavar="RPS",
                   help="target request rates, rising; a sweep stops at the first over the SLO")
    p.add_argument("--duration", type=float, default=3.0, help="seconds per point")
    p.add_argument("--warmup", type=float, default=0.5,
                   help="seconds at the start of each point left out of its figures")
    p.add_argument("--slo-ms", type=float, required=True, help="the p99 latency promised")
    p.add_argument("--repetitions", type=int, default=2, help="sweeps per target")
    p.add_argument("--seed", type=int, default=0, help="weights and arrival schedule")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads in each server")
    p.add_argument("--rows", type=int, default=1, help="rows per request")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    p.add_argument("--no-report", action="store_true", help="skip the HTML page")
    p.add_argument("--no-progress", action="store_true")


def spec_from_args(args: argparse.Namespace) -> ServeSpec:
    """The comparison the command asks for, checked without importing torch."""
    from harness.commands.selection import InputError, check_workloads

    missing = missing_packages()
    if missing:
        raise InputError(f"serve needs {', '.join(missing)}, which is not installed: {INSTALL}")
    check_workloads([args.workload])
    try:
        return ServeSpec(args.workload, args.size, tuple(args.paradigm), tuple(args.paths),
                         tuple(args.rates), args.duration, args.warmup, slo_ms=args.slo_ms,
                         repetitions=args.repetitions, seed=args.seed, device=args.device,
                         threads=args.threads, rows=args.rows)
    except SpecError as exc:
        raise InputError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    if args.device == "cuda":
        import torch

        from harness.commands.selection import InputError

        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is visible here")
    print(f"serve folder: {args.out / spec.name}", file=sys.stderr)
    return run_specs([spec], args.out, not args.no_progress, not args.no_report)


def run_specs(specs: list[ServeSpec], out: Path, progress: bool = True, report: bool = True
              ) -> int:
    """Each comparison into ``out/<name>``, then the page; Ctrl-C keeps what was measured."""
    from harness.serve.sweep import record_unsupported
    from harness.serve.sweep import run as sweep

    code = 0
    try:
        for spec in specs:
            try:
                sweep(spec, out / spec.name, progress)
            except Exception as exc:  # one comparison's set-up failing stops no other
                traceback.print_exc()
                record_unsupported(spec, out / spec.name, f"{type(exc).__name__}: {exc}",
                                   status="error")
                code = 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: every server and the generator are stopped; what was measured "
              f"is kept in {out}", file=sys.stderr)
        code = EXIT_INTERRUPTED
    _summary(out)
    if report:
        code = _render(out) or code
    return code


def run_suite_serving(specs: list[ServeSpec], out: Path, progress: bool = True,
                      report: bool = True) -> int:
    """A suite's ``[[serve]]`` tables after its cells: where the serving packages are missing
    (the GPU host), each is recorded ``unsupported`` with the install command."""
    missing = missing_packages()
    if missing:
        from harness.serve.sweep import record_unsupported

        reason = f"serve needs {', '.join(missing)}, which is not installed: {INSTALL}"
        for spec in specs:
            record_unsupported(spec, out / spec.name, reason)
        print(f"serving skipped: {reason}", file=sys.stderr)
        return _render(out) if report else 0
    return run_specs(specs, out, progress, report)


def _summary(out: Path) -> None:
    from harness.serve.analysis import verdict
    from harness.serve.sweep import load_all

    for data in load_all(out):
        print(verdict(data))


def _render(out: Path) -> int:
    from reports.serve import render_serve

    try:
        print(f"serve report: {render_serve(out)}")
    except Exception:
        traceback.print_exc()
        print(f"the page could not be rendered (above); the records are kept in {out}",
              file=sys.stderr)
        return 3
    return 0
