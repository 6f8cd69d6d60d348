"""The serving page and the run report's serving Verdict line, from written records."""

import json

import pytest

pytest.importorskip("fastapi", reason="the serving page reads harness.serve: the serve extra")

from harness.serve.spec import ServeSpec
from reports.render import render_run
from reports.serve import render_serve
from tests.reports.fixtures import standard_run

SPEC = ServeSpec("tabular", paradigms=("plain", "lightning"), paths=("model",),
                 rates=(10.0, 20.0, 40.0), slo_ms=50.0, repetitions=2)


def _point(rate, p99, passed=True, errors=0):
    return {"target_rps": rate, "achieved_rps": rate, "p50_ms": p99 / 3, "p99_ms": p99,
            "p99_9_ms": p99 * 1.2, "errors": errors, "stable": True, "passed": passed,
            "parity": {"checked": 10, "bitwise": 10, "within_tolerance": 10}}


def _run(paradigm, path, repetition, points, parity="bitwise"):
    limit = max([p["target_rps"] for p in points if p["passed"]], default=0.0)
    return {"repetition": repetition, "paradigm": paradigm, "path": path, "status": "ok",
            "points": points, "limit_rps": limit,
            "limit_reached": not all(p["passed"] for p in points), "parity": parity,
            "startup_s": 2.0}


def _write(folder):
    runs = []
    for rep in range(2):
        runs += [_run(None, "noop", rep, [_point(r, 5) for r in SPEC.rates], None),
                 _run("plain", "model", rep, [_point(10, 8), _point(20, 12), _point(40, 90,
                                                                               False)]),
                 _run("lightning", "model", rep, [_point(10, 9), _point(20, 70 + rep, False)],
                      "differs" if rep else "bitwise")]
    runs.append({"repetition": 1, "paradigm": "lightning", "path": "litserve", "points": [],
                 "status": "failed", "message": "the server exited with code 1"})
    path = folder / SPEC.name / "serve.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"spec": SPEC.to_dict(), "name": SPEC.name, "runs": runs,
                                "environment": {"cpu": "Test CPU", "date": "2026-12-06"},
                                "warnings": [], "refused": {}}))


def test_page_shows_rates_within_the_slo_parity_failures_and_the_ceiling(tmp_path):
    _write(tmp_path)
    page = render_serve(tmp_path).read_text()
    assert "Serving tabular at p99 &lt;= 50 ms: plain / model 20 req/s to lightning / model " \
           "10 req/s; the generator&#39;s own ceiling 40+ req/s (above every rate tried); " \
           "answers differ from the in-process model on lightning / model." in page
    assert "20–20 (2 rep.)" in page and "40+" in page
    assert "the server exited with code 1" in page and "Test CPU" in page
    assert page.count("<svg") == 1


def test_the_run_report_names_serving_in_its_verdict(tmp_path):
    run = standard_run(tmp_path / "run")
    _write(run / "serve")
    render_serve(run / "serve")
    html = render_run(run).read_text()
    assert 'id="verdict-serving"' in html and 'href="serve/serve.html"' in html
    assert "plain / model 20 req/s" in html
