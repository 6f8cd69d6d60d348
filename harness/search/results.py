"""A study's results: one JSON file per study, ``<run>/studies/<study>.json``.

What the storage knows (every trial's parameters, state, value, intermediate values and
user attributes, from every worker and machine) joined with what this machine's workers
measured (``trials/<study>.w<N>.jsonl``: the time split, the reports each pruning integration
made, RSS after each trial) and the sessions that ran (``trials/<study>.sessions.jsonl``).
Written atomically after every study and on Ctrl-C, so the report never needs the storage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.measure.environment import capture_host
from harness.results import write_json_atomic
from harness.search.spec import StudySpec
from harness.search.storage import open_storage, redacted, scrubbed

SCHEMA_VERSION = 1
KIND = "hpo-study"


def records_path(out_dir: Path, study: str, worker: int) -> Path:
    """Where worker ``worker`` of a study appends its trials' records."""
    return out_dir / "trials" / f"{study}.w{worker}.jsonl"


def sessions_path(out_dir: Path, study: str) -> Path:
    """Where the runner appends one record per session (one run of the command) of a study."""
    return out_dir / "trials" / f"{study}.sessions.jsonl"


def append_record(path: Path, record: dict[str, Any]) -> None:
    """One JSON line, flushed and synced: what a trial measured survives a kill after it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, allow_nan=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def finished(study: Any) -> int:
    """Trials that count towards the study's total: complete, pruned, or failed on their own
    (a trial failed by Ctrl-C or by the storage failing is run again)."""
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False, states=done)
               if not (t.user_attrs.get("interrupted") or t.user_attrs.get("storage_failed")))


def fail_lost_trials(spec: StudySpec, out_dir: Path) -> int:
    """Tell the storage, now that it answers again, what this machine's workers recorded when
    it failed: each trial they were running then, still RUNNING in the storage, becomes
    FAIL with the storage's error (and is run again). Returns how many."""
    import optuna

    lost = {r["number"]: r for r in local_records(out_dir, spec.name)
            if r.get("kind") == "trial" and r.get("storage_failed")}
    if not lost:
        return 0
    storage = open_storage(spec.storage)
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage)
    except KeyError:  # the storage came back empty: nothing to tell it
        return 0
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    told = 0
    for trial in running:
        record = lost.get(trial.number)
        if record is None:  # another machine's, or one this machine never saw fail
            continue
        storage.set_trial_user_attr(trial._trial_id, "error_type", record.get("error_type"))
        storage.set_trial_user_attr(trial._trial_id, "error", record.get("message"))
        storage.set_trial_user_attr(trial._trial_id, "storage_failed", True)
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        told += 1
    return told


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of ``path`` (a line cut short by a kill is left out)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def local_records(out_dir: Path, study: str) -> list[dict[str, Any]]:
    return [r for path in sorted((out_dir / "trials").glob(f"{study}.w*.jsonl"))
            for r in read_lines(path)]


def storage_trials(spec: StudySpec) -> list[dict[str, Any]]:
    """Every trial of the study as the storage holds it ([] if the study does not exist)."""
    import optuna

    try:
        study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage))
    except KeyError:
        return []
    return [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
             "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
             "user_attrs": {k: scrubbed(v, spec.storage) if isinstance(v, str) else v
                            for k, v in t.user_attrs.items()},
             "started": t.datetime_start.isoformat() if t.datetime_start else None,
             "completed": t.datetime_complete.isoformat() if t.datetime_complete else None}
            for t in study.get_trials(deepcopy=False)]


def local_trial(record: dict[str, Any]) -> dict[str, Any]:
    """A trial as a worker recorded it, in the storage's shape (no intermediate values)."""
    attrs = {k: record[k] for k in ("interrupted", "storage_failed", "error_type")
             if record.get(k)}
    if record.get("message"):
        attrs["error"] = record["message"]
    return {"number": record["number"], "state": record["state"],
            "params": record.get("params") or {}, "value": record.get("value"),
            "intermediate": {}, "user_attrs": attrs, "started": None, "completed": None}


def snapshot(spec: StudySpec, out_dir: Path) -> Path:
    """Write (or rewrite) the study's results file from the storage and the local records."""
    records = local_records(out_dir, spec.name)
    measured: dict[int, dict[str, Any]] = {}
    for r in records:
        if r.get("kind") == "trial":
            measured[r["number"]] = r  # a trial number is unique within a study
    trials = []
    try:
        stored = storage_trials(spec)
    except Exception:  # the storage failed: what this machine's workers recorded stands in
        stored = [local_trial(r) for _, r in sorted(measured.items())]
    for t in stored:
        local = measured.get(t["number"], {})
        trials.append({**t, "interrupted": bool(t["user_attrs"].get("interrupted")),
                       "storage_failed": bool(t["user_attrs"].get("storage_failed")
                                              or local.get("storage_failed")),
                       "error_type": t["user_attrs"].get("error_type"),
                       "error": t["user_attrs"].get("error"),
                       **{k: local.get(k) for k in ("time", "reports", "rss_bytes", "worker",
                                                    "pid", "session", "steps")}})
    data = {
        "schema_version": SCHEMA_VERSION, "kind": KIND, "study": spec.name,
        "group": spec.group, "paradigm": spec.cell.paradigm.value, "entry": spec.entry,
        "spec": {**spec.to_dict(), "storage": redacted(spec.storage)},
        "processes": [r for r in records if r.get("kind") in ("process", "block", "exit")],
        "sessions": read_lines(sessions_path(out_dir, spec.name)),
        "trials": trials, "environment": capture_host(),
    }
    path = out_dir / "studies" / f"{spec.name}.json"
    write_json_atomic(path, data)
    return path


def load_studies(out_dir: Path) -> list[dict[str, Any]]:
    """Every study results file of a run folder, in name order; an unreadable one is left out
    (a page of the rest beats none)."""
    out = []
    for path in sorted((Path(out_dir) / "studies").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("kind") == KIND and \
                data.get("schema_version", 0) <= SCHEMA_VERSION:
            out.append(data)
    return out
