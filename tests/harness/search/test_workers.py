"""Several processes sharing one study through a server started here from the distribution's
package (skipped, with the reason, where none can be started): PostgreSQL and Redis. Two
processes sharing a journal file are tested with Ctrl-C and resume (test_faults.py)."""

from __future__ import annotations

import threading

import pytest

optuna = pytest.importorskip("optuna", reason="needs Optuna: pip install '.[search]'")

from harness.search import analysis as an
from harness.search.results import load_studies
from harness.search.storage import open_storage
from tests.harness.search.conftest import TRIAL, hpo_here
from tests.harness.search.servers import postgres_server, redis_server


def _trials_by_worker(study) -> dict[int, int]:
    out: dict[int, int] = {}
    for t in an.counted(study):
        out[t["worker"]] = out.get(t["worker"], 0) + 1
    return out


def _two_workers(url: str, out) -> dict:
    assert hpo_here("--workload", "linear", *TRIAL, "--paradigm", "plain", "--trials", "4",
                    "--workers", "2", "--storage", url, "--out", str(out), "--no-report") == 0
    (study,) = load_studies(out)
    stored = optuna.load_study(study_name=study["study"], storage=open_storage(url))
    assert [t.state.name for t in stored.get_trials()] == ["COMPLETE"] * 4  # all in one place
    assert _trials_by_worker(study) == {0: 2, 1: 2}  # written there by two processes
    assert len({t["pid"] for t in study["trials"]}) == 2
    return study


def test_postgresql_storage_shared_by_two_worker_processes(tmp_path):
    with postgres_server() as url:
        study = _two_workers(url, tmp_path)
    assert study["spec"]["storage"] == url  # no password to hide


class ConnectionWatch(threading.Thread):
    """Counts the server's client connections every 20 ms (its own included)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.counts, self.halt = url, [], threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.halt.wait(0.02):
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                   "backend_type = 'client backend'").fetchone()
                self.counts.append(int(row[0]))


def test_four_workers_on_postgresql_hold_a_bounded_number_of_connections(tmp_path):
    """Each worker keeps one connection (pool_size 1), two while Optuna sets up (overflow
    1); the command's own checks and snapshots open one per use (NullPool)."""
    with postgres_server() as url:
        watch = ConnectionWatch(url)
        watch.start()
        try:
            assert hpo_here("--workload", "linear", *TRIAL, "--paradigm", "plain", "--trials",
                            "8", "--workers", "4", "--storage", url, "--out", str(tmp_path),
                            "--no-report") == 0
        finally:
            watch.halt.set()
            watch.join()
    (study,) = load_studies(tmp_path)
    assert _trials_by_worker(study) == {0: 2, 1: 2, 2: 2, 3: 2}
    assert max(watch.counts) >= 5  # the four workers were seen, with the watch itself
    assert max(watch.counts) <= 2 * 4 + 1 + 1  # workers, the watch, one of the command's


def test_redis_storage_shared_by_two_worker_processes(tmp_path):
    """``redis://`` through Optuna's journal Redis backend, a password on the server."""
    with redis_server() as server:
        study = _two_workers(server.url, tmp_path)
    assert study["spec"]["storage"] == server.url.replace(server.password, "***")
    assert_nowhere(server.password, tmp_path)


def assert_nowhere(password: str, out) -> None:
    """The password is in no file of the run folder: results, specs, logs, records."""
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.parent.name == "specs" for p in files) and any(p.suffix == ".log"
                                                                 for p in files)
    for path in files:
        assert password.encode() not in path.read_bytes(), path


def test_workers_get_the_storage_url_from_their_environment_not_the_spec_file(
        tmp_path, monkeypatch):
    from harness.search.processes import StudyProcesses
    from harness.search.spec import StudySpec
    from harness.search.storage import STORAGE_ENV
    from tests.conftest import tiny_cell

    url = "redis://:s3cr%2Ft@127.0.0.1:1/0"
    spec = StudySpec(tiny_cell("linear"), trials=1, storage=url)
    seen = {}

    class Popen:  # records what a worker would be started with
        def __init__(self, cmd, env, **kwargs):
            seen["env"] = env
            seen["spec"] = (tmp_path / "specs" / f"{spec.name}.json").read_text()

    import harness.search.processes as processes

    monkeypatch.setattr(processes.subprocess, "Popen", Popen)
    StudyProcesses(spec, tmp_path).start("s", {})
    assert seen["env"][STORAGE_ENV] == url
    assert "s3cr" not in seen["spec"] and "redis://:***@127.0.0.1:1/0" in seen["spec"]
