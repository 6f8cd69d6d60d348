"""The generator is open-loop: against a server that answers one request every 50 ms, offered
40 requests/s, the queue it builds shows in the latencies, measured from the scheduled send
time (a closed-loop client, waiting for each answer before the next, would see ~50 ms)."""

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np

from harness.serve.loadgen import run_point, schedule
from harness.serve.points import Window, summarise
from harness.serve.process import ServerProcess, free_port

FAKE = Path(__file__).with_name("fake_server.py")


def test_a_slow_server_is_charged_its_queue(tmp_path):
    port = free_port()
    with ServerProcess([sys.executable, str(FAKE), str(port), "50"], port,
                       tmp_path / "slow.log", health_timeout_s=30):
        times = schedule(40.0, 1.5, seed=0)
        requests = asyncio.run(run_point(f"http://127.0.0.1:{port}/predict", times,
                                         [b"{}"], timeout_s=20))
    point = summarise(requests, 40.0, 1.5, 0.0, slo_ms=100, w=Window())
    assert point["errors"] == 0
    # ~60 requests need ~3 s of serial service: the last wait well over a second
    assert point["p99_ms"] > 500 and point["max_ms"] > 5 * 50
    assert not point["passed"]
    sent_lag = np.array([r.sent - r.scheduled for r in requests])
    assert np.median(sent_lag) < 0.5  # sent on time: the wait is the server's queue


def test_ctrl_c_stops_and_reaps_the_server(tmp_path):
    port = free_port()
    try:
        with ServerProcess([sys.executable, str(FAKE), str(port), "0"], port,
                           tmp_path / "s.log", health_timeout_s=30) as server:
            pid = server.pid
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
