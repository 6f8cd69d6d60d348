"""Study results -> figures: trials per hour, the per-trial time split, the per-trial overhead
against the plain loop, memory across trials, and whether the paradigms' studies agree.

Pairing is by trial number, and only between trials with the same parameters that ended the
same way (completed both, or pruned both after as many reports): those ran the same training.
The overhead is the median of the paired wall-time differences with the sign test's interval
(``harness.analyse.stats.overhead``), so it needs six or more such pairs.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.analyse.stats import Overhead, overhead
from harness.search.clock import PARTS

Study = Mapping[str, Any]
FINISHED = ("COMPLETE", "PRUNED", "FAIL")


def lost(trial: Mapping[str, Any]) -> bool:
    """Ended from outside: by Ctrl-C, or by the storage failing (run again on resume)."""
    return bool(trial["interrupted"] or trial.get("storage_failed"))


def counted(study: Study) -> list[dict[str, Any]]:
    """The trials that count: finished, not ended by Ctrl-C or by the storage failing."""
    return [t for t in study["trials"] if t["state"] in FINISHED and not lost(t)]


def counts(study: Study) -> dict[str, int]:
    out = {"complete": 0, "pruned": 0, "failed": 0, "interrupted": 0, "running": 0}
    for t in study["trials"]:
        if lost(t):
            out["interrupted"] += 1
        else:
            key = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}.get(t["state"])
            out[key or "running"] += 1
    return out


def _by_session(study: Study, kind: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for r in study["processes"]:
        if r.get("kind") == kind:
            key = (r.get("session"), r.get("block")) if kind == "block" else r.get("session")
            out.setdefault(key, []).append(r)
    return out


def startup_s(study: Study) -> float:
    """The study's start-up, apart from its trials: per session, from the parent starting its
    first process to the last one holding the study (interpreter, torch and framework
    imports, storage, study), on the workers' clocks; NaN for results without it."""
    spans = [max(r["ready"] for r in rs) - min(r["launched"] for r in rs)
             for rs in _by_session(study, "process").values()
             if all(r.get("launched") is not None and r.get("ready") for r in rs)]
    return sum(spans) if spans else math.nan


def trials_wall_s(study: Study) -> float:
    """The time the study's trials took: per block, from its first process taking the block
    to its last one finishing it, summed (the waits while other studies ran left out)."""
    spans = [max(r["ended"] for r in rs) - min(r["started"] for r in rs)
             for rs in _by_session(study, "block").values()]
    return sum(spans) if spans else math.nan


def wall_s(study: Study) -> float:
    """The study's wall time: its start-up plus its blocks, from the workers' own clocks
    (results from before blocks: the sessions' wall time as the runner saw it)."""
    blocks = trials_wall_s(study)
    if blocks == blocks:
        start = startup_s(study)
        return blocks + (start if start == start else 0.0)
    return sum(s.get("wall_s", 0.0) for s in study["sessions"])


RATE_LABELS = {"trial_time": "trials/h, trial time", "study_wall": "trials/h, study wall"}


def trials_per_hour(study: Study) -> float:
    """Counted trials that this machine's workers ran, per hour of the study's wall time
    (start-up, several workers side by side, and every wait inside the blocks included)."""
    mine = [t for t in counted(study) if t.get("time")]
    wall = wall_s(study)
    return len(mine) / wall * 3600 if wall > 0 else math.nan


def trials_per_hour_of_trials(study: Study) -> float:
    """Counted trials per hour of their own wall times summed: what one worker sustains once
    started, start-up and waits left out."""
    walls = [t["time"]["wall"] for t in counted(study) if t.get("time")]
    total = sum(walls)
    return len(walls) / total * 3600 if total > 0 else math.nan


def part_medians(study: Study) -> dict[str, float]:
    """The median seconds of each part of a trial, over the counted trials measured here."""
    timed = [t["time"] for t in counted(study) if t.get("time")]
    return {p: statistics.median(x[p] for x in timed) if timed else math.nan
            for p in (*PARTS, "wall")}


def _outcome(trial: Mapping[str, Any]) -> tuple[str, int]:
    return trial["state"], len([r for r in trial.get("reports") or [] if r["stored"]])


def paired_walls(study: Study, plain: Study) -> tuple[dict[int, float], dict[int, float]]:
    """Trial wall times of the two studies, keyed by trial number, for the trials that ran the
    same training in both (same parameters, same outcome)."""
    base = {t["number"]: t for t in counted(plain) if t.get("time")}
    mine, theirs = {}, {}
    for t in counted(study):
        b = base.get(t["number"])
        if b is not None and t.get("time") and t["params"] == b["params"] \
                and _outcome(t) == _outcome(b):
            mine[t["number"]], theirs[t["number"]] = t["time"]["wall"], b["time"]["wall"]
    return mine, theirs


def completed_walls(study: Study) -> list[float]:
    """Wall times of the completed trials measured here: each trained the full length."""
    return [t["time"]["wall"] for t in counted(study)
            if t["state"] == "COMPLETE" and t.get("time")]


def overhead_vs(study: Study, plain: Study) -> Overhead:
    """Paired by trial number where the studies ran the same trials (one worker); otherwise
    (several workers: each worker's sampler draws its own parameters, so trial numbers do
    not pair) the Hodges-Lehmann shift between the completed trials' wall times."""
    mine, theirs = paired_walls(study, plain)
    if mine:
        return overhead(mine, theirs)
    return overhead(completed_walls(study), completed_walls(plain))


def reference(name: str, members: Mapping[str, Study]) -> Study | None:
    """What a study is held against: the plain loop; an A/A copy, its own paradigm's study."""
    base = name.rsplit("-", 1)[0] if name.endswith("-aa") else "plain"
    return members.get(base) if base != name else None


def aa_verdict(ov: Overhead) -> str:
    """The A/A check: two studies of one paradigm should read no difference."""
    if ov.ci is None:
        return f"A/A: too few pairs (n={ov.n})"
    if ov.ci[0] <= 0.0 <= ov.ci[1]:
        return "A/A: no difference"
    return "A/A: differs (drift the order did not spread, or noise)"


def overhead_text(ov: Overhead) -> str:
    """The terminal's overhead cell: milliseconds and the interval, or why there is none."""
    if ov.n == 0 or ov.seconds != ov.seconds:
        return "— (no comparable trials)"
    ci = (f"[{ov.ci[0] * 1e3:+.0f}, {ov.ci[1] * 1e3:+.0f}]" if ov.ci
          else f"({ov.method}, n={ov.n})")
    return f"{ov.seconds * 1e3:+.0f} ms {ci}" + ("" if ov.paired else " unpaired")


def rss_series(study: Study) -> list[tuple[int, int]]:
    return sorted((t["number"], t["rss_bytes"]) for t in study["trials"]
                  if t.get("rss_bytes") and t.get("worker") == 0)


def rss_growth(study: Study) -> float | None:
    """Least-squares growth of RSS in bytes per trial, from the second trial of worker 0 on
    (the first pays the allocator's and the framework's one-off growth); None below three."""
    points = rss_series(study)[1:]
    if len(points) < 3:
        return None
    x, y = np.array([p[0] for p in points], float), np.array([p[1] for p in points], float)
    return float(np.polyfit(x, y, 1)[0])


@dataclass
class Parity:
    """One paradigm's study held against the plain loop's."""

    paradigm: str
    verdict: str  # "same study", "differs", "not comparable"
    compared: int = 0
    problems: list[str] = field(default_factory=list)
    report_steps: dict[int, list[int]] = field(default_factory=dict)  # stored report steps
    report_max_rel_gap: float | None = None  # |value - plain| / |plain|, stored reports
    report_bitwise: bool | None = None
    reason: str = ""
    value_tolerance: float = 0.0  # 0: completed values must be bitwise equal (CPU fp32)
    value_max_rel_gap: float = 0.0


def _comparable(studies: Iterable[Study]) -> str:
    for s in studies:
        if s["spec"]["workers"] > 1:
            return "several workers: which trial sees which history depends on timing"
        ran = {t.get("session") for t in s["trials"] if t.get("session")}
        if len(ran) > 1 or any(lost(t) for t in s["trials"]):
            return (f"{s['paradigm']}'s study was interrupted or resumed: the sampler's random "
                    "state restarts with its seed in the new process")
    return ""


def parity(study: Study, plain: Study) -> Parity:
    """Same parameters per trial, same completed values (bit for bit on CPU in fp32, else
    within the harness's loss tolerance for the device and precision), the same trials
    pruned after as many reports, the same best trial; and exactly how the reports differ."""
    name = entry(study)
    reason = _comparable([study, plain])
    if reason:
        return Parity(name, "not comparable", reason=reason)
    from harness.analyse.analysis import LOSS_TOLERANCE  # imports pandas: only here

    cell = plain["spec"]["cell"]
    mine = {t["number"]: t for t in counted(study)}
    base = {t["number"]: t for t in counted(plain)}
    out = Parity(name, "same study", compared=len(mine.keys() & base.keys()),
                 value_tolerance=LOSS_TOLERANCE.get((cell["device"], cell["precision"]), 0.0))
    if mine.keys() != base.keys():
        out.problems.append(f"trials {sorted(mine.keys() ^ base.keys())} are in one study only")
    gaps: list[float] = []
    for n in sorted(mine.keys() & base.keys()):
        a, b = mine[n], base[n]
        if a["params"] != b["params"]:
            out.problems.append(f"trial {n}: parameters {a['params']} vs {b['params']}")
            continue
        if _outcome(a) != _outcome(b):
            out.problems.append(f"trial {n}: {a['state'].lower()} after {_outcome(a)[1]} "
                                f"reports vs {b['state'].lower()} after {_outcome(b)[1]}")
        elif a["state"] == "COMPLETE" and a["value"] != b["value"]:
            gap = abs(a["value"] - b["value"]) / max(abs(b["value"]), 1e-300)
            out.value_max_rel_gap = max(out.value_max_rel_gap, gap)
            if gap > out.value_tolerance:  # bitwise on CPU fp32; the harness's tolerance else
                out.problems.append(f"trial {n}: value {a['value']!r} vs {b['value']!r}")
        stored = [r for r in a.get("reports") or [] if r["stored"]]
        theirs = [r for r in b.get("reports") or [] if r["stored"]]
        out.report_steps[n] = [r["step"] for r in stored]
        gaps += [abs(r["value"] - q["value"]) / max(abs(q["value"]), 1e-300)
                 for r, q in zip(stored, theirs)]
    if gaps:
        out.report_max_rel_gap = max(gaps)
        out.report_bitwise = out.report_max_rel_gap == 0.0
    best_a, best_b = best_trial(study), best_trial(plain)
    if best_a != best_b:
        out.problems.append(f"best trial {best_a} vs {best_b}")
    if out.problems:
        out.verdict = "differs"
    return out


def best_trial(study: Study) -> int | None:
    done = [t for t in study["trials"] if t["state"] == "COMPLETE" and t["value"] is not None]
    return min(done, key=lambda t: (t["value"], t["number"]))["number"] if done else None


ORDER = {"plain": 0, "lightning": 1, "ignite": 2}


def entry(study: Study) -> str:
    """The study's place in its comparison: its paradigm, or e.g. ``plain-aa`` (A/A)."""
    return str(study.get("entry") or study["paradigm"])


def by_group(studies: Iterable[Study]) -> dict[str, dict[str, Study]]:
    """Studies by group, the plain loop first in each (its A/A copy next to it)."""
    out: dict[str, dict[str, Study]] = {}
    for s in sorted(studies, key=lambda s: (s["group"], ORDER.get(s["paradigm"], 9),
                                            entry(s))):
        out.setdefault(s["group"], {})[entry(s)] = s
    return out


def _shown(value: float, spec: str, unit: str = "") -> str:
    return "—" if value != value else f"{value:{spec}}{unit}"


def print_summary(studies: list[Study], file: Any = None) -> None:
    """A terminal table per study group: trials, start-up, wall time, trials per hour (over
    the trials' own time and over the study's wall), the median trial, the overhead against
    the plain loop (an A/A copy: against its own paradigm), and the parity verdict."""
    file = file or sys.stdout
    if not studies:
        print("no studies yet", file=file)
        return
    for group, members in by_group(studies).items():
        print(f"\n{group}", file=file)
        print(f"  {'study':<13}{'trials c/p/f':>13}{'start-up':>10}{'wall':>10}"
              f"{RATE_LABELS['trial_time']:>22}{RATE_LABELS['study_wall']:>22}"
              f"{'median trial':>14}  {'overhead':<30}  parity", file=file)
        for name, study in members.items():
            c = counts(study)
            line = (f"  {name:<13}{c['complete']:>5}/{c['pruned']}/{c['failed']:<5}"
                    f"{_shown(startup_s(study), '.3f', 's'):>10}"
                    f"{_shown(wall_s(study), '.3f', 's'):>10}"
                    f"{_shown(trials_per_hour_of_trials(study), '.0f'):>22}"
                    f"{_shown(trials_per_hour(study), '.0f'):>22}"
                    f"{_shown(part_medians(study)['wall'], '.3f', 's'):>14}")
            base = reference(name, members)
            if base is not None:
                ov = overhead_vs(study, base)
                verdict = parity(study, base).verdict
                if name.endswith("-aa"):
                    verdict += f"; {aa_verdict(ov)}"
                line += f"  {overhead_text(ov):<30}  {verdict}"
            print(line, file=file)
