"""Run one cell repetition in a fresh process (or a torchrun group) and record what happened.

The child (forked by the fork server, or spawned: ``harness.launch.process``) runs in its own
session, so a timeout or Ctrl-C ends its whole process tree (torchrun, ranks, DataLoader
workers) with one ``killpg``. Whatever the child did, exactly one
record is written, atomically: measurements when it succeeded, status and traceback tail
when it did not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analyse.aggregate import aggregate, cache_state, partial_summary, warnings_for
from harness.config import CellConfig, CompileMode, Scenario
from harness.launch.process import ready_server, run_process
from harness.process_env import SPAWN_TIME_ENV
from harness.results import SCHEMA_VERSION, Status, record_path, write_json_atomic

INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"  # inductor's cache root (Triton's below it)
SHARED_CACHE_ENV = "PARADIGM_BENCH_COMPILE_CACHE"  # one folder shared by every compiled cell
REPO_ROOT = Path(__file__).resolve().parents[2]  # harness/launch/runner.py -> the checkout
LOG_TAIL_LINES = 40
# Failure statuses of ranks, most telling first: an OOM on one rank explains the others' errors.
_RANK_PRIORITY = {s.value: i for i, s in enumerate(
    [Status.OOM, Status.TIMEOUT, Status.UNSUPPORTED, Status.ERROR, Status.INTERRUPTED])}


def child_env(cfg: CellConfig, cache: Path | None = None) -> dict[str, str]:
    """The parent's environment, minus anything that would steer one framework (rule 1);
    a compiled cell's inductor cache folder (``compile_cache``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PL_", "LIGHTNING_"))}
    env.update(
        OMP_NUM_THREADS=str(cfg.threads),
        MKL_NUM_THREADS=str(cfg.threads),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    )
    if cache is not None:
        env[INDUCTOR_CACHE_ENV] = str(cache)
    env[SPAWN_TIME_ENV] = repr(time.time())
    return env


def compile_cache(cfg: CellConfig, run_dir: Path) -> Path | None:
    """A compiled cell's inductor cache: its own folder in the run folder, so that the first
    repetition to run compiles cold and the later ones find it warm (a profiling repetition
    shares its cell's folder). ``PARADIGM_BENCH_COMPILE_CACHE`` names one folder for every
    cell instead (warm across cells and runs). None for an eager cell."""
    if cfg.compile is CompileMode.NONE:
        return None
    shared = os.environ.get(SHARED_CACHE_ENV)
    if shared:
        return Path(shared).resolve()
    return run_dir / "compile-cache" / cfg.replace(profiler=False).key


def folder_state(cache: Path) -> str:
    """``empty`` or ``filled``: the cache folder before the cell starts. Not its state: a
    shared folder is filled by other cells, a killed compile leaves a partial one."""
    return "filled" if cache.is_dir() and any(cache.iterdir()) else "empty"


SHARING_ENVS = (SHARED_CACHE_ENV, "TRITON_CACHE_DIR")  # caches several cells write into


def compile_cache_entry(cache: Path, folder: str, compiled: dict[str, Any] | None
                        ) -> dict[str, Any]:
    """A compiled record's ``compile_cache``: its folder, whether other cells share the
    cache, and its state from the process's own hit and miss counters
    (``harness.analyse.aggregate.cache_state``); where none were counted (a process that
    failed before compiling) the state is the folder's (empty: cold, filled: warm)."""
    state = cache_state((compiled or {}).get("cache"))
    shared = [name for name in SHARING_ENVS if os.environ.get(name)]
    return {"dir": str(cache), "folder": folder, "shared_by": shared,
            "state": state or ("warm" if folder == "filled" else "cold"),
            "state_from": "counters" if state else "folder"}


@dataclass(frozen=True)
class Launch:
    """This machine's part in a multi-node cell; not part of the cell's identity.

    Every node runs the same cell with its own ``node_rank``; all name node 0's address as
    the c10d rendezvous endpoint. Each node records the ranks it hosts (c10d hands out global
    ranks in arrival order, so global rank 0 may live on any node).
    """

    node_rank: int = 0
    rdzv_endpoint: str | None = None  # HOST:PORT, required when the cell has nnodes > 1


SINGLE_NODE = Launch()


def command(cfg: CellConfig, config_path: Path, out_dir: Path, launch: Launch = SINGLE_NODE
            ) -> list[str]:
    worker = ["-m", "harness.launch.worker", str(config_path), str(out_dir)]
    if cfg.world_size == 1:
        return [sys.executable, *worker]
    torchrun = [sys.executable, "-m", "torch.distributed.run",
                f"--nproc-per-node={cfg.local_world_size}",
                "--max-restarts=0"]  # a benchmark is never restarted elastically
    if cfg.nnodes == 1:
        return [*torchrun, "--standalone", *worker]
    if not launch.rdzv_endpoint:
        raise ValueError("a multi-node cell needs a rendezvous endpoint (--rdzv-endpoint)")
    return [*torchrun, f"--nnodes={cfg.nnodes}", f"--node-rank={launch.node_rank}",
            "--rdzv-backend=c10d", f"--rdzv-endpoint={launch.rdzv_endpoint}",
            f"--rdzv-id={cfg.key}", *worker]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def _root_cause(log: str) -> tuple[int, int] | None:
    """(rank, exit code) of the first failed rank in torchrun's failure summary, if any."""
    summary = log[log.rfind("Root Cause"):] if "Root Cause" in log else log
    rank = re.search(r"rank\s*:\s*(\d+)", summary)
    code = re.search(r"exitcode\s*:\s*(-?\d+)", summary)
    return (int(rank.group(1)), int(code.group(1))) if rank and code else None


def _failures(log: str) -> list[tuple[int, int]]:
    """(rank, exit code) of every failed rank in torchrun's failure summary."""
    summary = log[log.rfind("Failures:"):] if "Failures:" in log else ""
    return [(int(rank), int(code)) for rank, code in re.findall(
        r"^\s*rank\s*:\s*(\d+)[^\n]*\n(?:[^\n]*\n)*?\s*exitcode\s*:\s*(-?\d+)", summary,
        flags=re.M)]


# Signals torchrun itself sends to the ranks it ends after another failed.
_TEARDOWN_SIGNALS = {-signal.SIGTERM, -signal.SIGINT}


def _killed_silently(ranks: list[dict[str, Any]], log: str) -> tuple[int, int] | None:
    """A rank that a signal (not torchrun's teardown) ended before it wrote a result: the
    cause, even where torchrun names a peer as the first failure (their exits can share a
    second, and its "first observed" then falls on the lowest rank)."""
    reported = {r["rank"] for r in ranks}
    killed = [(rank, code) for rank, code in _failures(log)
              if code < 0 and code not in _TEARDOWN_SIGNALS and rank not in reported]
    return min(killed) if killed else None


def _crash_message(returncode: int, log: str, ranks: list[dict[str, Any]] | None = None
                   ) -> str:
    if returncode < 0:
        return f"process killed by {_signal_name(-returncode)}"
    cause = _killed_silently(ranks or [], log) or _root_cause(log)
    if cause:
        rank, code = cause
        how = _signal_name(-code) if code < 0 else f"exit code {code}"
        return f"rank {rank} died ({how})"
    return f"process exited with code {returncode} without a result"


def _status_from_ranks(ranks: list[dict[str, Any]], world: int, log: str
                       ) -> tuple[Status, dict[str, Any]]:
    cause = _root_cause(log)
    reported = {r["rank"] for r in ranks}
    if len(ranks) < world and (cause is None or cause[0] not in reported
                               or _killed_silently(ranks, log)):
        # the first rank to fail died without a result: that is the cause; its peers' errors
        # (a closed connection, a failed collective) are only the consequence
        return Status.CRASHED, {}
    failed = [r for r in ranks if r["status"] != Status.OK.value]
    if not failed:
        return Status.OK, {}
    failed.sort(key=lambda r: _RANK_PRIORITY.get(r["status"], len(_RANK_PRIORITY)))
    first = failed[0]
    return Status(first["status"]), {
        "failed_rank": first["rank"],
        "error_type": first.get("error_type"),
        "message": f"rank {first['rank']}: {first.get('error_type')}: {first.get('message')}",
        "traceback_tail": first.get("traceback_tail"),
    }


KEPT_FILES = {"config.json", "log.txt"}


def _clean_work(work: Path) -> None:
    """Remove what features wrote (checkpoints, metric logs, Lightning's folder): a suite
    would otherwise keep gigabytes of checkpoints. The config, log and rank files stay."""
    for path in work.iterdir():
        if path.name in KEPT_FILES or (path.name.startswith("rank") and path.suffix == ".json"):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@dataclass
class Outcome:
    """What one launch of the worker (or of a torchrun group) ended with."""

    status: Status
    detail: dict[str, Any]
    ranks: list[dict[str, Any]]
    log_path: Path
    interrupted: bool = False
    launch: str = "spawn"  # how the process was started: fork (the fork server) or spawn
    start: str = "cold"  # warm: forked from a server that had imported the paradigm
    lifecycle: dict[str, float] = dataclasses.field(default_factory=dict)


def _launch(cfg: CellConfig, work: Path, launch: Launch, cache: Path | None = None,
            warm: bool = False) -> Outcome:
    """Run the worker for ``cfg`` in ``work`` and classify how it ended."""
    work.mkdir(parents=True, exist_ok=True)
    config_path = work / "config.json"
    config_path.write_text(json.dumps(cfg.to_dict(), indent=1))
    log_path = work / "log.txt"
    env = child_env(cfg, cache)
    exit_ = run_process(cfg, command(cfg, config_path, work, launch), env, child_env(cfg),
                        work, log_path, warm)
    interrupted, returncode = exit_.interrupted, exit_.returncode
    ranks = sorted(
        (json.loads(p.read_text()) for p in work.glob("rank*.json")), key=lambda r: r["rank"]
    )
    if interrupted:
        status, detail = Status.INTERRUPTED, {"message": "interrupted by the user (Ctrl-C)"}
    elif returncode is None:
        status, detail = Status.TIMEOUT, {"message": f"exceeded the {cfg.timeout_s:g} s timeout"}
    else:
        log_text = _tail(log_path, 200)
        status, detail = _status_from_ranks(ranks, cfg.local_world_size, log_text)
        if status is Status.CRASHED or (status is Status.OK and returncode != 0):
            status = Status.CRASHED
            detail = {"message": _crash_message(returncode, log_text, ranks)}
    marks = _lifecycle(ranks, work, float(env[SPAWN_TIME_ENV]), exit_.exited_at)
    return Outcome(status, detail, ranks, log_path, interrupted, exit_.launch, exit_.start,
                   marks)


def _lifecycle(ranks: list[dict[str, Any]], work: Path, spawn: float, exited_at: float
               ) -> dict[str, float]:
    """Rank 0's phase boundaries (seconds since the spawn), with when its file was written
    and when the runner saw the process end."""
    marks = dict(ranks[0].get("lifecycle") or {}) if ranks else {}
    rank0 = work / "rank0.json"
    if ranks and rank0.exists():
        marks["rank_written"] = rank0.stat().st_mtime - spawn
    marks["exited"] = exited_at - spawn
    return marks


def first_leg(cfg: CellConfig) -> CellConfig:
    """The run a ``resume_at=N`` cell resumes from: the same cell trained to step N, with a
    checkpoint at N (its timing is not used, so it runs with the shortest windows)."""
    n = cfg.features.resume_at
    features = dataclasses.replace(cfg.features.without("resume"), ckpt_every=n)
    return cfg.replace(features=features, warmup=1, window=1, steps=n - 1)


def _resume_from_first_leg(cfg: CellConfig, work: Path, launch: Launch, cache: Path | None,
                           warm: bool = False) -> tuple[CellConfig, Outcome | None]:
    """Run the first leg; return the cell set to resume from its checkpoint, or the failure."""
    leg = _launch(first_leg(cfg), work / "first-leg", launch, cache, warm)
    if leg.status is not Status.OK:
        leg.detail["message"] = (f"training to the resume point (step "
                                 f"{cfg.features.resume_at}) failed: {leg.detail.get('message')}")
        return cfg, leg
    files = [c["file"] for c in leg.ranks[0]["events"]["checkpoints"]
             if c["file"].startswith("periodic")]
    path = work / "first-leg" / "ckpt" / files[-1]
    return cfg.replace(features=dataclasses.replace(cfg.features, resume_from=str(path))), None


def _ready(cfg: CellConfig, work: Path, warm: bool) -> Outcome | None:
    """Start the fork server ``cfg`` needs before its clock; the outcome of a Ctrl-C meanwhile
    (recorded as any interrupted cell is), else None."""
    try:
        ready_server(cfg, child_env(cfg), warm)
    except KeyboardInterrupt:
        return Outcome(Status.INTERRUPTED, {"message": "interrupted by the user (Ctrl-C)"}, [],
                       work / "log.txt", interrupted=True, launch="fork")
    return None


def _note_pages(record: dict[str, Any], ranks: list[dict[str, Any]]) -> None:
    """A forked cell's count of the fork server's pages it made its own; a warning where some
    stayed shared (its memory and import figures are then not a spawned process's)."""
    pages = ranks[0].get("pages") if ranks else None
    if not pages:
        return
    record["pages"] = pages
    if pages.get("failed") or pages.get("problem"):
        record.setdefault("warnings", []).append(
            f"forked: {pages['failed']} of the fork server's pages stayed shared "
            f"({pages['problem']}); peak RSS and the framework import are not a spawned "
            f"process's (--launch spawn measures without this)")


def run_cell(
    cfg: CellConfig, run_dir: Path, repetition: int, environment: dict[str, Any],
    launch: Launch = SINGLE_NODE, keep_files: bool = False, tags: dict[str, Any] | None = None,
    warm: bool = False,
) -> dict[str, Any]:
    """Run one repetition of ``cfg`` in a fresh process; write and return its record.

    KeyboardInterrupt is re-raised after the child's process group is ended and the record
    is written with status ``interrupted``. ``keep_files`` keeps what the cell's features
    wrote (checkpoints, logs) in its work folder, ``record["work_dir"]``. A cell with
    ``resume_at=N`` runs twice, each time in a fresh process: to step N with a checkpoint,
    then resumed from that checkpoint to the end; its record is the second run's. ``tags``
    are fields the caller adds to the record (the matrix's session and round position).
    ``warm`` forks it from the server that has imported its paradigm (a steady-state
    repetition: its start-up figures are not the paradigm's); the record's ``start`` says
    which kind it ran as (``cold`` where it was spawned or forked from the bare server).
    """
    run_dir = run_dir.resolve()  # the child runs in its own folder: relative paths would break
    work = run_dir / "work" / f"{cfg.key}__r{repetition}__n{launch.node_rank}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "key": cfg.key,
        "repetition": repetition,
        "node_rank": launch.node_rank,
        "config": cfg.to_dict(),
        "environment": environment,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "work_dir": str(work),
        **(tags or {}),
    }
    cache = compile_cache(cfg, run_dir)
    folder = folder_state(cache) if cache is not None else None
    worker_cfg, outcome = cfg, _ready(cfg, work, warm)  # a server's start: no cell's time
    start = time.perf_counter()
    if outcome is None and cfg.features.resume_at and not cfg.features.resume_from:
        worker_cfg, outcome = _resume_from_first_leg(cfg, work, launch, cache, warm)
        record["resumed_from"] = worker_cfg.features.resume_from or None
    if outcome is None:
        outcome = _launch(worker_cfg, work, launch, cache, warm)
    record["process_wall_s"] = time.perf_counter() - start
    record["launch"] = outcome.launch
    record["start"] = outcome.start
    record["lifecycle"] = outcome.lifecycle
    record["ranks"] = outcome.ranks
    record.update(status=outcome.status.value, **outcome.detail)
    if outcome.status is Status.OK and cfg.scenario is not Scenario.TRAIN:
        # export and predict cells run in one process: its figures are the cell's
        record["measurements"] = {k: v for k, v in outcome.ranks[0].items()
                                  if k not in ("rank", "status", "warnings", "lifecycle")}
        record["warnings"] = outcome.ranks[0].get("warnings") or []
    elif outcome.status is Status.OK:
        record["measurements"] = aggregate(outcome.ranks, cfg)
        record["warnings"] = warnings_for(record["measurements"], cfg, environment)
    else:
        record["log_tail"] = _tail(outcome.log_path)
        record["partial"] = partial_summary(outcome.ranks)  # what it measured before it failed
    if cache is not None and folder is not None:
        compiled = (record.get("measurements") or record.get("partial") or {}).get("compile")
        record["compile_cache"] = compile_cache_entry(cache, folder, compiled)
    _note_pages(record, outcome.ranks)
    if not keep_files:
        _clean_work(work)
    write_json_atomic(record_path(run_dir, cfg.key, repetition, launch.node_rank), record)
    if outcome.interrupted:
        raise KeyboardInterrupt
    return record
