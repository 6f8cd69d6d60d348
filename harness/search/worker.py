"""One study process: ``python -m harness.search.worker SPEC.json OUT_DIR WORKER SESSION
LAUNCHED``, then one line per block on its standard input.

It imports the paradigm once (timed), opens the shared storage, loads the study by name (or
creates it), records its start-up (from ``LAUNCHED``, the parent's ``time.time()`` just
before it started the process, to the study being ready), then waits for blocks: each line
on standard input is how many trials to run now (``study.optimize``, stopping early once the
study holds as many finished trials as it asks for: several workers, or several machines,
share that count); end of input ends the process. The parent interleaves the blocks of the
paradigms' studies in time (``harness.search.runner``); between blocks this process sleeps on
its input. After each block it answers ``done`` on its original standard output (its own
prints go to the log). After each trial, once Optuna has told the storage, a callback appends
the trial's measurements to ``OUT_DIR/trials/<study>.w<WORKER>.jsonl``: the time split, the
reports the pruning integration made, the process's RSS; after each block, the block's span
on this process's clock. Exit codes: 0 done, 130 interrupted (the running trial is recorded
failed and ``interrupted`` in the storage), 4 the storage failed (the running trials are
recorded failed here with its error, for the next session to tell the storage), 1 another
error outside any trial.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from time import perf_counter
from typing import Any

import psutil

from harness.search.clock import split
from harness.search.results import append_record, finished, records_path
from harness.search.spec import DIRECTION, StudySpec
from harness.search.storage import STORAGE_ENV, first_line, scrubbed
from harness.search.trial import Interrupts, Objective


class Recorder:
    """The study's callback: completes a trial's record once Optuna has told the storage,
    writes it, and stops the study at its total (or when the cell is unsupported)."""

    def __init__(self, spec: StudySpec, objective: Objective, path: Path,
                 tags: dict[str, Any], interrupts: Interrupts) -> None:
        self.spec, self.objective, self.path, self.tags = spec, objective, path, tags
        self.interrupts = interrupts
        self.last = perf_counter()  # the end of the previous record (or the loop's start)
        self.process = psutil.Process()

    def __call__(self, study: Any, frozen: Any) -> None:
        told = perf_counter()
        record = self.write(frozen.number, frozen.state.name, frozen.value, told)
        if record.get("unsupported") or finished(study) >= self.spec.trials:
            study.stop()
        self.interrupts.raise_pending()

    def write(self, number: int, state: str, value: float | None, told: float
              ) -> dict[str, Any]:
        record = self.objective.records.pop(number, {"number": number})
        clock = record.pop("clock", None)
        if clock is not None:
            ended = clock.end if clock.end is not None else told
            record["time"] = split(clock, ask_s=clock.start - self.last, tell_s=told - ended)
            record["reports"] = clock.reports
        if record.get("message"):
            record["message"] = scrubbed(record["message"], self.spec.storage)
        record.update(self.tags, kind="trial", state=state, value=value,
                      rss_bytes=self.process.memory_info().rss)
        append_record(self.path, record)
        print(f"[{self.tags['paradigm']} w{self.tags['worker']}] trial {number} "
              f"{state.lower()}" + (f" {value:.6g}" if value is not None else ""), flush=True)
        self.last = perf_counter()
        return record


def epoch_steps(spec: StudySpec) -> int:
    """Optimizer steps in one epoch of the training loader (world size 1, full batches)."""
    from harness.discovery import resolve

    cell = spec.cell
    dataset = resolve(cell.workload).from_size(cell.size).build_dataset()
    return max(len(dataset) // (cell.batch_size * cell.features.accumulate), 1)  # type: ignore[arg-type]


def with_interval(spec: StudySpec) -> StudySpec:
    """``val_every = 0`` resolved to one epoch: Lightning's and Ignite's integrations report
    once per epoch, so one validation per epoch gives all three the same reports."""
    import dataclasses

    if spec.cell.features.val_every:
        return spec
    features = dataclasses.replace(spec.cell.features, val_every=epoch_steps(spec))
    return spec.replace(cell=spec.cell.replace(features=features))


def run(spec: StudySpec, out_dir: Path, worker: int, blocks: Iterable[int], session: str,
        launched: float | None = None, done: Callable[[int], None] = lambda code: None) -> int:
    """Start up, then run each block of ``blocks`` as it comes; ``done(code)`` after each."""
    import harness.launch.worker as cell_worker  # imports torch first, and times it

    import_torch_s = cell_worker.IMPORT_TORCH_S
    import optuna

    from harness.search.storage import open_storage
    from harness.training.adapters import load_adapter

    interrupts = Interrupts()

    def on_signal(signum: int, frame: object) -> None:
        interrupts.signal()

    def install() -> None:
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    install()
    t0 = perf_counter()
    load_adapter(spec.cell.paradigm)  # the framework import, once per study process
    import_framework_s = perf_counter() - t0
    resolved = with_interval(spec)
    path = records_path(out_dir, spec.name, worker)
    tags = {"study": spec.name, "paradigm": spec.cell.paradigm.value, "worker": worker,
            "session": session, "pid": os.getpid()}
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial, our own
    study = optuna.create_study(study_name=spec.name,
                                storage=open_storage(spec.storage, worker=True),
                                sampler=spec.sampler_for(worker), pruner=spec.build_pruner(),
                                direction=DIRECTION, load_if_exists=True)
    existing = len(study.get_trials(deepcopy=False))
    if existing:  # resumed: a seed of its own, not the first session's again
        study.sampler = spec.sampler_for(worker, existing)
    ready = time.time()
    append_record(path, {**tags, "kind": "process", "started": ready, "launched": launched,
                         "ready": ready, "import_torch_s": import_torch_s,
                         "import_framework_s": import_framework_s,
                         "val_every": resolved.cell.features.val_every})
    objective = Objective(resolved.cell, out_dir / "scratch" / f"{spec.name}.w{worker}",
                          interrupts, install)
    recorder = Recorder(spec, objective, path, tags, interrupts)
    code = 0
    for number, count in enumerate(blocks):
        code = run_block(study, objective, recorder, count, number)
        done(code)
        if code:
            break
    append_record(path, {**tags, "kind": "exit", "ended": time.time(), "code": code})
    return code


STORAGE_LOST = 4  # exit code: the storage failed mid-study


def run_block(study: Any, objective: Objective, recorder: Recorder, count: int,
              number: int) -> int:
    """Run up to ``count`` trials of the study now; record the block's span (this process's
    clock, milliseconds and finer): the study's time, apart from its start-up and from the
    time it waited while other studies ran their blocks."""
    started = time.time()
    recorder.last = perf_counter()  # the first trial's ask starts here, not at the last block
    left = min(count, recorder.spec.trials - finished(study))
    code = 0
    try:
        if left > 0:
            study.optimize(objective, n_trials=left, catch=(Exception,),
                           callbacks=[recorder], gc_after_trial=False)
    except KeyboardInterrupt:
        code = 130
        for trial in list(objective.records):  # the trial Ctrl-C ended, failed by Optuna
            recorder.write(trial, "FAIL", None, perf_counter())
    except Exception as exc:  # catch=(Exception,) keeps trials' own: this is Optuna's storage
        code = STORAGE_LOST
        cause = origin(exc)
        error = {"error_type": type(cause).__name__,
                 "message": first_line(cause, recorder.spec.storage), "storage_failed": True}
        for trial in list(objective.records):  # running, or finished but never told
            objective.records[trial].update(error)
            recorder.write(trial, "FAIL", None, perf_counter())
    block = {**recorder.tags, "kind": "block", "block": number, "asked": count,
             "started": started, "ended": time.time(), "code": code}
    if code == STORAGE_LOST:
        block["error"] = f"{error['error_type']}: {error['message']}"
    append_record(recorder.path, block)
    return code


def origin(exc: BaseException) -> BaseException:
    """The storage's own error behind an exception Optuna raised while handling it (optuna
    5.0.0's ``_run_trial`` raises UnboundLocalError when its ``tell`` fails): the first one
    along the chain not raised inside Optuna."""
    seen = {id(exc)}
    while _raised_in_optuna(exc):
        nxt = exc.__cause__ or exc.__context__
        if nxt is None or id(nxt) in seen:
            break
        exc = nxt
        seen.add(id(exc))
    return exc


def _raised_in_optuna(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}optuna{os.sep}" in tb.tb_frame.f_code.co_filename


def main(argv: list[str]) -> int:
    spec_path, out_dir = Path(argv[0]), Path(argv[1])
    worker, session, launched = int(argv[2]), argv[3], float(argv[4])
    spec = StudySpec.from_dict(json.loads(spec_path.read_text()))
    # the URL with its password, from the parent; not passed on to anything this starts
    spec = spec.replace(storage=os.environ.pop(STORAGE_ENV, spec.storage))
    # answers go to the parent on the original standard output; every print (ours, the
    # frameworks') to the log behind standard error
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def done(code: int) -> None:
        reply.write(f"done {code}\n")
        reply.flush()

    blocks = (int(line) for line in iter(sys.stdin.readline, ""))
    try:
        return run(spec, out_dir, worker, blocks, session, launched, done)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the traceback as the log keeps it: no password in it
        print(scrubbed(traceback.format_exc(), spec.storage), file=sys.stderr)
        print(f"[harness] study {spec.name} worker {worker}: {type(exc).__name__}: "
              f"{first_line(exc, spec.storage)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
