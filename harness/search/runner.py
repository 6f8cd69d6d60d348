"""Run a study: its worker processes, their progress, Ctrl-C, and the study's snapshot.

Every study runs in fresh processes (``harness.search.worker``), each in its own session so
that Ctrl-C or a timeout reaches its whole tree: one process for ``workers = 1``, or N
sharing the storage. The trials still to run (the study's total less those it already holds,
so that the same command resumes a study by name) are split between them. The study's wall
time runs from the first worker's start to the last one's end, imports included: what a user
waits for.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness.results import write_json_atomic
from harness.search.results import append_record, sessions_path
from harness.search.spec import StudySpec

INTERRUPT_GRACE_S = 30.0  # a trial interrupted mid-step finishes its teardown in this time
POLL_S = 0.5


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


def shares(left: int, workers: int) -> list[int]:
    """``left`` trials split between ``workers`` processes, as evenly as they go."""
    return [left // workers + (1 if i < left % workers else 0) for i in range(workers)]


@dataclass
class Workers:
    """The running worker processes of one study, and where their records are."""

    spec: StudySpec
    out_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[TextIO] = field(default_factory=list)
    offsets: dict[Path, int] = field(default_factory=dict)
    timed_out: bool = False

    def start(self, counts: list[int], session: str) -> None:
        from harness.launch.runner import child_env

        spec_path = self.out_dir / "specs" / f"{self.spec.name}.json"
        write_json_atomic(spec_path, self.spec.to_dict())
        env = child_env(self.spec.cell)
        for worker, count in enumerate(counts):
            if not count:
                continue
            log_path = self.out_dir / "logs" / f"{self.spec.name}.w{worker}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "a")  # noqa: SIM115 - closed in close()
            self.logs.append(log)
            cmd = [sys.executable, "-m", "harness.search.worker", str(spec_path),
                   str(self.out_dir), str(worker), str(count), session]
            self.procs.append(subprocess.Popen(cmd, env=env, stdout=log,
                                               stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def wait(self, deadline: float, progress: bool) -> list[int | None]:
        """Wait for every worker (killing those past ``deadline``); print trial lines."""
        while any(p.poll() is None for p in self.procs):
            if time.monotonic() > deadline:
                self.timed_out = True
                self.stop(signal.SIGTERM, INTERRUPT_GRACE_S)
                break
            time.sleep(POLL_S)
            if progress:
                self.print_progress()
        if progress:
            self.print_progress()
        return [p.returncode for p in self.procs]

    def stop(self, sig: int, grace: float) -> None:
        """Signal every worker's session, wait ``grace`` seconds, then SIGKILL the rest."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        end = time.monotonic() + grace
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(end - time.monotonic(), 0.01))
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def print_progress(self) -> None:
        for path in sorted((self.out_dir / "trials").glob(f"{self.spec.name}.w*.jsonl")):
            with open(path, encoding="utf-8") as f:
                f.seek(self.offsets.get(path, 0))
                chunk = f.read()
            complete = chunk[: chunk.rfind("\n") + 1]
            self.offsets[path] = self.offsets.get(path, 0) + len(complete.encode())
            for line in complete.splitlines():
                record = json.loads(line)
                if record.get("kind") == "trial":
                    print(progress_line(record), file=sys.stderr)

    def close(self) -> None:
        for log in self.logs:
            log.close()


def progress_line(record: dict[str, Any]) -> str:
    state = "interrupted" if record.get("interrupted") else str(record["state"]).lower()
    value = record.get("value")
    wall = (record.get("time") or {}).get("wall")
    extra = f" {value:.6g}" if isinstance(value, float) else ""
    if record.get("error_type"):
        extra += f" ({record['error_type']}: {str(record.get('message', ''))[:80]})"
    took = f" in {wall:.2f} s" if wall is not None else ""
    return (f"  {record['paradigm']:<9} w{record['worker']} trial {record['number']:>3} "
            f"{state}{extra}{took}")


def run_study(spec: StudySpec, out_dir: Path, session: str, progress: bool = True
              ) -> dict[str, Any]:
    """Run what is left of ``spec``'s study; returns this session's record (also appended to
    the study's sessions file). KeyboardInterrupt: the workers are interrupted, their
    running trials recorded, the session written, and the interrupt raised again."""
    before = finished_in_storage(spec)
    counts = shares(max(spec.trials - before, 0), spec.workers)
    workers = Workers(spec, out_dir)
    started, t0 = time.time(), time.perf_counter()
    codes: list[int | None] = []
    interrupted = False
    try:
        workers.start(counts, session)
        codes = workers.wait(time.monotonic() + spec.cell.timeout_s, progress)
    except KeyboardInterrupt:
        interrupted = True
        workers.stop(signal.SIGINT, INTERRUPT_GRACE_S)
        codes = [p.returncode for p in workers.procs]
        if progress:
            workers.print_progress()
        raise
    finally:
        workers.close()
        record = {"session": session, "started": started,
                  "wall_s": time.perf_counter() - t0, "workers": spec.workers,
                  "processes": len(workers.procs), "trials_before": before,
                  "planned": counts, "exit_codes": codes, "interrupted": interrupted,
                  "timed_out": workers.timed_out}
        if workers.procs:  # nothing ran: the study was already complete
            append_record(sessions_path(out_dir, spec.name), record)
    return record
