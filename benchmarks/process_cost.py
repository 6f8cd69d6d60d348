"""Where a cell process's time goes, from spawn to exit, for both launch paths.

    python benchmarks/process_cost.py --out /tmp/process-cost [--repetitions 2]

Runs a tiny cell of each paradigm through the real runner (``runner.run_cell``), interleaved,
by the fork server and by spawning (``PARADIGM_BENCH_LAUNCH``), and prints the median of each
phase over the processes of each path as a markdown table, from the ``lifecycle`` marks every
record carries (seconds since the spawn, or since the fork request). "Harness" is everything
but the measured phases (the framework import, construction to the first step, the steps, and
the framework's own return from training): the cost the harness adds to each process.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from harness.config import CellConfig, Paradigm
from harness.launch.process import FORK, LAUNCH_ENV, SPAWN, close_servers
from harness.launch.runner import run_cell
from harness.measure.environment import capture_host

# (row, from mark, to mark); a mark a path lacks (a forked child has no interpreter start
# of its own) makes the phase 0 there
PHASES = [
    ("interpreter start", "", "interpreter_started"),
    ("torch import", "interpreter_started", "torch_imported"),
    ("harness import", "torch_imported", "harness_imported"),
    ("fork", "", "forked"),
    ("server's pages made the child's own", "forked", "pages_mapped"),
    ("config read", ("harness_imported", "pages_mapped"), "config_read"),
    ("harness import (prepare's)", "config_read", "harness_ready"),
    ("NVML set-up", "harness_ready", "nvml_ready"),
    ("threads and device set-up", "nvml_ready", "device_ready"),
    ("workload build", "device_ready", "workload_built"),
    ("dataset build", "workload_built", "dataset_built"),
    ("device copy", "dataset_built", "data_placed"),
    ("framework import (measured)", "data_placed", "framework_imported"),
    ("probes and run context", "framework_imported", "prepared"),
    ("construction to first step (measured)", "prepared", "first_step"),
    ("warm-up (measured)", "first_step", "warmed_up"),
    ("measured steps", "warmed_up", "last_step"),
    ("framework's return from training", "last_step", "trained"),
    ("FLOP count", "trained", "flops_counted"),
    ("measurements gathered", "flops_counted", "measured"),
    ("record writing", "measured", "rank_written"),
    ("teardown", "rank_written", "exited"),
]
MEASURED = {"framework import (measured)", "construction to first step (measured)",
            "warm-up (measured)", "measured steps", "framework's return from training"}


def _cell(paradigm: Paradigm, steps: int) -> CellConfig:
    return CellConfig.from_dict({"workload": "linear", "paradigm": paradigm.value,
                                 "size": "tiny", "batch_size": 16, "steps": steps, "warmup": 2,
                                 "window": 4, "threads": 1, "timeout_s": 300})


def phases_of(marks: dict[str, float]) -> dict[str, float]:
    """Each phase's seconds in one process, from its lifecycle marks."""
    out = {}
    for name, start, end in PHASES:
        starts = start if isinstance(start, tuple) else (start,)
        begin = next((marks[s] for s in starts if s in marks), 0.0 if "" in starts else None)
        out[name] = marks[end] - begin if end in marks and begin is not None else 0.0
    out["harness (all but the measured)"] = marks["exited"] - sum(out[m] for m in MEASURED)
    out["spawn to exit"] = marks["exited"]
    return out


def measure(out: Path, repetitions: int, steps: int) -> dict[str, list[dict[str, Any]]]:
    """Records of every paradigm's tiny cell, ``repetitions`` times per path, interleaved
    (the path that goes first alternates: the first import of a framework finds a cold page
    cache)."""
    environment = capture_host()
    records: dict[str, list[dict[str, Any]]] = {FORK: [], SPAWN: []}
    for rep in range(repetitions):
        for path in (FORK, SPAWN) if rep % 2 == 0 else (SPAWN, FORK):
            os.environ[LAUNCH_ENV] = path
            for paradigm in Paradigm:
                record = run_cell(_cell(paradigm, steps), out / path, rep, environment)
                if record["status"] != "ok":
                    sys.exit(f"{paradigm.value} by {path}: {record['status']}: "
                             f"{record.get('message')}")
                records[path].append(record)
                print(f"{path} {paradigm.value} r{rep}: {record['lifecycle']['exited']:.2f} s",
                      file=sys.stderr)
    close_servers()
    return records


def table(records: dict[str, list[dict[str, Any]]]) -> str:
    """The median of each phase per path (seconds), markdown."""
    medians = {}
    for path, recs in records.items():
        rows = [phases_of(r["lifecycle"]) for r in recs]
        medians[path] = {name: statistics.median(row[name] for row in rows) for name in rows[0]}
    counts = {path: len(recs) for path, recs in records.items()}
    lines = [f"| phase | spawn (s, n={counts[SPAWN]}) | fork (s, n={counts[FORK]}) |",
             "|---|---:|---:|"]
    for name in medians[SPAWN]:
        lines.append(f"| {name} | {medians[SPAWN][name]:.3f} | {medians[FORK][name]:.3f} |")
    preload = statistics.median(r["measurements"]["startup"]["preloaded_s"]
                                for r in records[FORK])
    lines.append(f"\nThe fork server's own start (interpreter, torch, harness), once per run: "
                 f"{preload:.2f} s.")
    return "\n".join(lines)


FIGURES = [("framework import (s)", ("startup", "import_framework_s"), 1),
           ("construction to first step (s)", ("startup", "to_first_step_s"), 1),
           ("spawn to first step (s)", ("startup", "spawn_to_first_step_s"), 1),
           ("peak RSS (MiB)", ("memory", "host_peak_rss_bytes"), 2**20)]


def figures(records: dict[str, list[dict[str, Any]]]) -> str:
    """Each paradigm's measured start-up figures and peak RSS, per path (medians), markdown:
    what must mean the same whichever way the process started."""
    lines = ["| paradigm | path | " + " | ".join(name for name, _, _ in FIGURES) + " |",
             "|---|---|" + "---:|" * len(FIGURES)]
    for paradigm in Paradigm:
        ms = {path: [r["measurements"] for r in records[path]
                     if r["config"]["paradigm"] == paradigm.value] for path in (SPAWN, FORK)}
        rows = {path: [statistics.median(m[group][key] for m in ms[path]) / unit
                       for _, (group, key), unit in FIGURES] for path in (SPAWN, FORK)}
        rows["fork - spawn, paired"] = [  # repetition by repetition, then the median
            statistics.median(f[group][key] / unit - s[group][key] / unit
                              for f, s in zip(ms[FORK], ms[SPAWN]))
            for _, (group, key), unit in FIGURES]
        for path, cells in rows.items():
            lines.append(f"| {paradigm.value} | {path} | "
                         + " | ".join(f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}" for v in cells)
                         + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a folder for the runs")
    parser.add_argument("--repetitions", type=int, default=2,
                        help="processes per paradigm and path (default 2: 6 per path)")
    parser.add_argument("--steps", type=int, default=20, help="measured steps per cell")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    load_before = os.getloadavg()
    records = measure(args.out, args.repetitions, args.steps)
    host = capture_host()
    print(f"{host['cpu']}, {host['cpu_count']} cores, Python {platform.python_version()}, "
          f"torch {host['packages']['torch']}; load average "
          f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print(table(records))
    print()
    print(figures(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
