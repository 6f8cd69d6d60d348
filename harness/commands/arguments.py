"""The command line's arguments: ``build_parser`` for ``python -m harness`` (``harness.cli``
reads them, checks them and runs what they ask)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from harness.commands import gpu_check, hpo
from harness.commands.selection import choices
from harness.config import (
    CompileMode,
    CompileStyle,
    DataPath,
    Paradigm,
    Precision,
    Profile,
    Scenario,
)
from harness.features import Features


def _add_cell_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workload", nargs="+", required=True,
                   help="workload names, modules or .py files (MODULE:CLASS to pick a class)")
    p.add_argument("--paradigm", nargs="+", default=choices(Paradigm), metavar="P",
                   help=f"paradigms ({', '.join(choices(Paradigm))}; default all)")
    p.add_argument("--precision", nargs="+", default=["fp32"], metavar="P",
                   help=f"precisions ({', '.join(choices(Precision))})")
    p.add_argument("--profile", nargs="+", default=["minimal"], metavar="P",
                   help=f"profiles ({', '.join(choices(Profile))})")
    p.add_argument("--size", default="default", help="workload size preset (tiny, default, ...)")
    p.add_argument("--batch-size", type=int, help="per-process batch (default: the workload's)")
    p.add_argument("--world-size", type=int, nargs="+", default=[1], metavar="N")
    p.add_argument("--steps", type=int, default=100, help="measured steps after warm-up")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--window", type=int, default=10, help="steps per timing window")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, help="CPU threads per process (default cores/world)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--data", choices=choices(DataPath), default=DataPath.HOST.value,
                   help="batches from host memory, or a TensorDataset held on the device")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per cell process")
    p.add_argument("--nnodes", type=int, default=1,
                   help="machines in a multi-node cell (world size counts all processes)")
    settings = ", ".join(f.name for f in dataclasses.fields(Features))
    p.add_argument("--features", nargs="+", default=["none"], metavar="F",
                   help="feature sets, one cell each: 'none' or NAME=VALUE,... (e.g. "
                        f"val_every=20,log=csv+tensorboard); NAME is one of {settings}; "
                        "`python -m harness list` says what each does")
    p.add_argument("--compile", nargs="+", default=[CompileMode.NONE.value], metavar="MODE",
                   help=f"torch.compile modes, one cell each ({', '.join(choices(CompileMode))}"
                        "; default none: eager)")
    p.add_argument("--compile-style", default=CompileStyle.MODEL.value,
                   choices=choices(CompileStyle),
                   help="the compiled region: the workload's model in all three (fair), or each "
                        "framework's documented way (Lightning: the whole LightningModule)")
    p.add_argument("--no-phases", action="store_true",
                   help="turn the forward/backward/optimizer probes off")
    p.add_argument("--scenario", nargs="+", default=[Scenario.TRAIN.value], metavar="S",
                   help=f"what each cell measures ({', '.join(choices(Scenario))}; default "
                        "train; predict-<runtime> needs --paradigm plain)")
    p.add_argument("--repetitions", type=int, default=1,
                   help="repetitions per cell (the most, with --until-ci)")
    p.add_argument("--until-ci", type=float, metavar="PCT",
                   help="stop a cell group once every overhead's interval is within PCT%% of "
                        "the plain step time (intervals at the per-look level that keeps 95%% "
                        "over all the looks; at least 6 repetitions)")
    p.add_argument("--attribution", action="store_true",
                   help="one extra profiling repetition per cell: where framework time goes")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="run folder (default results/<name>-<time>); "
                   "an existing folder is resumed")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--order-seed", type=int, metavar="N",
                   help="seed of the paradigms' shuffled order in each round (default: a new "
                   "run draws one and records it; a resumed run keeps its own; multi-node: 0)")
    p.add_argument("--launch", choices=("fork", "spawn"),
                   help="how a single-process cell process starts: forked by a fork server that "
                   "has imported torch once (default), or spawned, importing torch itself "
                   "(PARADIGM_BENCH_LAUNCH; world size > 1 is always spawned by torchrun)")
    p.add_argument("--node-rank", type=int, default=0, help="this machine's rank (multi-node)")
    p.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                   help="node 0's address for torchrun's c10d rendezvous (multi-node)")
    p.add_argument("--plan", action="store_true",
                   help="print the cells, processes and estimated wall time; run nothing")
    p.add_argument("--budget", metavar="MINUTES",
                   help="fit the run into this many minutes by lowering repetitions, table by "
                        "table (a suite's `priority` ranks them), never below what a table's "
                        "statistic needs; overrides a suite's `budget`")
    p.add_argument("--rigorous", action="store_true",
                   help="lift any budget: every table's full repetitions")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="Measure what Lightning and Ignite cost against a plain PyTorch loop.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run cells given on the command line and print a table")
    _add_cell_options(run)
    _add_run_options(run)
    suite = sub.add_parser("suite", help="run a suite file (TOML) and write a report")
    suite.add_argument("file", type=Path)
    suite.add_argument("--workload", nargs="+", help="only these workloads")
    suite.add_argument("--paradigm", nargs="+", help="only these paradigms")
    suite.add_argument("--repetitions", type=int, help="override the suite's repetitions")
    suite.add_argument("--device", choices=["cpu", "cuda"], help="override the suite's device")
    _add_run_options(suite)
    report = sub.add_parser("report", help="render the HTML report of a stored run")
    report.add_argument("run_dir", type=Path)
    report.add_argument("-o", "--output", type=Path, help="default RUN_DIR/report.html")
    compare = sub.add_parser("compare", help="compare two runs cell by cell")
    compare.add_argument("before", type=Path)
    compare.add_argument("after", type=Path)
    compare.add_argument("-o", "--output", type=Path, help="default AFTER/compare.html")
    versions = sub.add_parser("versions", help="compare framework releases, one run folder each "
                              "(what `nox -s versions` writes)")
    versions.add_argument("run_dirs", type=Path, nargs="+")
    versions.add_argument("-o", "--output", type=Path, required=True)
    versions.add_argument("--missing", nargs="*", default=[], metavar="RELEASE",
                          help="expected releases that left no run folder (named on the page)")
    versions.add_argument("--allow-mixed", action="store_true",
                          help="compare folders measured with a different harness commit, "
                               "dirty flag or torch (refused otherwise; the page names it)")
    sub.add_parser("list", help="list workloads, paradigms, precisions, profiles and features")
    gpu_check.add_parser(sub)
    hpo.add_parser(sub, _add_cell_options)
    return parser
