"""The open-loop load generator: ``python -m harness.serve.loadgen CONFIG.json``.

It pins itself to its own CPU, then for each target rate in turn (rising) sends ``POST
/predict`` at times drawn from a seeded Poisson process (``schedule``: the same times for
every path at the same rate and seed), whether or not earlier requests have been answered:
each send is a timer callback on the event loop at its scheduled time (aiohttp, no limit on
connections). A request's latency runs from its *scheduled* time to the end of its answer, so a
server that falls behind is charged the queue it builds (no coordinated omission); how late the
generator itself sent (``send_lag``) is recorded too. After each point it checks every answer
against the reference outputs, writes the point as a JSON line, and stops after the first point
that fails the SLO or has errors.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from harness.serve.points import Request, Window, summarise
from harness.serve.server import pin

DRAIN_S = 1.0  # beyond the request timeout, for the last answers
START_LEAD_S = 0.05  # the schedule starts this long after it is set up


def schedule(rate: float, duration_s: float, seed: int) -> np.ndarray:
    """Send times (s from the start) of a Poisson process of ``rate`` per second."""
    rng = np.random.default_rng([seed, round(rate * 1000)])
    expected = int(rate * duration_s * 1.5) + 20
    times = np.cumsum(rng.exponential(1.0 / rate, expected))
    while times[-1] < duration_s:  # a rare long draw: extend
        times = np.concatenate([times, times[-1] + np.cumsum(rng.exponential(1 / rate, expected))])
    return times[times < duration_s]


async def _send(session: Any, url: str, body: bytes, request: Request, start: float,
                loop: asyncio.AbstractEventLoop) -> None:
    import aiohttp

    request.sent = loop.time() - start
    try:
        async with session.post(url, data=body,
                                headers={"content-type": "application/json"}) as answer:
            request.body = await answer.read()
            request.status = answer.status
    except TimeoutError:
        request.error = "timeout"
    except aiohttp.ClientConnectionError as exc:
        request.error = f"connection: {type(exc).__name__}"
    except aiohttp.ClientError as exc:
        request.error = f"client: {type(exc).__name__}"
    request.done = loop.time() - start


async def run_point(url: str, times: np.ndarray, bodies: list[bytes], timeout_s: float
                    ) -> list[Request]:
    """Send one request at each of ``times``; every request's record, answered or not."""
    import aiohttp

    loop = asyncio.get_running_loop()
    requests = [Request(i, float(t)) for i, t in enumerate(times)]
    tasks: list[asyncio.Task[None]] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = loop.time() + START_LEAD_S

        def fire(r: Request) -> None:
            tasks.append(loop.create_task(
                _send(session, url, bodies[r.index % len(bodies)], r, start, loop)))

        for r in requests:
            loop.call_at(start + r.scheduled, fire, r)
        end = start + (float(times[-1]) if len(times) else 0.0)
        await asyncio.sleep(max(0.0, end - loop.time()) + 0.001)
        while len(tasks) < len(requests):  # the last timers fire
            await asyncio.sleep(0.001)
        await asyncio.wait(tasks, timeout=timeout_s + DRAIN_S)
    for r in requests:
        if not r.status and r.error is None:
            r.error = "unanswered"
    return requests


def parity(requests: list[Request], references: list[list[float]] | None, tolerance: float
           ) -> dict[str, Any] | None:
    """Every answer's outputs against the reference of its body: bit for bit (as fp32) and
    the largest absolute difference."""
    if references is None:
        return None
    checked = bitwise = within = 0
    worst = 0.0
    first_mismatch = None
    for r in requests:
        if not r.ok or r.body is None:
            continue
        ref = np.asarray(references[r.index % len(references)], dtype=np.float32)
        try:
            got = np.asarray(json.loads(r.body)["outputs"], dtype=np.float32).reshape(-1)
        except (ValueError, KeyError, TypeError):
            got = np.full(0, np.nan, dtype=np.float32)
        checked += 1
        same_shape = got.shape == ref.shape
        diff = float(np.max(np.abs(got - ref))) if same_shape and len(ref) else math.inf
        if same_shape and got.tobytes() == ref.tobytes():
            bitwise += 1
        if diff <= tolerance:
            within += 1
        elif first_mismatch is None:
            first_mismatch = r.index
        worst = max(worst, diff)
    return {"checked": checked, "bitwise": bitwise, "within_tolerance": within,
            "max_abs_diff": worst, "tolerance": tolerance, "first_mismatch": first_mismatch}


async def warm(url: str, bodies: list[bytes], count: int, timeout_s: float) -> None:
    """``count`` requests one after another, before any point: the server's first calls
    (TorchScript's profiling runs, lazy set-up) fall outside every measurement."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for i in range(count):
            try:
                async with session.post(url, data=bodies[i % len(bodies)],
                                        headers={"content-type": "application/json"}) as answer:
                    await answer.read()
            except (aiohttp.ClientError, TimeoutError):
                return  # the first point's requests will say what is wrong


def sweep(config: dict[str, Any], out: Path) -> None:
    """Every rate of the configuration in turn, one JSON line each, until one fails."""
    bodies = [b.encode() for b in config["bodies"]]
    asyncio.run(warm(config["url"], bodies, config["warmup_requests"],
                     config["request_timeout_s"]))
    w = Window(config["windows"], config["stable_windows"], config["stable_tolerance"])
    for rate in config["rates"]:
        times = schedule(rate, config["duration_s"], config["seed"])
        requests = asyncio.run(run_point(config["url"], times, bodies,
                                         config["request_timeout_s"]))
        point = summarise(requests, rate, config["duration_s"], config["warmup_s"],
                          config["slo_ms"], w)
        point["parity"] = parity(requests, config.get("references"), config["tolerance"])
        with open(out, "a") as f:
            f.write(json.dumps(point) + "\n")
        if not point["passed"]:
            break


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    pin(config.get("cpu"))
    sweep(config, Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
