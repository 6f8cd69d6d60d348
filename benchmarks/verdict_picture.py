"""The Verdict picture of a stored run as a PNG, for the README and the manual: the report's
own figure (``reports.verdict.figure``), drawn from the run's records, with a caption line
naming the run, the suite, the CPU, torch and the date, so the picture never loses its machine.

    python benchmarks/verdict_picture.py RUN_DIR                        # docs/pages/images/
    python benchmarks/verdict_picture.py RUN_DIR --out /tmp/verdict.png

The picture in the repository was made from a real run of the smoke suite at six repetitions
(``python -m harness suite benchmarks/suites/smoke.toml --repetitions 6 --out RUN_DIR``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import matplotlib as mpl

from reports import plots, verdict
from reports.groups import build_groups
from reports.load import Run, load

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "pages" / "images" / "verdict.png"


def caption(run: Run) -> str:
    """What the picture is of: suite, run folder name, CPU, torch, the run's start date."""
    env: dict[str, Any] = run.environment
    packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
    versions = ", ".join(f"{name} {packages.get(name) or '?'}" for name in
                         ("torch", "pytorch-lightning", "pytorch-ignite"))
    cores = f", {env['cpu_count']} logical CPUs" if env.get("cpu_count") else ""
    started = str(run.manifest.get("started_at") or "")[:10] or "date unknown"
    suite = run.manifest.get("suite") or "run"
    return (f"{suite} suite, run {run.path.name}, {env.get('cpu') or 'unknown CPU'}{cores}, "
            f"{versions}, {started}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder (cells/ and manifest.json)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the PNG to write")
    parser.add_argument("--dpi", type=int, default=150)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.run / "cells").is_dir():
        print(f"{args.run} is not a run folder (no cells/)", file=sys.stderr)
        return 2
    run = load(args.run)
    measured = [g for g in build_groups(run.cells, run.frame) if len(g.cells)]
    fig = verdict.figure(verdict.rows_for(measured))
    if fig is None:
        print(f"{args.run} has no verdict row with a figure", file=sys.stderr)
        return 2
    with mpl.rc_context(plots.STYLE):
        fig.supxlabel(caption(run), fontsize=7, color="#64748b")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out, format="png", dpi=args.dpi, metadata={"Software": None})
    print(f"wrote {args.out}: {caption(run)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
