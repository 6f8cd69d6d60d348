"""A server process: started in its own process group on 127.0.0.1, waited for through
``GET /health``, stopped and reaped, whatever happens (an error, Ctrl-C, a SIGTERM).

``ServerProcess`` is a context manager; leaving it (normally or by an exception) sends the
whole group SIGTERM, then SIGKILL after a grace period, and waits for the leader, so that
LitServe's worker processes go too and nothing is left behind.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

STOP_GRACE_S = 5.0
LOG_TAIL_CHARS = 1500


class ServerFailed(RuntimeError):
    """The server did not come up; ``status`` is ``failed`` (it exited) or ``unhealthy``
    (it kept running but never answered ``/health`` in time)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def free_port() -> int:
    """A port nothing listens on now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int, timeout_s: float = 1.0) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


class ServerProcess:
    """``argv`` run as a server listening on ``port``; its output goes to ``log``."""

    def __init__(self, argv: Sequence[str], port: int, log: Path,
                 health_timeout_s: float = 120.0) -> None:
        self.argv, self.port, self.log = list(argv), port, log
        self.health_timeout_s = health_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = float("nan")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> ServerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.perf_counter() - start
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.health_timeout_s
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ServerFailed("failed", f"the server exited with code {code} before it "
                                   f"answered /health: {self.log_tail()}")
            if healthy(self.port):
                return
            time.sleep(0.1)
        raise ServerFailed("unhealthy", f"the server did not answer /health on port "
                           f"{self.port} within {self.health_timeout_s:g} s: {self.log_tail()}")

    def exit_code(self) -> int | None:
        """The server's exit code if it has ended (a server that dies mid-run), else None."""
        return self.proc.poll() if self.proc else None

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL to what is left after the grace period; the leader
        is reaped (the group's other members are its children, or orphans init reaps)."""
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + STOP_GRACE_S
            while time.monotonic() < deadline:
                self.proc.poll()  # reap the leader, so that only live members count
                if not _group_alive(self.proc.pid):
                    break
                time.sleep(0.05)
            else:
                continue
            break
        self.proc.wait()

    def log_tail(self) -> str:
        try:
            text = self.log.read_text(errors="replace").strip()
        except OSError:
            return "(no log)"
        text = text[-LOG_TAIL_CHARS:] if text else "(its log is empty)"
        return " | ".join(line for line in text.splitlines() if line.strip())


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def run_to_end(argv: Sequence[str], log: Path, timeout_s: float) -> int:
    """Run ``argv`` in its own process group and return its exit code; on a timeout, an
    error or Ctrl-C the group is killed and reaped first (a timeout returns -9)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return -signal.SIGKILL
    finally:
        if proc.poll() is None or _group_alive(proc.pid):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
