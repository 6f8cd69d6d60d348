"""The fork server: the same figures as spawning, no paradigm in the server, the cell's
threads, its own session, and no server outliving its runner (the fault tests in
test_runner.py run both ways: the same statuses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from harness.config import Paradigm
from harness.launch import forkserver, process
from harness.launch.runner import child_env, run_cell
from harness.process_env import LAUNCH_ENV
from tests.conftest import FIXTURES, tiny_cell

PROBE = str(FIXTURES / "fork_probe.py")
PARADIGM_MODULES = ("lightning", "pytorch_lightning", "ignite")


def _run(tmp_path, cfg, path, monkeypatch, rep=0):
    monkeypatch.setenv(LAUNCH_ENV, path)
    return run_cell(cfg, tmp_path / path, rep, environment={})


def test_a_forked_cell_measures_what_a_spawned_one_does(tmp_path, monkeypatch):
    """Lightning's cell: the framework whose import does the most. The paradigms' parity
    tests compare all three forked (tests/harness/training), the DDP ones spawned."""
    cfg = tiny_cell("linear", Paradigm.LIGHTNING, steps=8)
    spawned = _run(tmp_path, cfg, "spawn", monkeypatch)
    forked = _run(tmp_path, cfg, "fork", monkeypatch)
    assert (spawned["launch"], forked["launch"]) == ("spawn", "fork")
    assert spawned["status"] == forked["status"] == "ok"
    a, b = spawned["measurements"], forked["measurements"]
    assert a["weights_sha256"] == b["weights_sha256"]
    assert a["losses"] == b["losses"]
    assert a["runtime"]["threads"] == b["runtime"]["threads"] == cfg.threads
    # the torch import is the server's, paid once, and counted in spawn to first step
    assert b["startup"]["preloaded_s"] > b["startup"]["import_torch_s"] > 0
    assert a["startup"]["preloaded_s"] == 0
    assert b["startup"]["spawn_to_first_step_s"] > b["startup"]["preloaded_s"]
    marks = forked["lifecycle"]
    assert "forked" in marks and "torch_imported" not in marks
    assert "pages_mapped" in marks and forked["pages"]["failed"] == 0  # no bias left
    assert forked["pages"]["pages"] > 0 and "pages" not in spawned
    assert 0 < marks["forked"] < marks["framework_imported"] < marks["first_step"] \
        < marks["rank_written"] <= marks["exited"]
    assert spawned["lifecycle"]["torch_imported"] < spawned["lifecycle"]["framework_imported"]


@pytest.fixture(scope="module")
def probe_out(tmp_path_factory):
    """One file for every probe of the module: the variable naming it is in the fork
    server's environment, so one value lets the probes share a server per thread count."""
    return tmp_path_factory.mktemp("probe") / "probe.json"


def _probe(tmp_path, monkeypatch, path, out, threads=1):
    out.unlink(missing_ok=True)  # what this probe writes, not an earlier one's
    monkeypatch.setenv("FORK_PROBE_OUT", str(out))
    monkeypatch.setenv("PL_FAULT_TOLERANT_TRAINING", "1")  # must not reach the cell
    record = _run(tmp_path, tiny_cell(f"{PROBE}:ModuleProbe", threads=threads, steps=2,
                                      warmup=1, window=1), path, monkeypatch)
    assert record["status"] == "ok", record.get("message")
    return json.loads(out.read_text())


def test_a_forked_cell_starts_its_framework_import_from_what_a_spawned_one_has(
        tmp_path, monkeypatch, probe_out):
    """No paradigm in the server; the same modules loaded when the framework import starts
    (a spawned worker is ``__main__``, a forked one ``harness.launch.worker`` beside the
    server's ``__main__``; the server adds its own shared-pages module and the standard
    library modules it uses, nothing else)."""
    spawned = _probe(tmp_path, monkeypatch, "spawn", probe_out)
    forked = _probe(tmp_path, monkeypatch, "fork", probe_out)
    for seen in (spawned, forked):
        assert not [m for m in seen["modules"] if m.split(".")[0] in PARADIGM_MODULES]
        assert not seen["cuda_initialized"]
        assert seen["lightning_env"] == []
        assert seen["sid"] == seen["pid"]  # its own session: killpg ends its tree
    extra = (set(forked["modules"]) - set(spawned["modules"])
             - {"harness.launch.worker", "harness.launch.pages"})
    assert not {m for m in extra if m.split(".")[0] not in sys.stdlib_module_names}, extra
    assert set(spawned["modules"]) <= set(forked["modules"])
    assert forked["cwd"] == spawned["cwd"].replace("/spawn/", "/fork/")


def test_a_forked_cell_takes_its_own_thread_count(tmp_path, monkeypatch, probe_out):
    for threads in (1, 2):
        seen = _probe(tmp_path, monkeypatch, "fork", probe_out, threads)
        assert seen["threads"] == threads
        assert seen["omp"] == seen["mkl"] == str(threads)


def test_a_server_that_dies_mid_cell_loses_no_record(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "_fork_failed", [])
    record = _run(tmp_path, tiny_cell(f"{PROBE}:KillsTheForkServer"), "fork", monkeypatch)
    assert record["status"] == "ok"
    assert record["launch"] == "spawn"  # the cell ran again, spawned
    assert process.path_for(tiny_cell("linear")) == "spawn"  # for the rest of this process


def test_the_server_ends_when_its_runner_dies(tmp_path):
    """A runner killed with SIGKILL cannot clean up: its server sees the pipe close."""
    script = ("import os, signal, sys\n"
              "from harness.launch.forkserver import ForkServer\n"
              "server = ForkServer(dict(os.environ))\n"
              "print(server.pid, flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    env = child_env(tiny_cell("linear"))
    runner = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300)
    server = int(runner.stdout.split()[0])
    deadline = time.monotonic() + 60
    while psutil.pid_exists(server) and time.monotonic() < deadline:
        try:
            if psutil.Process(server).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    alive = psutil.pid_exists(server) and psutil.Process(server).status() != "zombie"
    assert not alive, "the fork server outlived its runner"


def test_a_bad_launch_path_is_refused(monkeypatch):
    monkeypatch.setenv(LAUNCH_ENV, "vfork")
    with pytest.raises(ValueError, match="expected one of fork, spawn"):
        process.launch_path()


def test_world_size_above_one_is_spawned(monkeypatch):
    monkeypatch.setenv(LAUNCH_ENV, "fork")
    cfg = tiny_cell("linear", Paradigm.PLAIN, world_size=2)
    assert process.path_for(cfg) == "spawn"


# ---- a child before its own session: no process group carries its pid --------------------


def _sleeper() -> subprocess.Popen:
    """A child in this process's group, as a forked cell is until its ``setsid``."""
    return subprocess.Popen(["sleep", "60"])


def test_the_server_ends_a_child_that_has_no_session_yet():
    """The runner gone while its child is still in the server's group: the server's kill
    reaches the child (no ProcessLookupError, no orphan)."""
    child = _sleeper()
    control, runner_end = os.pipe()
    os.close(runner_end)  # the runner is gone
    try:
        assert forkserver._wait_child(child.pid, control) is None
    finally:
        os.close(control)
    assert not psutil.pid_exists(child.pid)  # killed and reaped by ``_wait_child``


class _Bounded:
    """A child whose endless wait gives up after 30 s (a hang shows as a failure)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc, self.pid = proc, proc.pid

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=30 if timeout is None else timeout)


def test_the_runner_ends_a_child_that_has_no_session_yet():
    child = _sleeper()
    process.kill_group(_Bounded(child))
    assert child.returncode == -signal.SIGTERM


def test_a_forked_child_has_its_own_session_before_it_copies_pages(tmp_path, monkeypatch):
    seen = tmp_path / "sid.json"

    def make_own(pages):
        seen.write_text(json.dumps({"sid": os.getsid(0), "pid": os.getpid()}))
        raise RuntimeError("stop here")  # the child reports it and exits

    control, reply = os.pipe()
    pid = os.fork()
    if pid == 0:
        monkeypatch.setattr(forkserver, "make_own", make_own)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the expected traceback
        forkserver._child({}, control, reply, 0.0, forkserver.ResidentPages())
    os.close(control)
    os.close(reply)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 1
    ids = json.loads(seen.read_text())
    assert ids["sid"] == ids["pid"]


def test_a_host_where_forked_memory_would_differ_spawns(tmp_path, monkeypatch):
    """A server that reports it cannot give children a spawned process's memory (no
    MADV_POPULATE_WRITE, no pagemap) is given up: the cell is spawned, nothing is lost."""
    class Unfit:
        def __init__(self, env):
            raise forkserver.ServerUnfit("a forked cell would not have a spawned process's "
                                         "memory here: madvise(MADV_POPULATE_WRITE) failed")

    monkeypatch.setattr(process, "_fork_failed", [])
    monkeypatch.setattr(process, "ForkServer", Unfit)
    record = _run(tmp_path, tiny_cell("linear", steps=2, warmup=1, window=1), "fork",
                  monkeypatch)
    assert (record["status"], record["launch"]) == ("ok", "spawn")
    assert "pages" not in record


def test_a_fork_servers_start_is_in_the_manifest_not_in_a_cells_time(tmp_path, monkeypatch):
    """A server that takes ``SLOW_S`` longer to start: that time stays out of the first
    cell's ``process_wall_s`` (so out of the fixed cost, the ETA and the cost cache), and
    the manifest records the start once."""
    from harness.matrix.matrix import execute

    slow_s = 2.0

    class SlowServer(forkserver.ForkServer):
        def __init__(self, env):
            time.sleep(slow_s)
            super().__init__(env)

    monkeypatch.setenv(LAUNCH_ENV, "fork")
    monkeypatch.setattr(process, "_fork_failed", [])
    monkeypatch.setattr(process, "_servers", {})
    monkeypatch.setattr(process, "ForkServer", SlowServer)
    try:
        summary = execute([tiny_cell("linear", steps=2, warmup=1, window=1)], tmp_path, 1,
                          progress=False)
    finally:
        process.close_servers()
    [cell_wall] = summary["cell_process_wall_s"]
    assert cell_wall <= summary["wall_s"] - slow_s
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    [start] = manifest["fork_servers"]
    assert start["start_s"] >= slow_s and start["threads"] == "1"


def test_the_reports_header_gives_the_fork_servers_start():
    from reports.meta import launch_text

    forked = [{"launch": "fork"}] * 3
    text = launch_text(forked, [{"start_s": 3.14, "threads": "1"}])
    assert text == ("3 forked by a fork server that imported torch once (their process wall "
                    "time excludes it: 1 started in 3.1 s)")
    assert launch_text(forked, None).endswith("(their process wall time excludes it)")
