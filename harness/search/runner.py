"""Run the studies of one comparison in the fair order: blocks of trials, the studies taking
turns in a seeded shuffled order (``harness.search.schedule``), each study's processes
(``harness.search.processes``) started at its first block and kept until the comparison ends.

The trials still to run (each study's total less those it already holds, so that the same
command resumes a study by name) are what the blocks share. Each study gets one session
record per run of the command (``trials/<study>.sessions.jsonl``); its figures come from the
workers' own clocks (``harness.search.analysis``), not from this process's waiting.
"""

from __future__ import annotations

import signal
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.search.processes import StudyProcesses
from harness.search.results import append_record, sessions_path
from harness.search.schedule import Block, blocks, default_block
from harness.search.spec import StudySpec

INTERRUPT_GRACE_S = 30.0  # a trial interrupted mid-step finishes its teardown in this time
STORAGE_LOST = 4  # a worker's exit code: the storage failed (harness.search.worker)


class StorageLost(RuntimeError):
    """The shared storage failed mid-study: every study stops; what finished is kept."""


def new_session() -> str:
    return uuid.uuid4().hex[:12]


def finished_in_storage(spec: StudySpec) -> int:
    """Trials of the study that already count (0 for a study that does not exist yet)."""
    import optuna

    from harness.search.results import finished
    from harness.search.storage import open_storage

    try:
        study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage))
    except KeyError:
        return 0
    return finished(study)


def plan(specs: Sequence[StudySpec], out_dir: Path, block: int | None = None
         ) -> tuple[list[Block], dict[str, int]]:
    """The comparison's blocks in their order, and the trials each study already holds
    (after telling the storage about trials a failure of its own left running)."""
    from harness.search.results import fail_lost_trials

    for spec in specs:
        told = fail_lost_trials(spec, out_dir)
        if told:
            print(f"study {spec.name}: {told} trial(s) the storage failed during are now "
                  "recorded failed there, and run again", file=sys.stderr)
    before = {s.name: finished_in_storage(s) for s in specs}
    left = {s.name: max(s.trials - before[s.name], 0) for s in specs}
    size = block or default_block(specs[0].workers)
    return blocks(left, size, seed=specs[0].sampler_seed), before


def run_group(specs: Sequence[StudySpec], out_dir: Path, session: str, env: dict[str, str],
              progress: bool = True, block: int | None = None) -> list[dict[str, Any]]:
    """Run what is left of the comparison's studies, interleaved; returns this session's
    record of each study that ran (also appended to its sessions file). KeyboardInterrupt:
    every process is interrupted, the running trials recorded, the sessions written, and the
    interrupt raised again."""
    order, before = plan(specs, out_dir, block)
    by_name = {s.name: StudyProcesses(s, out_dir) for s in specs}
    given: dict[str, list[int]] = {name: [] for name in by_name}
    broken: set[str] = set()
    started, interrupted = time.time(), False
    try:
        for name, count in order:
            study = by_name[name]
            if name in broken:
                continue
            if not study.started:
                study.start(session, env)
            if progress:
                print(f"study {name}: {count} trial(s)", file=sys.stderr, flush=True)
            given[name].append(count)
            codes = study.run_block(count, progress)
            if STORAGE_LOST in codes:
                raise StorageLost(storage_error(study))
            if study.timed_out or any(c not in (0, None) for c in codes):
                broken.add(name)  # its processes failed: the other studies go on
                print(f"study {name}: its worker processes failed (exit codes {codes}"
                      f"{', timed out' if study.timed_out else ''}); their logs: "
                      f"{out_dir / 'logs' / name}.w*.log", file=sys.stderr)
                if any(c == 130 for c in codes):
                    raise KeyboardInterrupt
    except (KeyboardInterrupt, StorageLost):
        interrupted = True
        for study in by_name.values():
            if study.started:
                study.stop(signal.SIGINT, INTERRUPT_GRACE_S)
                if progress:
                    study.print_progress()
        raise
    finally:
        records = []
        for name, study in by_name.items():
            study.close(INTERRUPT_GRACE_S)
            if not study.started:
                continue  # nothing ran: the study was already complete
            record = {"session": session, "study": name, "started": started,
                      "span_s": time.time() - started, "workers": study.spec.workers,
                      "processes": len(study.procs), "trials_before": before[name],
                      "planned": given[name], "exit_codes": study.exit_codes(),
                      "interrupted": interrupted, "timed_out": study.timed_out,
                      "failed": name in broken}
            append_record(sessions_path(out_dir, name), record)
            records.append(record)
    return records


def storage_error(study: StudyProcesses) -> str:
    """What the study's workers saw when the storage failed (their last block records)."""
    from harness.search.results import local_records

    errors = [r["error"] for r in local_records(study.out_dir, study.spec.name)
              if r.get("kind") == "block" and r.get("error")]
    return errors[-1] if errors else "no answer"
