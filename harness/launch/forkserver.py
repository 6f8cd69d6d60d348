"""A pre-started parent that has imported torch, and forks one fresh process per cell repetition.

``python -m harness.launch.forkserver`` is started by the runner (``ForkServer``), once per run
and thread count, on first use: a *bare* server, whose children pay their paradigm's import
(cold repetitions: the start-up figures), and, per paradigm, a *warm* one that has imported
that paradigm's adapter as well (``PARADIGM_BENCH_PRELOAD``), whose children start straight
at building the workload (steady-state repetitions). Each imports what every spawned worker
imports before the paradigm's timed import (torch and ``torch._dynamo``,
``harness.launch.worker`` and the harness modules its ``prepare`` needs, see
``worker.PREPARE_MODULES``) and, the warm ones, their paradigm's adapter; nothing else. It
never runs a torch op and never touches CUDA itself (a framework's import may ask whether CUDA
is there, which creates no context), so that a child's thread settings take effect and a
child creates its own CUDA context. Then, for each request, it forks a child
that puts itself in its own session, sends its output to the cell's log, takes the cell's
environment and folder exactly as a spawned worker gets them, and runs ``worker.main``.

The protocol is one JSON object per line: the server says ``ready`` (with its measured torch
import and its spawn-to-ready time), then answers each request with the child's ``pid`` and,
once the child has exited, its ``returncode`` (``-N`` for a signal, as ``subprocess`` reports
it). The server exits when its control pipe closes, so it never outlives the runner; a child
still running then is killed with its session.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

from harness.launch.pages import ResidentPages, make_own, resident_pages, unfit

PRELOAD_ENV = "PARADIGM_BENCH_PRELOAD"  # a warm server's paradigm, imported before any fork
STARTUP_TIMEOUT_S = 300.0  # importing torch on a cold, loaded machine
POLL_MS = 100  # how often the server checks on a child where pidfd_open is missing


# ---- the server side: runs inside ``python -m harness.launch.forkserver`` -------------------


def _read_line(fd: int, buffer: bytearray) -> bytes:
    """The next line from ``fd`` (without its newline), or b"" at end of file."""
    while b"\n" not in buffer:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b""
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def _send(fd: int, message: dict[str, Any]) -> None:
    os.write(fd, (json.dumps(message) + "\n").encode())


def _child(request: dict[str, Any], control: int, reply: int, preloaded_s: float,
           pages: ResidentPages) -> None:
    """The forked cell process: set up as a spawned worker would be, run it, never return."""
    from harness.launch import worker

    worker.LIFECYCLE.clear()
    worker.mark("forked")
    code = 1
    try:
        # its own session first: from here on the runner's and the server's killpg end it
        # and everything it starts (before it, no process group carries its pid)
        os.setsid()
        _own_pages(pages)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the server ignores it
        os.close(control)
        os.close(reply)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])  # exactly runner.child_env's, as a spawned worker's
        sys.path[0] = request["cwd"]  # where ``python -m`` in the cell's folder puts it
        sys.argv = [worker.__file__, *request["argv"]]
        worker.PRELOADED_S = preloaded_s
        code = worker.main(request["argv"])
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # a failure before the worker could write its rank file
        traceback.print_exc()
    finally:
        worker.exit_now(code)


def signal_tree(pid: int, signum: int) -> None:
    """Send ``signum`` to the session ``pid`` leads, or to ``pid`` alone where no process
    group carries its number (a forked child before its ``setsid``); nothing if it is gone."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _own_pages(pages: ResidentPages) -> None:
    """Give this child a spawned worker's memory state (the same RSS, no copy-on-write) and
    say how far that went: ``worker.PAGES`` goes into its rank file, and only a complete
    copy is marked ``pages_mapped``."""
    from harness.launch import worker

    owned = make_own(pages)
    worker.PAGES = owned.to_json()
    if owned.complete:
        worker.mark("pages_mapped")  # the fork server's pages are now this child's own
        return
    worker.mark("pages_incomplete")
    print(f"[harness] warning: {owned.failed} of {owned.pages + owned.failed} pages of the fork "
          f"server stayed shared ({owned.problem}): this cell's memory and import figures are "
          f"not a spawned process's", file=sys.stderr)


def _wait_child(pid: int, control: int) -> int | None:
    """The child's return code; None if the control pipe closed first (the child is killed)."""
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    poller = select.poll()
    poller.register(control, select.POLLIN | select.POLLHUP)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    try:
        while True:
            events = dict(poller.poll(None if pidfd is not None else POLL_MS))
            if events.get(control, 0) & select.POLLHUP:
                signal_tree(pid, signal.SIGKILL)  # the runner is gone: leave nothing behind
                os.waitpid(pid, 0)
                return None
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def preload(paradigm: str | None) -> None:
    """A warm server's one difference from the bare one: its paradigm's adapter (and with
    it the framework) imported, so that its children start steady-state repetitions without
    paying that import. Every warm server is prepared this same way, the plain loop's too."""
    if not paradigm:
        return
    from harness.config import Paradigm
    from harness.training.adapters import load_adapter

    load_adapter(Paradigm(paradigm))


def serve(spawned_at: float) -> None:
    """Import, say ready, then fork a child per request until the control pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    control, reply = os.dup(0), os.dup(1)  # the protocol's pipes, away from print()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    from harness.launch import worker

    worker.import_harness()
    preload(os.environ.get(PRELOAD_ENV))
    pages = resident_pages()
    preloaded_s = time.time() - spawned_at
    _send(reply, {"ready": True, "pid": os.getpid(), "import_torch_s": worker.IMPORT_TORCH_S,
                  "preloaded_s": preloaded_s, "unfit": unfit(pages)})
    buffer = bytearray()
    while line := _read_line(control, buffer):
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, control, reply, preloaded_s, pages)
        _send(reply, {"pid": pid})
        returncode = _wait_child(pid, control)
        if returncode is None:
            return
        _send(reply, {"returncode": returncode})


# ---- the runner's side -----------------------------------------------------------------------


class ServerDied(RuntimeError):
    """The fork server ended (or never got ready): the caller falls back to spawning."""


class ServerUnfit(ServerDied):
    """Forked children could not be given a spawned process's memory on this host."""


class ForkServer:
    """One running fork server, started with the environment its children's libraries see
    at load time (``runner.child_env`` of the cells it serves: the same thread settings)."""

    def __init__(self, env: dict[str, str]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "harness.launch.forkserver"], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        self._buffer = bytearray()
        try:
            ready = self._receive(STARTUP_TIMEOUT_S)
        except BaseException:  # not ready in time, or Ctrl-C: it must not linger
            self.close()
            raise
        if ready.get("unfit"):
            self.close()
            raise ServerUnfit(f"a forked cell would not have a spawned process's memory here: "
                              f"{ready['unfit']}")
        self.pid: int = ready["pid"]
        self.import_torch_s: float = ready["import_torch_s"]
        self.preloaded_s: float = ready["preloaded_s"]

    def _receive(self, timeout: float | None) -> dict[str, Any]:
        """The server's next message; TimeoutExpired if none came in ``timeout`` seconds."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not select.select([fd], [], [], left)[0]:
                raise subprocess.TimeoutExpired("fork server", timeout or 0.0)
            chunk = os.read(fd, 65536)
            if not chunk:
                self.close()
                raise ServerDied(f"the fork server (pid {self._proc.pid}) exited "
                                 f"with code {self._proc.returncode}")
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer[:] = rest
        return json.loads(line)

    def start(self, argv: list[str], env: dict[str, str], cwd: str, log: str) -> ForkedChild:
        """Fork a worker running ``argv`` (config and out folder) in ``cwd``, output to ``log``."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(
                {"argv": argv, "env": env, "cwd": cwd, "log": log}) + "\n").encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self.close()
            raise ServerDied(f"the fork server (pid {self._proc.pid}) is gone: {exc}") from exc
        return ForkedChild(self, self._receive(STARTUP_TIMEOUT_S)["pid"])

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        """Close the control pipe (the server exits) and reap it."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@dataclass
class ForkedChild:
    """A forked cell process, with the part of ``subprocess.Popen`` the runner uses."""

    server: ForkServer
    pid: int
    returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """Its return code; ``subprocess.TimeoutExpired`` if still running after ``timeout``."""
        if self.returncode is None:
            self.returncode = int(self.server._receive(timeout)["returncode"])
        return self.returncode


if __name__ == "__main__":
    serve(float(os.environ.get("PARADIGM_BENCH_SPAWN_TIME", time.time())))
