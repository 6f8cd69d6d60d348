"""The HPO page from hand-made study files: what it shows, escaped, and the workers table."""

from __future__ import annotations

import copy

from harness.results import write_json_atomic
from harness.search.results import KIND, SCHEMA_VERSION
from reports.search import render_search
from tests.reports.htmlcheck import external_references, read

HOSTILE = "<script>alert(1)</script>"


def _trial(number, state, value, reports, time=0.1):
    return {"number": number, "state": state, "params": {"lr_scale": 1.0 + number},
            "value": value, "intermediate": {str(r[0]): r[1] for r in reports},
            "user_attrs": {}, "interrupted": False, "error_type": None, "error": None,
            "time": {"construction": time / 2, "training": time / 4, "validation": time / 8,
                     "teardown": 0.0, "bookkeeping": time / 8, "wall": time},
            "reports": [{"step": s, "value": v, "stored": True} for s, v in reports],
            "rss_bytes": 2**28 + number, "worker": 0, "session": "s1", "steps": 32}


def _study(paradigm, workers, steps, time):
    trials = [_trial(0, "COMPLETE", 0.5, [(steps[0], 0.7), (steps[1], 0.5)], time),
              _trial(1, "PRUNED", 0.9, [(steps[0], 0.9)], time),
              _trial(2, "FAIL", None, [], time)]
    trials[2].update(error_type="WorkloadBug", error=HOSTILE)
    spec = {"cell": {"workload": "linear", "size": "tiny", "precision": "fp32", "device": "cpu",
                     "batch_size": 16, "warmup": 2, "steps": 30}, "trials": 3,
            "workers": workers, "sampler": "tpe", "sampler_seed": 0, "pruner": "median",
            "pruner_startup_trials": 1, "pruner_warmup_steps": 0, "storage": "/x.journal"}
    return {"schema_version": SCHEMA_VERSION, "kind": KIND, "paradigm": paradigm,
            "study": f"hpo_linear_{paradigm}_w{workers}", "group": f"hpo_linear_w{workers}",
            "spec": spec, "processes": [{"kind": "process", "import_framework_s": 0.5}],
            "sessions": [{"session": "s1", "wall_s": 10.0 / workers}], "trials": trials,
            "environment": {"python": "3.11", "packages": {"optuna": "5.0.0"}}}


def _write(tmp_path, studies):
    for s in studies:
        write_json_atomic(tmp_path / "studies" / f"{s['study']}.json", s)
    return read(render_search(tmp_path))


def test_page_shows_each_group_parity_failures_and_trials_per_hour_by_workers(tmp_path):
    plain, lightning = _study("plain", 1, (16, 32), 0.1), _study("lightning", 1, (0, 1), 0.2)
    lightning["trials"][0]["reports"][1]["value"] = 0.5000000298  # float32-rounded
    two = _study("plain", 2, (16, 32), 0.1)
    html, page = _write(tmp_path, [plain, lightning, two])
    assert not external_references(page) and "<script>alert" not in html
    assert HOSTILE in page.all_text()  # the workload's message, shown as text
    group = page.section_text("khpo_linear_w1")
    assert "same study" in group and "WorkloadBug" in group
    assert "within 6e-08 (relative) of the plain loop's, not bitwise" in " ".join(group.split())
    workers = page.section_text("workers")
    assert "1 worker(s)" in workers and "2 worker(s)" in workers
    assert "1,080" in workers and "2,160" in workers  # 3 trials in 10 s and in 5 s


def test_a_study_whose_pruned_trials_differ_is_marked(tmp_path):
    plain = _study("plain", 1, (16, 32), 0.1)
    ignite = copy.deepcopy(_study("ignite", 1, (1, 2), 0.1))
    ignite["trials"][1].update(state="COMPLETE", value=0.8)
    _, page = _write(tmp_path, [plain, ignite])
    text = " ".join(page.section_text("khpo_linear_w1").split())
    assert "differs" in text and "trial 1: complete after 1 reports vs pruned after 1" in text
