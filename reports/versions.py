"""Overhead, start-up and memory by framework release: the versions page's template context.

``nox -s versions`` runs one small suite per release, each in its own environment and its own run
folder holding the plain loop and that release. This module reads the folders back, orders each
framework's releases, and holds every release against the one before it with the test the compare
page uses (``harness.analyse.stats.compare``: Mann-Whitney U over repetitions, p < 0.01 and a change
of at least 5%). The plain loop runs in every folder as a control: when it moved as well between two
folders, the machine drifted, and the page says so beside the framework's change.

The drift-robust figures get a test of their own: within each folder, every repetition's overhead
(the release's step over the plain loop's, minus one) and framework-time excess (over the plain
step), as shares of the plain step of the same repetition; the shares of two releases are held
against each other with the same Mann-Whitney test, marked where they moved by at least 5% of the
plain step (``harness.analyse.stats.compare_shares``). A machine that slowed down between folders
slows the plain loop beside the release in the same repetition, so the shares do not move with it.

The folders must measure with the same harness: a different harness commit, dirty flag or torch
between them could change what a figure means and be read as a release's doing, so
``render_versions`` refuses such folders (``MixedRuns``) unless told to compare them anyway, and
then the page says what differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from packaging.version import InvalidVersion, Version

from harness.analyse.analysis import BASELINE, FRAMEWORK_TIME, GROUP_KEYS, by_repetition
from harness.analyse.stats import (
    COMPARE_ALPHA,
    COMPARE_MIN_CHANGE,
    Change,
    ShareChange,
    compare,
    compare_shares,
)
from reports import plots
from reports.compare import MATCH_KEYS, cell_samples
from reports.groups import LABEL_FIELDS, ci_text, duration, label, nbytes, percent, text
from reports.load import Run

# the distribution whose version names a release
PACKAGES = {"lightning": "pytorch-lightning", "ignite": "pytorch-ignite"}

# (records column, heading, format) of every figure held against the previous release
COMPARED: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("step_time_s", "Step time", duration),
    ("framework_s", "Framework time", duration),
    ("import_framework_s", "Import", duration),
    ("to_first_step_s", "To first step", duration),
    ("host_peak_rss_bytes", "Peak host RSS", nbytes),
)
DDP_SYNC = "lightning_ddp_sync_s"
# what must be the same in every folder for releases to be compared: (environment key, name)
PROVENANCE = (("git_commit", "harness commit"), ("git_dirty", "uncommitted changes"),
              ("torch", "torch"))


class MixedRuns(ValueError):
    """Run folders measured with different harness code or torch: not comparable as given."""


@dataclass(frozen=True)
class Release:
    """One run folder: the plain loop beside one release of one framework."""

    framework: str
    version: str
    run: Run

    @property
    def order(self) -> Version:
        try:
            return Version(self.version)
        except InvalidVersion:
            return Version("0")

    @cached_property
    def samples(self) -> dict[tuple[Any, ...], pd.DataFrame]:
        """Successful repetitions per (cell group, paradigm), grouped once."""
        return cell_samples(self.run)

    @cached_property
    def stats(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        """The cells frame's row per (cell group, paradigm)."""
        cells = self.run.cells
        if cells.empty:
            return {}
        return {key: rows.iloc[0].to_dict()
                for key, rows in cells.groupby(MATCH_KEYS, dropna=False, sort=False)}


def release_of(run: Run) -> Release | str:
    """The release a run folder measured, or why it is not a versions run."""
    frame = run.frame
    found = set(frame["paradigm"]) - {BASELINE} if len(frame) else set()
    if len(found) != 1:
        return (f"{run.path.name}: holds {sorted(found) or 'no framework'}; a versions run "
                "holds the plain loop and one framework")
    framework = found.pop()
    version = (run.environment.get("packages") or {}).get(PACKAGES.get(framework, framework))
    if not version:
        return f"{run.path.name}: no recorded version of {framework}"
    return Release(framework, str(version), run)


def _provenance(run: Run, key: str) -> str:
    env = run.environment
    value = (env.get("packages") or {}).get(key) if key == "torch" else env.get(key)
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def provenance_problems(runs: Sequence[Run]) -> list[str]:
    """What differs between the folders' harness commit, dirty flag and torch, in words."""
    problems = []
    for key, name in PROVENANCE:
        seen: dict[str, list[str]] = {}
        for run in runs:
            seen.setdefault(_provenance(run, key), []).append(run.path.name)
        if len(seen) > 1:
            problems.append(f"{name} differs between the folders: " + "; ".join(
                f"{value} ({', '.join(folders)})" for value, folders in seen.items()))
    return problems


def shares(release: Release | None, group: tuple[Any, ...]) -> dict[str, list[float]]:
    """Per repetition, paired by (session, repetition) within the release's folder: its
    overhead and framework-time excess as shares of the same repetition's plain step."""
    mine = release.samples.get((*group, release.framework)) if release else None
    plain = release.samples.get((*group, BASELINE)) if release else None
    if mine is None or plain is None:
        return {"overhead": [], "excess": []}
    step, base = by_repetition(mine, "step_time_s"), by_repetition(plain, "step_time_s")
    fw, base_fw = by_repetition(mine, "framework_s"), by_repetition(plain, "framework_s")
    keys = sorted(step.keys() & base.keys(), key=repr)
    return {"overhead": [step[k] / base[k] - 1 for k in keys],
            "excess": [(fw[k] - base_fw[k]) / base[k] for k in keys
                       if k in fw and k in base_fw]}


def _share_mark(before: list[float], after: list[float]) -> dict[str, str] | None:
    """A badge where a share of the plain step moved significantly (its p in ``p``)."""
    if not before or not after:
        return None
    change: ShareChange = compare_shares(before, after)
    if not change.significant:
        return None
    return {"css": "bad" if change.change > 0 else "good",
            "text": f"{100 * change.change:+.1f}% of plain", "p": f"{change.p_value:.3g}"}


def _values(cell: pd.DataFrame | None, column: str) -> list[float]:
    if cell is None or column not in cell:
        return []
    x = pd.to_numeric(cell[column], errors="coerce").to_numpy(float)
    return x[np.isfinite(x)].tolist()


def _mark(change: Change) -> dict[str, str] | None:
    """A badge for a significant change, None otherwise."""
    if not change.significant:
        return None
    return {"css": "bad" if change.ratio > 1 else "good", "text": percent(change.ratio - 1)}


def _figure(values: list[float], previous: list[float], fmt: Callable[[Any], str]
            ) -> dict[str, Any]:
    """The median over repetitions (what the test compares) and its change, if any."""
    if not values:
        return {"value": "—", "range": "", "mark": None, "p": ""}
    change = compare(previous, values) if previous else None
    return {"value": fmt(float(np.median(values))),
            "range": f"{fmt(min(values))} .. {fmt(max(values))} over {len(values)}",
            "mark": _mark(change) if change else None,
            "p": f"{change.p_value:.3g}" if change and not math.isnan(change.p_value) else ""}


def _interval(ci: Any) -> tuple[float, float] | None:
    """An interval from the cells frame, or None where there is none (NaN, too few runs)."""
    return (float(ci[0]), float(ci[1])) if isinstance(ci, tuple | list) else None


def _row(release: Release, earlier: Sequence[Release], group: tuple[Any, ...]
         ) -> dict[str, Any]:
    """One release's figures in one cell group, each against the latest earlier release that
    measured this group (a release whose cells failed does not switch the test off)."""
    fw = release.framework
    now = release.samples
    cell = now.get((*group, fw))
    previous = next((r for r in reversed(earlier) if (*group, fw) in r.samples), None)
    before = previous.samples if previous else {}
    stats = release.stats.get((*group, fw), {})
    figures = {col: _figure(_values(cell, col), _values(before.get((*group, fw)), col), fmt)
               for col, _, fmt in COMPARED}
    plain_change = compare(_values(before.get((*group, BASELINE)), "step_time_s"),
                           _values(now.get((*group, BASELINE)), "step_time_s"))
    sync = stats.get(DDP_SYNC)
    measured = cell is not None
    now_shares, before_shares = shares(release, group), shares(previous, group)
    return {
        "version": release.version, "folder": release.run.path.name,
        "n": 0 if cell is None else len(cell),
        "against": previous.version if previous else "",
        "overhead": duration(stats.get("overhead_s"), signed=True),
        "overhead_ci": ci_text(stats.get("overhead_ci"), signed=True) if measured else
        "no successful repetition",
        "overhead_pct": percent(stats.get("overhead_frac")),
        "excess": duration(stats.get("framework_excess_s"), signed=True),
        "excess_ci": ci_text(stats.get("framework_excess_ci"), signed=True) if measured else "",
        "overhead_mark": _share_mark(before_shares["overhead"], now_shares["overhead"]),
        "excess_mark": _share_mark(before_shares["excess"], now_shares["excess"]),
        "figures": figures,
        "drift": _mark(plain_change) if previous else None,
        "ddp_sync": duration(sync) if sync is not None and math.isfinite(sync) else "",
        "_overhead": (stats.get("overhead_s", math.nan), _interval(stats.get("overhead_ci"))),
        "_sync": sync if sync is not None and math.isfinite(sync) else None,
        "_measured": measured,
    }


def _groups(releases: Sequence[Release]) -> list[tuple[Any, ...]]:
    keys = {k[:-1] for r in releases for k in r.samples if k[-1] == r.framework}
    return sorted(keys, key=lambda k: tuple(str(v) for v in k))


def framework_section(framework: str, releases: Sequence[Release]) -> dict[str, Any]:
    """Every cell group's rows, oldest release first, and the overhead picture."""
    releases = sorted(releases, key=lambda r: r.order)
    every = pd.concat([r.run.ok for r in releases], ignore_index=True)
    extra = [k for k in GROUP_KEYS if k not in LABEL_FIELDS and len(every)
             and every[k].nunique(dropna=False) > 1]
    groups: list[dict[str, Any]] = []
    series: dict[str, list[tuple[float, Any]]] = {}
    for group in _groups(releases):
        keys = dict(zip(MATCH_KEYS, (*group, framework)))
        name = label(keys, extra)
        rows = [_row(r, releases[:i], group) for i, r in enumerate(releases)]
        groups.append({"label": name, "rows": rows})
        short = f"{keys['workload']} ({keys['size']}) · {keys['precision']} · world " \
                f"{keys['world_size']}"
        series[name if short in series else short] = [row["_overhead"] for row in rows]
    versions = [r.version for r in releases]
    # Markup: matplotlib has XML-escaped every text in the SVG (see reports.plots)
    picture = Markup(plots.by_release(f"versions-{framework}", f"{framework}: overhead vs plain",
                                      versions, series)) if series else ""
    # the earliest release with the broadcast, whichever group showed it
    synced = sorted(((i, row["version"], row["_sync"]) for g in groups
                     for i, row in enumerate(g["rows"]) if row["_sync"] is not None))
    # a later release measured without it (renamed upstream?) must not read as "removed"
    unseen = sorted({row["version"] for g in groups if any(r["_sync"] is not None
                                                           for r in g["rows"])
                     for i, row in enumerate(g["rows"])
                     if synced and i > synced[0][0] and row["_measured"] and row["_sync"] is None},
                    key=Version)
    return {"name": framework, "versions": versions, "groups": groups, "picture": picture,
            "ddp_sync_from": synced[0][1] if synced else "",
            "ddp_sync": duration(synced[0][2]) if synced else "", "ddp_sync_unseen": unseen}


def versions_context(runs: Sequence[Run], missing: Sequence[str] = ()) -> dict[str, Any]:
    """The versions page: one section per framework, and what could not be used.

    ``missing`` names releases that were expected but left no run folder (their environment
    did not install, or their session did not run). Folders of different harness code or
    torch are compared all the same here, with a warning (``render_versions`` refuses them
    unless told otherwise)."""
    warnings = [f"{name}: no run folder (the release did not install or its session did not "
                "run)" for name in missing]
    warnings += [f"{p}: a difference between releases may be the harness's or torch's"
                 for p in provenance_problems(runs)]
    dirty = bool(runs) and all(r.environment.get("git_dirty") is True for r in runs)
    by_framework: dict[str, list[Release]] = {}
    for run in runs:
        found = release_of(run)
        if isinstance(found, str):
            warnings.append(found)
            continue
        by_framework.setdefault(found.framework, []).append(found)
        warnings += [f"{run.path.name}: unreadable: {u}" for u in run.unreadable]
        failed = run.frame[run.frame["status"] != "ok"] if len(run.frame) else run.frame
        warnings += [f"{run.path.name}: {r['paradigm']} {r['status']}: {text(r['message'])[:200]}"
                     for _, r in failed.drop_duplicates(["paradigm", "message"]).iterrows()]
    env = next((r.environment for r in runs if r.environment), {})
    return {
        "title": "Overhead by release",
        "runs": [{"folder": r.run.path.name, "framework": r.framework, "version": r.version,
                  "records": len(r.run.records)}
                 for rs in by_framework.values() for r in sorted(rs, key=lambda r: r.order)],
        "frameworks": [framework_section(f, rs) for f, rs in sorted(by_framework.items())],
        "compared": [title for _, title, _ in COMPARED],
        "alpha": f"{COMPARE_ALPHA:g}",
        "framework_time": FRAMEWORK_TIME,
        "all_dirty": dirty,
        "min_change": percent(COMPARE_MIN_CHANGE, signed=False),
        "cpu": text(env.get("cpu")), "torch": text((env.get("packages") or {}).get("torch")),
        "warnings": warnings,
    }
