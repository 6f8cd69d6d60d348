"""Real servers (FastAPI on uvicorn; LitServe): bad input is a 4xx with a clear message, the
server keeps serving and answers the next good request exactly; faults leave a clear record
and no process behind."""

import http.client
import json
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from harness.serve import sweep
from harness.serve.prepare import prepare
from harness.serve.process import ServerFailed, ServerProcess, free_port, healthy
from harness.serve.spec import ServeSpec, Target

pytestmark = pytest.mark.slow
FAKE = Path(__file__).with_name("fake_server.py")
SPEC = ServeSpec("tabular", "tiny", paradigms=("plain", "lightning"),
                 paths=("model", "litserve"), rates=(20.0,), duration_s=0.8, warmup_s=0.1,
                 warmup_requests=2, repetitions=1, health_timeout_s=120)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    return folder, prepare(SPEC, folder)


def _post(port, body, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/predict", body, {"content-type": "application/json",
                                            **(headers or {})})
    answer = conn.getresponse()
    status, text = answer.status, answer.read()
    conn.close()
    return status, text


def _children(besides=()):
    """This process's live descendants, those in ``besides`` (a fixture's server) aside."""
    return [p for p in psutil.Process().children(recursive=True) if p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE and p.pid not in besides]


@pytest.fixture
def running():
    """The descendants alive before the test: what it starts must not outlive it."""
    return {p.pid for p in _children()}


@pytest.fixture(scope="module", params=["plain/model", "lightning/litserve"])
def server(request, prepared):
    folder, prep = prepared
    paradigm, path = request.param.split("/")
    port = free_port()
    config = sweep.server_config(SPEC, prep, Target(paradigm, path), port, None)
    file = folder / f"{paradigm}-{path}.json"
    file.write_text(json.dumps(config))
    with ServerProcess([sys.executable, "-m", "harness.serve.server", str(file)], port,
                       folder / f"{paradigm}-{path}.log", 120):
        yield port, prep


BAD = [
    ("malformed JSON", b'{"inputs": [[1.0, 2.0', None, "JSON decode error"),
    ("empty body", b"", None, "Field required"),
    ("no inputs", b'{"rows": [[1.0]]}', None, "Field required"),
    ("wrong shape", json.dumps({"inputs": [[1.0, 2.0]]}).encode(), None, "shape (n, 12)"),
    ("wrong dtype", json.dumps({"inputs": [["x"] * 12]}).encode(), None, "must be numbers"),
    ("oversized", b" " * (SPEC.max_body_bytes + 1), None, "over the limit"),
]


@pytest.mark.parametrize(("case", "body", "headers", "says"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_and_the_next_request_is_answered_exactly(server, case, body,
                                                                     headers, says):
    port, prep = server
    status, text = _post(port, body, headers)
    assert 400 <= status < 500, (status, text)
    assert says in text.decode()
    status, text = _post(port, prep.bodies[3])
    assert status == 200
    outputs = np.asarray(json.loads(text)["outputs"], dtype=np.float32).reshape(-1)
    assert outputs.tobytes() == np.asarray(prep.references[3], dtype=np.float32).tobytes()


def test_a_port_in_use_is_a_failed_record_and_nothing_is_left(prepared, running):
    folder, prep = prepared
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        record = sweep.measure(SPEC, prep, None, 0, folder / "taken", None, None, port=port)
    assert record["status"] == "failed"
    assert "exited with code" in record["message"] and "address already in use" in \
        record["message"].lower()
    assert not _children(running)


def test_a_server_that_never_becomes_healthy_is_stopped(tmp_path, running):
    port = free_port()
    server = ServerProcess([sys.executable, str(FAKE), str(port), "0", "unhealthy"], port,
                           tmp_path / "u.log", health_timeout_s=2)
    with pytest.raises(ServerFailed) as failed:
        server.__enter__()
    assert failed.value.status == "unhealthy" and "/health" in str(failed.value)
    assert server.proc is not None and server.proc.poll() is not None
    assert not healthy(port) and not _children(running)


def test_a_server_that_dies_mid_run_is_recorded_and_the_run_goes_on(prepared, running):
    folder, prep = prepared
    spec = ServeSpec(SPEC.workload, SPEC.size, paradigms=("plain",), paths=("model",),
                     rates=(20.0, 30.0, 40.0), duration_s=1.5, warmup_s=0.1, warmup_requests=2,
                     repetitions=1, request_timeout_s=2)

    port = free_port()

    def kill_server_once_healthy():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not healthy(port, 0.2):
            time.sleep(0.1)
        time.sleep(1.0)  # into the sweep
        for p in _children(running):
            if "harness.serve.server" in " ".join(p.cmdline()):
                p.kill()

    killer = threading.Thread(target=kill_server_once_healthy)
    killer.start()
    record = sweep.measure(spec, prep, Target("plain", "model"), 0, folder / "died", None,
                           None, port=port)
    killer.join()
    assert record["status"] == "died", record
    assert "during the sweep" in record["message"]
    assert record["points"] and record["points"][-1]["errors"] > 0
    assert not _children(running)
    after = sweep.measure(spec, prep, None, 0, folder / "after", None, None)
    assert after["status"] == "ok" and not _children(running)


def test_a_server_ends_when_the_harness_that_started_it_is_killed(tmp_path):
    import subprocess

    from harness.serve.protocol import InputSpec

    port = free_port()
    config = tmp_path / "noop.json"
    config.write_text(json.dumps({"kind": "noop", "port": port, "cpu": None,
                                  "input": InputSpec((3,), "float32").to_dict()}))
    starter = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-m', "
               f"'harness.serve.server', {str(config)!r}], start_new_session=True); "
               "print(p.pid, flush=True); time.sleep(600)")
    harness = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE)
    server = psutil.Process(int(harness.stdout.readline()))
    deadline = time.monotonic() + 120
    while not healthy(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert healthy(port)
    harness.kill()  # SIGKILL: it cannot stop the server itself
    harness.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.is_running() and \
            server.status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.1)
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
    assert not healthy(port)
