"""A serving comparison run end to end: prepare, then for each repetition the generator's
ceiling (the no-op endpoint) and every target, each on its own server, swept over the rates.

Targets run in a rotated order each repetition (drift spreads over them). The server is pinned
to the first allowed CPU and the generator to the second (on one CPU they share it, and the
record says so). Every (repetition, target) leaves a record in ``serve.json``, rewritten
after each, with a status: ``ok``; ``failed`` (the server exited before ``/health``, e.g. a
port in use), ``unhealthy`` (no ``/health`` in time), ``died`` (it exited mid-sweep: the
points measured until then are kept), ``error`` (the generator failed), ``unsupported`` (a
missing package or an artifact its exporter refused, with the message). A failing target never
stops the others; Ctrl-C stops the servers and the generator and keeps what was written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness.results import write_json_atomic
from harness.serve.prepare import Prepared, prepare
from harness.serve.process import ServerFailed, ServerProcess, free_port, run_to_end
from harness.serve.spec import (
    BATCH_TIMEOUT_S,
    CEILING_BEYOND,
    INSTALL,
    MAX_BATCH_SIZE,
    NOOP,
    STATIC_ROWS_PATHS,
    ServePath,
    ServeSpec,
    Target,
)

RESULTS = "serve.json"
PACKAGES = ("torch", "pytorch-lightning", "pytorch-ignite", "fastapi", "uvicorn", "litserve",
            "aiohttp", "pydantic", "onnxruntime", "uvloop", "httptools")
GENERATOR_SLACK_S = 30.0


def cpus() -> tuple[int | None, int | None, str | None]:
    """The server's CPU, the generator's, and a warning when they must share one."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None, "no CPU affinity on this platform: server and generator unpinned"
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return allowed[0], allowed[0], "one CPU: the server and the generator share it"
    return allowed[0], allowed[1], None


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def environment(server_cpu: int | None, generator_cpu: int | None) -> dict[str, Any]:
    from harness.measure.environment import capture_host

    host = capture_host()
    return {"cpu": host["cpu"], "cpu_count": host["cpu_count"], "python": host["python"],
            "git_commit": host["git_commit"], "git_dirty": host["git_dirty"],
            "gpus": host["gpus"], "packages": {p: _version(p) for p in PACKAGES},
            "server_cpu": server_cpu, "generator_cpu": generator_cpu,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "batching": {"max_batch_size": MAX_BATCH_SIZE, "batch_timeout_s": BATCH_TIMEOUT_S}}


def server_config(spec: ServeSpec, prepared: Prepared, target: Target | None, port: int,
                  cpu: int | None) -> dict[str, Any]:
    """What the server process reads: ``target`` None is the no-op endpoint."""
    input_spec = prepared.input_spec.to_dict()
    config: dict[str, Any] = {
        "kind": NOOP, "port": port, "cpu": cpu, "workload": spec.workload, "size": spec.size,
        "seed": spec.seed, "weights": str(prepared.weights), "device": spec.device,
        "threads": spec.threads, "request_timeout_s": spec.request_timeout_s,
        "input": input_spec}
    if target is None:
        return config
    path = ServePath(target.path)
    config.update(kind="litserve" if path is ServePath.LITSERVE else "fastapi",
                  paradigm=target.paradigm, path=target.path)
    if path in STATIC_ROWS_PATHS:
        input_spec["exact_rows"] = spec.rows
    artifact = prepared.artifacts.get((target.paradigm, target.path))
    if artifact is not None:
        config["artifact"] = str(artifact)
    return config


def generator_config(spec: ServeSpec, prepared: Prepared, url: str, repetition: int,
                     cpu: int | None, path: str | None) -> dict[str, Any]:
    rates = list(spec.rates)
    if path is None:  # the ceiling: on past the grid until the client and stack give out
        rates += [spec.rates[-1] * k for k in CEILING_BEYOND]
    return {"url": url, "rates": rates, "duration_s": spec.duration_s,
            "warmup_s": spec.warmup_s, "warmup_requests": spec.warmup_requests,
            "slo_ms": spec.slo_ms, "seed": spec.seed + repetition,
            "request_timeout_s": spec.request_timeout_s, "windows": spec.windows,
            "stable_windows": spec.stable_windows, "stable_tolerance": spec.stable_tolerance,
            "cpu": cpu, "bodies": [b.decode() for b in prepared.bodies],
            "references": None if path is None else prepared.references,
            "tolerance": 0.0 if path is None else prepared.tolerance(path, spec.device)}


def limit(points: list[dict[str, Any]]) -> tuple[float, bool]:
    """The highest target rate of the points that passed before the first that did not
    (0 when the first failed), and whether a point failed (else it is only a lower bound)."""
    best = 0.0
    for point in points:
        if not point["passed"]:
            return best, True
        best = point["target_rps"]
    return best, False


def parity_verdict(points: list[dict[str, Any]]) -> str | None:
    found = [p["parity"] for p in points if p.get("parity")]
    if not found:
        return None
    checked = sum(p["checked"] for p in found)
    if checked == 0:
        return "unchecked"
    if sum(p["bitwise"] for p in found) == checked:
        return "bitwise"
    if sum(p["within_tolerance"] for p in found) == checked:
        return "within tolerance"
    return "differs"


def unsupported(spec: ServeSpec, prepared: Prepared, target: Target | None) -> str | None:
    if target is None:
        return None
    refused = prepared.refused.get((target.paradigm, target.path))
    if refused:
        return refused
    if target.path == ServePath.LITSERVE.value and _version("litserve") is None:
        return f"LitServe is not installed: {INSTALL}"
    return None


def measure(spec: ServeSpec, prepared: Prepared, target: Target | None, repetition: int,
            folder: Path, server_cpu: int | None, generator_cpu: int | None,
            port: int | None = None) -> dict[str, Any]:
    """One server swept over the rates; the record says how it went."""
    name = "noop" if target is None else f"{target.paradigm}-{target.path}"
    record: dict[str, Any] = {
        "repetition": repetition, "paradigm": target.paradigm if target else None,
        "path": target.path if target else NOOP, "points": [], "status": "ok",
        "server": NOOP if target is None else ("litserve" if target.path == "litserve"
                                               else "fastapi")}
    reason = unsupported(spec, prepared, target)
    if reason:
        return {**record, "status": "unsupported", "message": reason}
    work = folder / "work" / f"r{repetition}" / name
    work.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = server_config(spec, prepared, target, port, server_cpu)
    (work / "server.json").write_text(json.dumps(config))
    argv = [sys.executable, "-m", "harness.serve.server", str(work / "server.json")]
    try:
        with ServerProcess(argv, port, work / "server.log", spec.health_timeout_s) as server:
            record.update(startup_s=server.startup_s, port=port)
            gen = generator_config(spec, prepared, f"http://127.0.0.1:{port}/predict",
                                   repetition, generator_cpu, None if target is None
                                   else target.path)
            record.update(_generate(spec, gen, work))
            code = server.exit_code()
            if code is not None:
                record.update(status="died", message=f"the server exited with code {code} "
                              f"during the sweep: {server.log_tail()}")
    except ServerFailed as exc:
        return {**record, "status": exc.status, "message": str(exc)}
    record["limit_rps"], record["limit_reached"] = limit(record["points"])
    record["parity"] = parity_verdict(record["points"])
    return record


def _generate(spec: ServeSpec, gen: dict[str, Any], work: Path) -> dict[str, Any]:
    (work / "generator.json").write_text(json.dumps(gen))
    out = work / "points.jsonl"
    out.unlink(missing_ok=True)
    budget = len(gen["rates"]) * (spec.duration_s + spec.request_timeout_s + 3) + GENERATOR_SLACK_S
    code = run_to_end([sys.executable, "-m", "harness.serve.loadgen", str(work / "generator.json"),
                       str(out)], work / "generator.log", budget)
    points = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    if code != 0:
        log = (work / "generator.log").read_text(errors="replace")[-1500:]
        return {"points": points, "status": "error",
                "message": f"the load generator exited with code {code}: {log}"}
    return {"points": points}


class Results:
    """``serve.json`` in the comparison's folder, rewritten after every record."""

    def __init__(self, spec: ServeSpec, folder: Path, env: dict[str, Any],
                 prepared: Prepared, warnings: list[str]) -> None:
        self.path = folder / RESULTS
        self.data: dict[str, Any] = {
            "spec": spec.to_dict(), "name": spec.name, "environment": env,
            "input": prepared.input_spec.to_dict(), "warnings": warnings,
            "refused": {f"{p}/{path}": why for (p, path), why in prepared.refused.items()},
            "runs": []}
        self.save()

    def add(self, record: dict[str, Any]) -> None:
        self.data["runs"].append(record)
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)


def run(spec: ServeSpec, folder: Path, progress: bool = True) -> Path:
    """The whole comparison into ``folder``; returns the results file."""
    server_cpu, generator_cpu, warning = cpus()
    prepared = prepare(spec, folder)
    results = Results(spec, folder, environment(server_cpu, generator_cpu), prepared,
                      [warning] if warning else [])
    targets: list[Target | None] = list(spec.targets)
    for repetition in range(spec.repetitions):
        shift = repetition % max(1, len(targets))
        for target in [None, *targets[shift:], *targets[:shift]]:
            record = measure(spec, prepared, target, repetition, folder, server_cpu,
                             generator_cpu)
            results.add(record)
            if progress:
                print(_line(record), file=sys.stderr)
    return results.path


def _line(record: dict[str, Any]) -> str:
    who = "generator ceiling (no-op)" if record["path"] == NOOP else \
        f"{record['paradigm']}/{record['path']}"
    if record["status"] != "ok":
        return f"  r{record['repetition']} {who}: {record['status']}: {record.get('message', '')}"
    top = f"{record['limit_rps']:g} req/s" + ("" if record["limit_reached"] else "+")
    return f"  r{record['repetition']} {who}: within SLO up to {top}; parity {record['parity']}"


def record_unsupported(spec: ServeSpec, folder: Path, reason: str,
                       status: str = "unsupported") -> None:
    """A comparison that cannot run here (or whose set-up failed): one record per target, with
    ``status`` and the reason."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = [{"repetition": 0, "paradigm": t.paradigm, "path": t.path, "points": [],
             "status": status, "message": reason} for t in spec.targets]
    write_json_atomic(folder / RESULTS, {"spec": spec.to_dict(), "name": spec.name,
                                         "environment": {}, "input": None, "warnings": [],
                                         "refused": {}, "runs": runs})


def load_all(out: Path) -> list[dict[str, Any]]:
    """Every comparison's results under ``out`` (one folder each), oldest first."""
    found = []
    for path in sorted(out.glob(f"*/{RESULTS}"), key=lambda p: p.stat().st_mtime):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"skipped unreadable {path}: {exc}", file=sys.stderr)
    return found
