"""Throw-away storage servers for the search tests, started here from the distribution's
packages on a free port (skipped, with the reason, where none can be started): PostgreSQL
(``postgresql``) and Redis (``redis-server``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import pytest

REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server with a password, no persistence, in a temporary folder; the password
    goes in on its standard input (``redis-server -``), not on a command line others see."""

    def __init__(self, password: str, persist: bool = False) -> None:
        self.password, self.port, self.persist = password, free_port(), persist
        self.root = Path(tempfile.mkdtemp(prefix="pb-redis-"))
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # persist: every write on disk before it is answered, so that a killed server comes
        # back with all it acknowledged (as a production Redis with AOF would)
        appendonly = "yes\nappendfsync always" if self.persist else "no"
        config = (f"port {self.port}\nbind 127.0.0.1\nsave \"\"\nappendonly {appendonly}\n"
                  f"dir {self.root}\nrequirepass {self.password}\n")
        log = open(self.root / "log", "a")  # noqa: SIM115 - the server's, closed with it
        self.proc = subprocess.Popen([REDIS_SERVER, "-"], stdin=subprocess.PIPE, stdout=log,
                                     stderr=subprocess.STDOUT, text=True)
        self.proc.stdin.write(config)  # type: ignore[union-attr]
        self.proc.stdin.close()  # type: ignore[union-attr]
        log.close()
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            time.sleep(0.05)
        self.kill()
        pytest.skip(f"redis-server did not start: {(self.root / 'log').read_text()[-300:]}")

    def kill(self) -> None:
        """SIGKILL: the server dies as a crashed host's would, with no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def redis_server(password: str = "pb-Secret-7f3a", persist: bool = False
                 ) -> Iterator[RedisServer]:
    if not os.path.exists(REDIS_SERVER):
        pytest.skip(f"no {REDIS_SERVER} (apt-get install redis-server)")
    server = RedisServer(password, persist)
    try:
        server.start()
        yield server
    finally:
        server.kill()
        shutil.rmtree(server.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free port, run as the ``postgres`` system user
    (initdb and pg_ctl refuse root); skips the test where none can be started."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    bindir = Path(found[-1]).parent
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="pb-postgres-"))
    if as_user:
        shutil.chown(root, "postgres")
    port, data = free_port(), root / "data"
    ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        init = subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U",
                               "postgres", "--auth=trust", "-E", "UTF8"],
                              capture_output=True, text=True, timeout=120)
        if init.returncode:
            pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
        start = subprocess.run([*ctl, "-w", "-l", str(root / "log"), "-o",
                                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
                                "-c fsync=off", "start"], capture_output=True, text=True,
                               timeout=120)
        if start.returncode:
            pytest.skip(f"pg_ctl start failed: {start.stderr.strip()[-300:]}")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
