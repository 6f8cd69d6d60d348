"""The HPO page: ``<run>/hpo.html`` from the study results files (``<run>/studies/*.json``).

Per study group (the paradigms' studies of one comparison): trials per hour, the per-trial
time split as a picture, memory across trials, the trajectories side by side, the per-trial
overhead against the plain loop, and the parity verdict with exactly how each pruning
integration's reports differ from the plain loop's. Then trials per hour at each number of
workers. Every figure comes from ``harness.search.analysis``; nothing here measures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from harness.analyse import formatting as fmt
from harness.results import write_text_atomic
from harness.search import analysis as an
from harness.search.clock import PARTS
from harness.search.results import load_studies
from reports import search_plots

STATE_ORDER = ("complete", "pruned", "failed", "interrupted", "running")
# Where each paradigm's pruning integration takes the step it reports at (docs/pages/hpo.md).
STEP_RULES = {"plain": "the optimizer step (by hand)",
              "lightning": "current_epoch, 0-based (the Lightning callback)",
              "ignite": "trainer.state.epoch, 1-based (PyTorchIgnitePruningHandler)"}


def _key(text: str) -> str:
    return "k" + re.sub(r"[^A-Za-z0-9_-]", "-", text)


def _rate(per_hour: float) -> str:
    return "—" if per_hour != per_hour else f"{per_hour:,.0f}"


def study_row(study: an.Study, members: Mapping[str, an.Study]) -> dict[str, Any]:
    c = an.counts(study)
    medians = an.part_medians(study)
    growth = an.rss_growth(study)
    process: dict[str, Any] = next(
        (p for p in study["processes"] if p.get("kind") == "process"), {})
    name = an.entry(study)
    row = {"paradigm": name, "study": study["study"],
           "workers": study["spec"]["workers"],
           "counts": " / ".join(f"{c[s]} {s}" for s in STATE_ORDER if c[s]),
           "startup": fmt.duration(an.startup_s(study)), "wall": fmt.duration(an.wall_s(study)),
           "per_hour": _rate(an.trials_per_hour(study)),
           "per_hour_trials": _rate(an.trials_per_hour_of_trials(study)),
           "median_trial": fmt.duration(medians["wall"]),
           "import": fmt.duration(process.get("import_framework_s")),
           "growth": "—" if growth is None else f"{fmt.nbytes(growth)}/trial",
           "overhead": "baseline", "overhead_ci": "", "pairs": "", "parity": None, "aa": ""}
    base = an.reference(name, members)
    if base is not None:
        ov = an.overhead_vs(study, base)
        row.update(overhead=fmt.duration(ov.seconds, signed=True),
                   overhead_ci=fmt.interval(ov.ci, signed=True),
                   pairs=f"{ov.n}" if ov.paired else f"{ov.n} unpaired",
                   parity=an.parity(study, base),
                   aa=an.aa_verdict(ov) if name.endswith("-aa") else "")
    return row


def _reports(study: an.Study) -> dict[int, str]:
    return {t["number"]: "  ".join(f"{r['step']}: {r['value']!r}" + ("" if r["stored"]
                                                                       else " (ignored)")
                                   for r in t.get("reports") or [])
            for t in study["trials"]}


def parity_block(members: Mapping[str, an.Study]) -> dict[str, Any]:
    """Each paradigm against the plain loop, and every trial's reports side by side."""
    plain = members.get("plain")
    names = list(members)
    reports = {n: _reports(s) for n, s in members.items()}
    trials = sorted({t["number"] for s in members.values() for t in s["trials"]})
    by_number = {n: {t["number"]: t for t in s["trials"]} for n, s in members.items()}
    rows = [{"number": k,
             "cells": [{"state": (by_number[n].get(k) or {}).get("state", "—").lower(),
                        "params": (by_number[n].get(k) or {}).get("params", {}),
                        "value": repr((by_number[n].get(k) or {}).get("value")),
                        "reports": reports[n].get(k, "")} for n in names]} for k in trials]
    checks = [an.parity(s, plain) for n, s in members.items() if plain and n != "plain"]
    return {"paradigms": names, "rows": rows, "rules": [(n, STEP_RULES.get(n, "")) for n in
                                                       names], "checks": checks}


def failures(members: Mapping[str, an.Study]) -> list[dict[str, Any]]:
    return [{"paradigm": n, "number": t["number"], "type": t.get("error_type") or "",
             "message": t.get("error") or ("interrupted (Ctrl-C)" if t["interrupted"] else
                                           "the objective's value was not a number")}
            for n, s in members.items() for t in s["trials"]
            if t["state"] == "FAIL" or t["interrupted"]]


def group_block(group: str, members: Mapping[str, an.Study]) -> dict[str, Any]:
    first = next(iter(members.values()))
    spec = first["spec"]
    cell = spec["cell"]
    key = _key(group)
    return {
        "id": key, "label": group,
        "what": (f"{cell['workload']} ({cell['size']}), {cell['precision']}, batch "
                 f"{cell['batch_size']}, {cell['warmup'] + cell['steps']} steps per trial, "
                 f"{spec['trials']} trials, {spec['workers']} worker(s), sampler "
                 f"{spec['sampler']} (seed {spec['sampler_seed']}), pruner {spec['pruner']}"
                 f" (startup {spec['pruner_startup_trials']}, warm-up steps "
                 f"{spec['pruner_warmup_steps']}), storage {spec['storage']}"),
        "rows": [study_row(s, members) for s in members.values()],
        "split_rows": [{"paradigm": n, "parts": [fmt.duration(an.part_medians(s)[p])
                                                 for p in PARTS]}
                       for n, s in members.items()],
        # Markup: matplotlib has XML-escaped every text in the SVG (see reports.plots)
        "split": Markup(search_plots.time_split(
            f"{key}-split", "Where a trial's time goes",
            {n: an.part_medians(s) for n, s in members.items()})),
        "memory": Markup(search_plots.memory(
            f"{key}-rss", "Memory across trials",
            {n: an.rss_series(s) for n, s in members.items()})),
        "trajectories": Markup(search_plots.trajectories(
            f"{key}-traj", "Trajectories", {n: s["trials"] for n, s in members.items()})),
        "parity": parity_block(members),
        "failures": failures(members),
    }


def scaling_rows(studies: Sequence[an.Study]) -> list[dict[str, Any]]:
    """Trials per hour at each number of workers, per family and paradigm."""
    table: dict[tuple[str, str], dict[int, float]] = {}
    for s in studies:
        family = s["group"].rsplit("_w", 1)[0]
        table.setdefault((family, an.entry(s)), {})[s["spec"]["workers"]] = \
            an.trials_per_hour(s)
    workers = sorted({w for v in table.values() for w in v})
    return [{"family": f, "paradigm": p, "rates": [_rate(v.get(w, float("nan")))
                                                   for w in workers], "workers": workers}
            for (f, p), v in table.items() if len(v) > 1 or len(workers) > 1]


def search_context(run_dir: Path) -> dict[str, Any]:
    studies = load_studies(run_dir)
    groups = an.by_group(studies)
    env = studies[0]["environment"] if studies else {}
    return {"title": f"{Path(run_dir).name} · hyper-parameter search",
            "run_name": Path(run_dir).name, "parts": PARTS,
            "groups": [group_block(g, m) for g, m in groups.items()],
            "scaling": scaling_rows(studies),
            "environment": _environment(env) if env else None}


def _environment(env: Mapping[str, Any]) -> dict[str, Any]:
    """What machine and software the studies ran on (versions of Optuna included)."""
    host = [(k, str(env[k])) for k in ("python", "platform", "hostname", "cpu", "cpu_count")
            if env.get(k) is not None]
    dirty = env.get("git_dirty")
    return {"git_commit": env.get("git_commit") or "unknown",
            "git_dirty": "uncommitted changes" if dirty else "clean" if dirty is False
            else "unknown", "git_dirty_class": "warn" if dirty else "ok",
            "host": host, "packages": [(k, str(v)) for k, v in
                                       sorted((env.get("packages") or {}).items())]}


def _templates() -> jinja2.Environment:
    """reports.render's template settings (autoescape everywhere, undefined names fail),
    without importing the run report's modules (pandas) for this page."""
    return jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render_search(run_dir: Path, output: Path | None = None) -> Path:
    """Write the HPO page of ``run_dir`` (default ``run_dir/hpo.html``)."""
    output = Path(output) if output else Path(run_dir) / "hpo.html"
    html = _templates().get_template("search.html.j2").render(search_context(Path(run_dir)))
    write_text_atomic(output, html)
    return output
