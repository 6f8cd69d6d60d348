"""The terminal summary of a run: one block per cell group, one line per paradigm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analyse import formatting as fmt
from harness.analyse.analysis import (
    GROUP_KEYS,
    cells_frame,
    plan_levels,
    records_frame,
    training_records,
)
from harness.analyse.scenario_table import format_scenarios
from harness.results import load_run

COLUMNS = ["paradigm", "mean step", "95% CI", "overhead vs plain", "overhead CI",
           "framework/step", "vs plain (CI)", "throughput", "import", "1st step", "spawn→1st",
           "peak RSS", "parity"]

# Printed once under the tables: the median window hides periodic work (checkpoints, logger
# flushes), so the headline is the mean step, and a terminal reader must know which it is.
LEGEND = ("mean step: measured time / measured steps of a repetition, median over repetitions "
          "(the report shows the median window beside it); overhead: median of the paired "
          "per-repetition differences of mean steps. A group that repeated until its interval "
          "was tight (--until-ci) gives its intervals at its plan's per-look level, which "
          "keeps 95% over all its looks.")


def _line(row: pd.Series) -> list[str]:
    has_overhead = "overhead_s" in row and pd.notna(row.get("overhead_s"))
    overhead = (f"{fmt.duration(row['overhead_s'], True)} ({fmt.percent(row['overhead_frac'])})"
                if has_overhead else "—")
    flag = " (unstable)" if row["unstable"] else ""
    fw, excess = row.get("framework_s"), row.get("framework_excess_s")
    has_excess = excess is not None and pd.notna(excess)
    return [
        row["paradigm"],
        fmt.duration(row["step_time_s"]) + flag,
        fmt.interval(row["step_ci"]),
        overhead,
        fmt.interval(row["overhead_ci"], True) if has_overhead else "",
        fmt.duration(fw),
        (f"{fmt.duration(excess, True)} {fmt.interval(row.get('framework_excess_ci'), True)}"
         if has_excess else ""),
        fmt.rate(row["items_per_s"], row["item_name"] or "items"),
        fmt.duration(row["import_framework_s"]),
        fmt.duration(row["to_first_step_s"]),
        fmt.duration(row["spawn_to_first_step_s"]),
        fmt.nbytes(row["host_peak_rss_bytes"]),
        row["parity"],
    ]


def format_table(records: pd.DataFrame, levels: dict[tuple[Any, ...], float] | None = None
                 ) -> str:
    if records.empty:  # interrupted before the first record: nothing to tabulate
        return "no records yet"
    cells = cells_frame(records, levels)
    out: list[str] = []
    if not cells.empty:
        for _, g in cells.groupby(GROUP_KEYS, sort=False, dropna=False):
            first = g.iloc[0]
            features = "" if first["features"] == "none" else f" + {first['features']}"
            data = ", data on the device" if first["data"] == "device" else ""
            if first.get("compile", "none") != "none":
                data += f", compile {first['compile']} ({first['compile_style']} region)"
            out.append(f"\n{first['workload']} ({first['size']}), {first['precision']}, "
                       f"{first['profile']}{features}, world {first['world_size']}, batch "
                       f"{first['batch_size']}, {first['device']} x{first['threads']} threads"
                       f"{data}, {first['steps']} steps, {first['n']} repetition(s)")
            rows = [COLUMNS] + [_line(r) for _, r in g.iterrows()]
            widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
            out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        out.append("\n" + LEGEND)
    failed = records[records["status"] != "ok"]
    if len(failed):
        out.append("\nnot measured:")
        for _, r in failed.iterrows():
            out.append(f"  [{r['status']}] {r['key']} r{r['repetition']}: {r['message']}")
    return "\n".join(out)


def print_run_table(run_dir: Path) -> None:
    records = load_run(run_dir)
    try:  # the adaptive groups' interval levels; without a manifest every group is at 95%
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    levels = plan_levels(manifest) if isinstance(manifest, dict) else {}
    scenarios = format_scenarios(records)  # export and predict cells, if the run has any
    if training_records(records) or not scenarios:
        print(format_table(records_frame(records), levels))
    if scenarios:
        print(scenarios)
