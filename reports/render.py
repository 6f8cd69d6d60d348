"""Render a run folder (or two) into one self-contained HTML file, plus CSV exports.

``render_run(run_dir)`` writes ``report.html``, ``records.csv`` and ``cells.csv``;
``render_compare(before, after)`` writes ``compare.html``. The pages load nothing: the CSS is
inlined, plots are inline SVG, and there is no script. Jinja2 autoescapes every value, so names,
messages and tracebacks from the records show as text whatever they contain.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from harness.results import write_text_atomic
from reports import compare as compare_ctx
from reports import (
    compiled,
    context,
    efficiency,
    export,
    features,
    framework,
    glance,
    meta,
    metrics,
    real_models,
    scaling,
    verdict,
)
from reports.compare import MATCH_KEYS
from reports.groups import build_groups
from reports.load import Run, load


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment: autoescape on for every template, undefined names fail."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,  # every template, whatever its file name ends with
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def run_context(run: Run, csv_links: dict[str, str]) -> dict[str, Any]:
    """Everything report.html.j2 shows, formatted; ``csv_links`` are hrefs to the exports."""
    groups = build_groups(run.cells, run.frame)
    measured = [g for g in groups if len(g.cells)]
    profiled = run.profiled if run.profiled is not None else pd.DataFrame()
    stops = meta.stop_texts(run.manifest)
    memory = context.memory_columns(measured)
    fixed = context.fixed_costs(run.ok)
    header = meta.header(run.manifest, run.records, run.unreadable, run.path.name,
                         run.manifest_problem)
    if run.untimed:
        header["warnings"].append(f"{run.untimed} successful record(s) carry no step time; "
                                  "they are left out of the statistics.")
    return {
        "title": header["suite"],
        "sections": context.SECTIONS,
        "header": header,
        "summary": context.summary_numbers(fixed),
        "verdicts": context.verdicts(groups),
        "real_models": real_models.rows(groups),  # the Verdict's real-model table
        "verdict_picture": verdict.picture(verdict.rows_for(measured)),
        "glance": glance.context(groups, run.frame, header),
        "apart": [{"label": r.label, "paradigm": r.paradigm, "why": r.why_none}
                  for r in verdict.without_interval(verdict.rows_for(groups))],
        "weakened": weakened(groups, header.get("weakened") or {}),
        "groups": [context.group_rows(g, list(memory), stops) for g in measured],
        "framework": [{"id": g.id, "label": g.label, "rows": framework.framework_rows(g),
                       "loader": framework.loader_note(g),
                       "attribution": framework.attribution_block(g, profiled)}
                      for g in measured],
        "calibration": framework.calibration_rows(run.frame[run.frame["status"] == "ok"]
                                                  if len(run.frame) else run.frame, profiled),
        "features": features.section(run.frame),
        "metrics": metrics.section(run.frame),
        "compiled": compiled.section(run.cells, run.frame),
        "memory_columns": list(memory.values()),
        "efficiency": efficiency.throughput_table(measured),
        "amp": scaling.amp(run.cells),
        "scaling": scaling.ddp(run.cells),
        "export": export.section(run.records),
        "cell_warnings": meta.cell_warnings(run.records),
        "environment": meta.environment(run.environment, run.records),
        "failures": meta.failures(run.records, run.unreadable),
        "csv": csv_links,
    }


def weakened(groups: list[Any], cut: dict[str, Any]) -> list[str]:
    """The groups whose readings rest on fewer repetitions than their suite asked for (a
    budget's cuts: ``RunPlan.weakened`` in the manifest), in words."""
    out = []
    for g in groups:
        keys = set(g.records["key"]) if len(g.records) and "key" in g.records else set()
        hit = [cut[k] for k in keys if k in cut]
        ran = int(g.cells["n"].max()) if len(g.cells) and "n" in g.cells else 0
        if hit:
            asked, planned = max(int(h[0]) for h in hit), max(int(h[1]) for h in hit)
            if ran < asked:  # a plan fitted again after its first round may have restored it
                out.append(f"{g.label}: {max(planned, ran)} repetitions of the {asked} "
                           "asked for")
    return out


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Flatten what CSV cannot hold: (lo, hi) intervals to two columns, lists to JSON text."""
    out = frame.copy()
    for col in list(out.columns):
        values = out[col].tolist()
        if any(isinstance(v, tuple) for v in values):
            idx = out.columns.get_loc(col)
            out.insert(idx + 1, f"{col}_lo", [v[0] if isinstance(v, tuple) else math.nan
                                             for v in values])
            out.insert(idx + 2, f"{col}_hi", [v[1] if isinstance(v, tuple) else math.nan
                                             for v in values])
            out = out.drop(columns=col)
        elif any(isinstance(v, list) for v in values):
            out[col] = [json.dumps(v) if isinstance(v, list) else v for v in values]
    return out


def write_csv(run: Run, folder: Path) -> dict[str, Path]:
    """``records.csv`` (one row per record, no loss curves) and ``cells.csv`` in ``folder``."""
    paths = {"records": folder / "records.csv", "cells": folder / "cells.csv"}
    records = run.frame.drop(columns=["losses", "window_step_s", "events", "attribution",
                                      "calibration"], errors="ignore")
    write_text_atomic(paths["records"], _csv_ready(records).to_csv(index=False))
    # No successful cell: still a valid CSV (header only) so that readers get an empty table.
    cells = run.cells if len(run.cells.columns) else pd.DataFrame(columns=MATCH_KEYS)
    write_text_atomic(paths["cells"], _csv_ready(cells).to_csv(index=False))
    return paths


def render_run(run_dir: Path, output: Path | None = None,
               notices: list[str] | None = None, summary: list[str] | None = None) -> Path:
    """Write the run's HTML report (default ``run_dir/report.html``) and its CSV exports.

    The CSV files go into the run folder, beside its records; the page links to them
    relative to wherever the page itself is written. Returns the HTML path. What the page
    had to leave out (unreadable records, an unreadable manifest) is appended to
    ``notices``, so that a terminal can say so too; the Verdict at a glance, as text, to
    ``summary``.
    """
    run_dir = Path(run_dir)
    output = Path(output) if output else run_dir / "report.html"
    run = load(run_dir)
    if notices is not None:
        notices += [*run.unreadable, *filter(None, [run.manifest_problem])]
    csv = write_csv(run, run_dir)
    ctx = run_context(run, {k: os.path.relpath(p, output.parent) for k, p in csv.items()})
    if summary is not None:
        summary.append(glance.text_of(ctx["glance"]))
    search_page = run_dir / "hpo" / "hpo.html"  # a suite's [[hpo]] studies, if it had any
    if search_page.exists():
        ctx["search_page"] = os.path.relpath(search_page, output.parent)
    serve_page = run_dir / "serve" / "serve.html"  # a suite's [[serve]] tables, if any
    if serve_page.exists():
        from reports.serve import verdict_lines

        ctx["serve_page"] = os.path.relpath(serve_page, output.parent)
        ctx["serve_verdicts"] = verdict_lines(run_dir / "serve")
    write_text_atomic(output, environment().get_template("report.html.j2").render(ctx))
    return output


def render_compare(before: Path, after: Path, output: Path | None = None) -> Path:
    """Write a cell-by-cell comparison of two runs (default ``after/compare.html``)."""
    before, after = Path(before), Path(after)
    output = Path(output) if output else after / "compare.html"
    ctx = compare_ctx.compare_context(load(before), load(after))
    write_text_atomic(output, environment().get_template("compare.html.j2").render(ctx))
    return output


def render_versions(run_dirs: list[Path], output: Path, missing: list[str] | None = None,
                    allow_mixed: bool = False) -> Path:
    """Write the by-release page of several versions run folders (``nox -s versions``);
    ``missing`` names expected releases that left no folder. Folders measured with a
    different harness commit, dirty flag or torch raise ``versions.MixedRuns`` unless
    ``allow_mixed`` (then the page names the difference)."""
    from reports import versions

    runs = [load(Path(d)) for d in run_dirs]
    problems = versions.provenance_problems(runs)
    if problems and not allow_mixed:
        raise versions.MixedRuns("; ".join(problems))
    ctx = versions.versions_context(runs, missing or [])
    write_text_atomic(output, environment().get_template("versions.html.j2").render(ctx))
    return output
