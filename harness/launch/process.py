"""Start a cell process, by the fork server or by spawning, wait for it, end its whole tree.

A single-process cell is forked by a fork server (``harness.launch.forkserver``) by default:
torch is then imported once per run instead of once per process. ``PARADIGM_BENCH_LAUNCH=spawn``
(``--launch spawn``) spawns ``python -m harness.launch.worker`` for every cell instead, as a
world size > 1 cell (torchrun) always is. Either way the child is a fresh process in its own
session, so a timeout or Ctrl-C ends its whole tree with one ``killpg``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.config import CellConfig
from harness.launch.forkserver import PRELOAD_ENV, ForkServer, ServerDied, signal_tree

# the launch path's names live in the core (the host record reads them too); imported here
# under their old home, which tests, benchmarks and users' scripts name
from harness.process_env import FORK as FORK
from harness.process_env import LAUNCH_ENV as LAUNCH_ENV
from harness.process_env import LAUNCH_PATHS as LAUNCH_PATHS
from harness.process_env import SPAWN as SPAWN
from harness.process_env import SPAWN_TIME_ENV as SPAWN_TIME_ENV
from harness.process_env import launch_path as launch_path

COLD, WARM = "cold", "warm"  # a repetition that pays its framework's import, or not
KILL_GRACE_S = 5.0

# One fork server per environment: torch and its libraries read some variables once, at import
# (OMP_NUM_THREADS, inductor's CXX, ...), so a server serves only cells whose environment is
# the one it was started with (the spawn time and a compiled cell's cache folder aside, which
# are read later). A run has one bare server per thread count and one warm server per paradigm
# (``PARADIGM_BENCH_PRELOAD``); the oldest is closed beyond that.
_servers: dict[tuple[tuple[str, str], ...], ForkServer] = {}
MAX_SERVERS = 6
_fork_failed: list[str] = []  # why forking was given up for this process, once it was
# Every fork server this process started: when, in how many seconds, with how many threads.
# A server starts before a cell's clock (``ready_server``), so its start is in no cell's
# ``process_wall_s``: the matrix writes these into its manifest instead.
_server_starts: list[dict[str, object]] = []


def path_for(cfg: CellConfig) -> str:
    """How ``cfg`` is launched here: torchrun groups are always spawned."""
    return launch_path() if cfg.world_size == 1 and not _fork_failed else SPAWN


class Child(Protocol):
    pid: int

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class Exit:
    """How a cell process ended: ``returncode`` None after a timeout or a Ctrl-C."""

    returncode: int | None
    interrupted: bool
    launch: str  # fork or spawn: the path this process actually took
    exited_at: float  # wall-clock time the runner saw it end
    start: str = COLD  # warm: forked from a server that had imported the paradigm


def kill_group(proc: Child) -> None:
    """End the child's whole session: SIGTERM, a grace period, then SIGKILL for everyone.

    The final SIGKILL goes to the group even when the leader exited in time, so that no
    rank or DataLoader worker that ignored SIGTERM outlives it.
    """
    signal_tree(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except (subprocess.TimeoutExpired, ServerDied):
        signal_tree(proc.pid, signal.SIGKILL)  # the leader too: it has not been reaped
    else:  # the leader is reaped (its pid may be reused): its group only
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ServerDied):
        proc.wait()


def _end_leftovers(proc: Child) -> None:
    """SIGKILL what the cell process left in its session: the worker ends without the
    interpreter's teardown (``worker.exit_now``), which would have joined its DataLoader
    workers, and nothing of a cell may outlive it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group only: the pid itself has been reaped


def _env_key(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in env.items() if k != SPAWN_TIME_ENV))


def _server(env: dict[str, str]) -> ForkServer:
    """The running server for ``env``, started (or restarted, if it died) when needed."""
    key = _env_key(env)
    server = _servers.pop(key, None)
    if server is not None and not server.alive():
        server.close()
        server = None
    if server is None:
        while len(_servers) >= MAX_SERVERS:
            _servers.pop(next(iter(_servers))).close()
        server = _start_server(env)
    _servers[key] = server  # the most recently used last
    return server


def _start_server(env: dict[str, str]) -> ForkServer:
    started_at, t0 = time.time(), time.perf_counter()
    server = ForkServer(env)
    _server_starts.append({"started_at": started_at, "start_s": time.perf_counter() - t0,
                           "import_torch_s": server.import_torch_s,
                           "threads": env.get("OMP_NUM_THREADS")})
    return server


def server_starts() -> list[dict[str, object]]:
    """The fork servers this process has started so far (the oldest first)."""
    return [dict(start) for start in _server_starts]


def _server_env(cfg: CellConfig, server_env: dict[str, str], warm: bool) -> dict[str, str]:
    """The environment of the server ``cfg`` forks from: a warm one imports its paradigm."""
    return {**server_env, PRELOAD_ENV: cfg.paradigm.value} if warm else server_env


def ready_server(cfg: CellConfig, server_env: dict[str, str], warm: bool = False) -> None:
    """Start the fork server ``cfg`` will be forked by, if it is not running yet: called
    before the cell's clock starts, so that no cell's time includes a server's start (nor a
    warm server's import of its paradigm). A server that cannot start is given up here as it
    would be in ``run_process``."""
    if path_for(cfg) != FORK:
        return
    server_env = _server_env(cfg, server_env, warm)
    try:
        _server(server_env)
    except KeyboardInterrupt:
        close_servers()
        raise
    except (ServerDied, subprocess.TimeoutExpired, OSError, ValueError) as exc:
        _servers.pop(_env_key(server_env), None)
        _give_up_forking(f"the fork server failed ({exc})")


def close_servers() -> None:
    """Stop every fork server this process started (each also exits if this process dies)."""
    while _servers:
        _servers.popitem()[1].close()


atexit.register(close_servers)


def _give_up_forking(why: str) -> None:
    _fork_failed.append(why)
    close_servers()
    print(f"[harness] {why}; cells are spawned from here on (--launch spawn)", file=sys.stderr)


def _wait(proc: Child, timeout: float) -> tuple[int | None, bool]:
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        return None, False
    except KeyboardInterrupt:
        kill_group(proc)
        return None, True


def _fork(cfg: CellConfig, argv: list[str], env: dict[str, str], server_env: dict[str, str],
          cwd: Path, log_path: Path) -> Exit | None:
    """Run the cell forked; None if the fork server failed (nothing of the cell is kept)."""
    log_path.write_bytes(b"")
    try:
        try:
            server = _server(server_env)
            env[SPAWN_TIME_ENV] = repr(time.time())  # the server may just have started
            proc = server.start(argv, env, str(cwd), str(log_path))
        except KeyboardInterrupt:  # before the child's pid was known: the server ends it
            close_servers()
            return Exit(None, True, FORK, time.time())
        returncode, interrupted = _wait(proc, cfg.timeout_s)
    except (ServerDied, subprocess.TimeoutExpired, OSError, ValueError) as exc:
        _servers.pop(_env_key(server_env), None)
        if "proc" in locals():
            signal_tree(proc.pid, signal.SIGKILL)  # the orphan of a server that died
        _give_up_forking(f"the fork server failed ({exc})")
        return None
    exited_at = time.time()
    _end_leftovers(proc)
    return Exit(returncode, interrupted, FORK, exited_at)


def run_process(cfg: CellConfig, cmd: list[str], env: dict[str, str],
                server_env: dict[str, str], cwd: Path, log_path: Path,
                warm: bool = False) -> Exit:
    """Run the cell process ``cmd`` (the worker's command line) to its end or its timeout.

    ``env`` is the child's environment (its spawn time is set here, as the process starts);
    ``server_env`` the fork server's, should one be started; ``warm`` forks it from the
    server that has imported its paradigm (a spawned process is always cold). A fork server
    that dies is given up for the rest of this process, with a
    message, and the cell runs again, spawned: no record is lost.
    """
    if path_for(cfg) == FORK:
        worker_argv = cmd[cmd.index("harness.launch.worker") + 1:]
        server_env = _server_env(cfg, server_env, warm)
        exit_ = _fork(cfg, worker_argv, env, server_env, cwd, log_path)
        if exit_ is not None:
            return dataclasses.replace(exit_, start=WARM if warm else COLD)
        for stale in cwd.glob("rank*.json"):
            stale.unlink()
    with open(log_path, "wb") as log:
        env[SPAWN_TIME_ENV] = repr(time.time())
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                start_new_session=True)
        returncode, interrupted = _wait(proc, cfg.timeout_s)
    exited_at = time.time()
    _end_leftovers(proc)
    return Exit(returncode, interrupted, SPAWN, exited_at)
