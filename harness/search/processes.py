"""The worker processes of one study: started at the study's first block, given blocks of
trials on their standard input, stopped when the comparison ends (or on Ctrl-C).

Each process runs in its own session, so that Ctrl-C or a timeout reaches its whole tree. A
block's trials are split between the study's processes; the block ends when every process
that got trials has answered ``done`` (``harness.search.worker``).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.results import write_json_atomic
from harness.search.spec import StudySpec

POLL_S = 0.5  # how often progress lines are printed while a block runs (no figure uses it)


def shares(left: int, workers: int) -> list[int]:
    """``left`` trials split between ``workers`` processes, as evenly as they go."""
    return [left // workers + (1 if i < left % workers else 0) for i in range(workers)]


@dataclass
class StudyProcesses:
    """The running worker processes of one study, and where their records are."""

    spec: StudySpec
    out_dir: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    logs: list[IO[str]] = field(default_factory=list)
    offsets: dict[Path, int] = field(default_factory=dict)
    codes: dict[int, int | None] = field(default_factory=dict)  # worker -> its last answer
    timed_out: bool = False
    busy_s: float = 0.0  # the parent's time spent waiting on this study's blocks

    @property
    def started(self) -> bool:
        return bool(self.procs)

    def start(self, session: str, env: dict[str, str]) -> None:
        """Start the study's processes: the spec file holds the storage URL without its
        password; the processes get the URL itself in their environment."""
        from harness.search.storage import STORAGE_ENV, redacted

        spec_path = self.out_dir / "specs" / f"{self.spec.name}.json"
        write_json_atomic(spec_path, self.spec.replace(
            storage=redacted(self.spec.storage)).to_dict())
        env = {**env, STORAGE_ENV: self.spec.storage}
        for worker in range(self.spec.workers):
            log_path = self.out_dir / "logs" / f"{self.spec.name}.w{worker}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "a")  # noqa: SIM115 - closed in close()
            self.logs.append(log)
            cmd = [sys.executable, "-m", "harness.search.worker", str(spec_path),
                   str(self.out_dir), str(worker), session, repr(time.time())]
            self.procs.append(subprocess.Popen(
                cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                text=True, bufsize=1, start_new_session=True))

    def run_block(self, count: int, progress: bool) -> list[int | None]:
        """Give the study's processes ``count`` trials between them and wait for their
        answers (killing them past the study's timeout); the exit codes of those that
        answered, or the return code of those that died."""
        t0 = time.monotonic()
        deadline = t0 + self.spec.cell.timeout_s - self.busy_s
        waiting: dict[Any, int] = {}
        with selectors.DefaultSelector() as selector:
            for worker, (proc, n) in enumerate(zip(self.procs, shares(count, len(self.procs)))):
                if n and proc.poll() is None and _send(proc, n):
                    selector.register(proc.stdout, selectors.EVENT_READ, worker)  # type: ignore[arg-type]
                    waiting[proc.stdout] = worker
            while waiting:
                if time.monotonic() > deadline:
                    self.timed_out = True
                    self.stop(signal.SIGTERM)
                    break
                for key, _ in selector.select(timeout=POLL_S):
                    worker = key.data
                    line = key.fileobj.readline()  # type: ignore[union-attr]
                    self.codes[worker] = int(line.split()[1]) if line.startswith("done") \
                        else self.procs[worker].wait()
                    selector.unregister(key.fileobj)
                    del waiting[key.fileobj]
                if progress:
                    self.print_progress()
        if progress:
            self.print_progress()
        self.busy_s += time.monotonic() - t0
        return [self.codes.get(w) for w in range(len(self.procs))]

    def stop(self, sig: int, grace: float = 30.0) -> None:
        """Signal every process's session, wait ``grace`` seconds, then SIGKILL the rest."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        self.close(grace)

    def close(self, grace: float = 30.0) -> None:
        """End of input for every process (each ends after its block), then wait for them."""
        for proc in self.procs:
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()  # type: ignore[union-attr]
        end = time.monotonic() + grace
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(end - time.monotonic(), 0.01))
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            with contextlib.suppress(OSError, ValueError):
                proc.stdout.close()  # type: ignore[union-attr]
        for log in self.logs:
            log.close()
        self.logs = []

    def exit_codes(self) -> list[int | None]:
        return [p.returncode for p in self.procs]

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


def _send(proc: subprocess.Popen[str], count: int) -> bool:
    try:
        proc.stdin.write(f"{count}\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        return True
    except (BrokenPipeError, OSError, ValueError):  # it died: its return code tells why
        return False


def progress_line(record: dict[str, Any]) -> str:
    state = "interrupted" if record.get("interrupted") else str(record["state"]).lower()
    value = record.get("value")
    wall = (record.get("time") or {}).get("wall")
    extra = f" {value:.6g}" if isinstance(value, float) else ""
    if record.get("error_type"):
        extra += f" ({record['error_type']}: {str(record.get('message', ''))[:80]})"
    took = f" in {wall:.3f} s" if wall is not None else ""
    return (f"  {record['paradigm']:<9} w{record['worker']} trial {record['number']:>3} "
            f"{state}{extra}{took}")
