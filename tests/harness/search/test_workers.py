"""Several processes sharing one study through a PostgreSQL server started here from the
distribution's package (skipped, with the reason, where none can be started). Two processes
sharing a journal file are tested with Ctrl-C and resume (test_faults.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from glob import glob
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="needs Optuna: pip install '.[search]'")

from harness.search import analysis as an
from harness.search.results import load_studies
from tests.harness.search.conftest import TRIAL, hpo_here


def _trials_by_worker(study) -> dict[int, int]:
    out: dict[int, int] = {}
    for t in an.counted(study):
        out[t["worker"]] = out.get(t["worker"], 0) + 1
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server():
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
    port, data = _free_port(), root / "data"
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


def test_postgresql_storage_shared_by_two_worker_processes(tmp_path):
    with postgres_server() as url:
        assert hpo_here("--workload", "linear", *TRIAL, "--paradigm", "plain", "--trials",
                        "4", "--workers", "2", "--storage", url, "--out", str(tmp_path),
                        "--no-report") == 0
        (study,) = load_studies(tmp_path)
        stored = optuna.load_study(study_name=study["study"], storage=url).get_trials()
    assert [t.state.name for t in stored] == ["COMPLETE"] * 4  # all in the one database
    assert _trials_by_worker(study) == {0: 2, 1: 2}  # written there by two processes
    assert len({t["pid"] for t in study["trials"]}) == 2
    assert study["spec"]["storage"] == url  # no password to hide
