"""The run report: sections, escaping, self-containment, CSV exports, odd and partial runs."""

from __future__ import annotations

import math
import re
from collections import Counter

import pandas as pd
import pytest

from reports import plots
from reports.context import SECTIONS
from reports.render import render_run
from tests.reports.fixtures import (
    HOSTILE,
    cell,
    fake_record,
    showcase_records,
    standard_records,
    standard_run,
    write_run,
)
from tests.reports.htmlcheck import external_references, read


@pytest.fixture(scope="module")
def showcase(tmp_path_factory):
    """One rendered varied run, shared by the read-only checks below (rendering takes ~1 s)."""
    run = write_run(tmp_path_factory.mktemp("showcase"), showcase_records(), suite="showcase")
    return run, render_run(run)


def test_report_has_every_section_in_order(tmp_path):
    run = standard_run(tmp_path, repetitions=6)  # six: the fewest with a median interval
    path = render_run(run)
    assert path == run / "report.html"
    html, page = read(path)
    assert page.section_order == [sid for sid, _ in SECTIONS]
    # nav links point at every section
    assert [a["href"] for a in page.tags("a")][: len(SECTIONS)] == [f"#{s}" for s, _ in SECTIONS]
    # the verdict's picture, and 2 groups x (distribution, throughput, start-up, loss curves)
    assert len(page.tags("svg")) == 9
    verdict = page.section_text("verdict")
    assert re.search(r"Lightning costs \+\d+ us/step \(\+\d+\.\d%, 95% CI \+\d+\.\.\+\d+ us\) "
                     r"over plain PyTorch; break-even step time [\d.]+ ms", verdict)
    assert "Ignite" in verdict
    overhead = page.section_text("overhead")
    assert "baseline" in overhead and "Break-even" in overhead
    assert overhead.index("plain") < overhead.index("lightning") < overhead.index("ignite")
    assert "bitwise" in page.section_text("parity")
    env = page.section_text("environment")
    assert "8c37af9d6a1e" in env and "uncommitted changes" in env and "OMP_NUM_THREADS" in env
    assert "Every record succeeded" in page.section_text("failures")
    assert "Fixed cost per cell (approx.)" in html and "approximate" in html
    assert "Repetitions per cell" in page.all_text()


def test_hostile_workload_name_renders_as_text(showcase):
    _, path = showcase
    html, page = read(path)
    assert page.tags("img") == []
    assert page.tags("script") == []
    assert not any("onerror" in attrs for _, attrs in page.elements)
    text = page.all_text()
    assert text.count(HOSTILE) >= 5  # verdict, tables, figure captions, failure message
    # matplotlib escaped it inside the SVG too: plot titles are SVG <text> carrying it as text
    assert re.search(r"<text [^>]*>&lt;/script&gt;&lt;img src=x onerror=alert\(1\)&gt;", html)
    assert "<img" not in html


def test_page_references_nothing_external(showcase):
    _, path = showcase
    html, page = read(path)
    assert external_references(page) == []
    assert page.tags("link") == [] and page.tags("script") == []
    assert "@import" not in html
    assert re.findall(r"url\(\s*['\"]?(?!#)", html) == []  # only internal SVG references


def test_svg_ids_are_unique_on_the_page(showcase):
    _, path = showcase
    html, page = read(path)
    ids = Counter(a["id"] for _, a in page.elements if a.get("id"))
    assert [i for i, n in ids.items() if n > 1] == []
    referenced = set(re.findall(r'(?:href="#|url\(#)([^")]+)', html))
    assert referenced <= set(ids)


def test_rendering_is_deterministic(tmp_path):
    run = standard_run(tmp_path / "run")
    first = render_run(run, tmp_path / "a.html").read_bytes()
    second = render_run(run, tmp_path / "b.html").read_bytes()
    assert first == second


def test_csv_exports_are_readable(tmp_path):
    records = standard_records(repetitions=6)
    run = write_run(tmp_path, records)
    render_run(run)
    frame = pd.read_csv(run / "records.csv")
    assert len(frame) == len(records)
    assert "losses" not in frame.columns and "window_step_s" not in frame.columns
    assert {"key", "repetition", "paradigm", "status", "step_time_s"} <= set(frame.columns)
    cells = pd.read_csv(run / "cells.csv")
    assert len(cells) == 6  # 2 workloads x 3 paradigms
    assert {"step_ci_lo", "step_ci_hi", "overhead_ci_lo", "overhead_ci_hi"} <= set(cells.columns)
    lightning = cells[(cells["paradigm"] == "lightning") & (cells["workload"] == "mlp")].iloc[0]
    assert lightning["overhead_ci_lo"] <= lightning["overhead_s"] <= lightning["overhead_ci_hi"]


def test_csv_goes_to_the_run_folder_and_the_page_links_to_it(tmp_path):
    run = standard_run(tmp_path / "run")
    out = render_run(run, tmp_path / "elsewhere" / "page.html")
    assert out.exists() and (run / "records.csv").exists() and (run / "cells.csv").exists()
    _, page = read(out)
    assert {"../run/records.csv", "../run/cells.csv"} <= {a["href"] for a in page.tags("a")}


def test_failed_cell_is_listed_with_its_message(tmp_path):
    records = standard_records(("mlp",), repetitions=2)
    records.append(fake_record(cell("mlp", "lightning", batch_size=4096), 0, status="oom",
                               message="CUDA out of memory. Tried to allocate 2.00 GiB"))
    run = write_run(tmp_path, records)
    _, page = read(render_run(run))
    failures = page.section_text("failures")
    assert "oom" in failures
    assert "CUDA out of memory. Tried to allocate 2.00 GiB" in failures
    assert "Traceback (most recent call last)" in failures
    assert "[harness] rank 0" in failures  # the log tail
    # the group of the failed cell (batch 4096) had nothing else: the verdict says so
    assert "no successful repetition" in page.section_text("verdict")
    assert "oom 1" in page.all_text()  # status count in the header


def test_same_failure_in_every_repetition_is_shown_once(showcase):
    _, path = showcase
    _, page = read(path)
    failures = page.section_text("failures")
    assert "repetitions 0, 1, 2, 3, 4" in failures
    assert failures.count("Traceback (most recent call last)") == 1


def test_parity_verdicts_and_unstable_badge(showcase):
    _, path = showcase
    _, page = read(path)
    parity = page.section_text("parity")
    for verdict in ("baseline", "bitwise", "close", "differs"):
        assert verdict in parity
    assert "unstable" in page.section_text("overhead")
    assert "parity differs" in page.section_text("verdict")


def test_run_without_manifest_still_renders(tmp_path):
    run = write_run(tmp_path / "copied", standard_records(("mlp",), 2), manifest=False)
    html, page = read(render_run(run))
    assert "No manifest.json" in page.all_text()
    assert page.section_order == [sid for sid, _ in SECTIONS]
    assert "<h1>copied" in html  # the folder name stands in for the suite name


def test_interrupted_run_with_a_partial_manifest(tmp_path):
    records = standard_records(("mlp",), 2)
    cells = list({r["key"]: r["config"] for r in records}.values())
    manifest = {"schema_version": 1, "suite": "cpu", "repetitions": 5, "cells": cells,
                "environment": {"python": "3.11.9"}, "state": "running"}
    run = write_run(tmp_path, records, manifest=manifest)
    _, page = read(render_run(run))
    text = page.all_text()
    assert "still running" in text
    assert "9 of 15 planned records are missing" in text


def test_planned_records_count_profiling_repetitions_and_where_adaptive_cells_stopped(tmp_path):
    records = standard_records(("mlp",), 2)  # 3 paradigms x 2 repetitions
    cells = list({r["key"]: r["config"] for r in records}.values())
    stopped = {"rule": "ci", "repetitions": 2, "half_width_pct": 3.0}
    manifest = {"schema_version": 1, "suite": "cpu", "repetitions": 8, "state": "finished",
                "cells": [{**c, "repetitions": 8, "until_ci_pct": 4.0, "stop": stopped,
                           "attribution": i == 0} for i, c in enumerate(cells)],
                "environment": {"python": "3.11.9"}}
    _, page = read(render_run(write_run(tmp_path, records, manifest=manifest)))
    text = page.all_text()
    assert "6 of 7 planned" in text  # two each where the stop rule ended, one profiling run
    assert "1 of 7 planned records are missing" in text


def test_corrupt_record_file_is_reported_not_fatal(tmp_path):
    run = standard_run(tmp_path)
    (run / "cells" / "broken__r0.json").write_text('{"schema_version": 1, "trunc')
    _, page = read(render_run(run))
    assert "unreadable" in page.section_text("failures")
    assert "Lightning: step overhead not resolved" in page.section_text("verdict")


def test_run_where_everything_failed(tmp_path):
    records = [fake_record(cell("mlp", p), r, status="crashed", message="killed by SIGKILL")
               for r in range(2) for p in ("plain", "lightning")]
    run = write_run(tmp_path, records)
    _, page = read(render_run(run))
    assert "no successful repetition" in page.section_text("verdict")
    assert "killed by SIGKILL" in page.section_text("failures")
    assert page.tags("svg") == []
    assert len(pd.read_csv(run / "records.csv")) == 4
    cells = pd.read_csv(run / "cells.csv")
    assert cells.empty and {"workload", "paradigm"} <= set(cells.columns)


def test_empty_run_folder(tmp_path):
    (tmp_path / "cells").mkdir()
    _, page = read(render_run(tmp_path))
    assert "No cell succeeded" in page.section_text("verdict")


def test_one_repetition_has_no_interval(tmp_path):
    run = write_run(tmp_path, standard_records(("mlp",), repetitions=1))
    _, page = read(render_run(run))
    assert "1 repetition: too few for an interval" in page.section_text("verdict")


def test_missing_baseline_and_missing_paradigms(tmp_path):
    run = write_run(tmp_path, standard_records(("mlp",), 2, paradigms=("lightning", "ignite")))
    _, page = read(render_run(run))
    assert "no plain PyTorch baseline succeeded" in page.section_text("verdict")


def test_nan_step_time_is_shown_as_a_dash(tmp_path):
    records = standard_records(("mlp",), 2)
    broken = records[1]["measurements"]  # a lightning record without timing windows
    broken.update(step_time_s=math.nan, window_step_s=[], items_per_s=math.nan)
    run = write_run(tmp_path, records)
    _, page = read(render_run(run))
    assert page.section_order == [sid for sid, _ in SECTIONS]
    assert "1 successful record(s) carry no step time" in page.all_text()
    assert "ok, no step time" not in page.section_text("verdict")  # other reps were timed


def test_gpu_memory_columns_appear_only_when_measured(tmp_path):
    cpu = write_run(tmp_path / "cpu", standard_records(("mlp",), 1))
    assert "CUDA max allocated" not in read(render_run(cpu))[1].section_text("memory")
    records = [fake_record(cell("mlp", p, device="cuda"), 0, cuda_memory=True)
               for p in ("plain", "ignite")]
    gpu = write_run(tmp_path / "gpu", records)
    memory = read(render_run(gpu))[1].section_text("memory")
    assert "CUDA max allocated" in memory and "1.4 GiB" in memory and "NVML" in memory


def test_matplotlib_escapes_hostile_labels_in_svg():
    svg = plots.step_distribution("t1", HOSTILE, {HOSTILE: [[0.001, 0.002]], "plain": []})
    assert svg.startswith("<svg ") and "<?xml" not in svg and "<metadata" not in svg
    assert "<img" not in svg and "</script>" not in svg
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in svg
    assert re.findall(r'\bid="(?!t1-)', svg) == []


def test_dollar_signs_in_names_are_not_mathtext():
    svg = plots.throughput("t2", "cost $5 and $x^{2", "samples", {"a$b": [1.0, 2.0]})
    assert "cost $5 and $x^{2" in svg and "a$b" in svg


def test_figure_keys_must_be_id_safe():
    with pytest.raises(ValueError):
        plots.throughput('x" onload="', "t", "samples", {"plain": [1.0]})


def test_the_verdict_opens_with_a_picture_and_claims_no_sign_without_an_interval(tmp_path):
    """Three repetitions give no step interval; the framework-time excess, which has an
    interval from three, stands in for it in the picture, as a share of the plain step: a sign
    where its interval excludes zero ("costs"), a bound where it does not."""
    records = standard_records(("mlp",), repetitions=3)
    for r in records:
        own = {"plain": 2e-4, "lightning": 5e-4, "ignite": 2e-4}[r["config"]["paradigm"]]
        r["measurements"]["phases"] = {"framework_s": own * (1 + 0.01 * r["repetition"])}
    html, page = read(render_run(write_run(tmp_path, records)))
    verdict = page.section_text("verdict")  # the picture's text included
    assert "/step faster" not in verdict
    assert verdict.count("step overhead not resolved") == 2  # the folded per-group sentences
    assert re.search(r"In-process framework time over plain: \+\d+ us/step \(95% t ", verdict)
    assert "In-process framework time over plain: not resolved, 0 us/step (95% t" in verdict
    assert re.search(r"Lightning: costs \+\d+ us/step \[\+\d+, \+\d+\] \(\+3\d\.\d% "
                     r"\[\+\d+\.\d, \+\d+\.\d\]\) \(framework time\)", verdict)
    assert "Ignite: no difference larger than 0.0% of the step (framework time)" in verdict
    # the Verdict at a glance: the same reading for the reference model, start-up from cold
    assert re.search(r"Lightning costs \+\d+ us/step .* 3 cold", verdict)
    section = html[html.index('<section id="verdict">'):]
    assert section.index("<svg") < section.index('class="verdict-group"')  # picture first


def test_the_header_states_the_plans_estimate_and_a_budgets_cuts(tmp_path):
    records = standard_records(("mlp",), 2)
    cells = list({r["key"]: r["config"] for r in records}.values())
    cut = "[[matrix]] #4 (priority 0, 33 cells): repetitions 3 -> 2"
    manifest = {"schema_version": 1, "suite": "cpu", "repetitions": 2, "state": "finished",
                "cells": [{**c, "repetitions": 2} for c in cells],
                "plan": {"estimate_s": 754.0, "processes": 6, "rough": 2, "budget_min": 15.0,
                         "cuts": [cut]}}
    _, page = read(render_run(write_run(tmp_path, records, manifest=manifest)))
    text = page.all_text()
    assert "12 min 34 s (2 of 6 processes estimated roughly)" in text
    assert "15 min" in text and cut in text and "--rigorous" in text


def test_a_plan_fitted_again_is_reported_as_the_run_went_on(tmp_path):
    """The first plan (rough figures) cut repetitions and did not hold its budget; the plan
    fitted again after the first round held it and restored every repetition: the page says
    neither "not held" nor that a reading was weakened, and never "nothing cut" beside a drop."""
    records = standard_records(("mlp",), 6)
    keys = sorted({r["key"] for r in records})
    drop = "[[matrix]] #6 (priority 4, 18 cells: mlp): dropped"
    manifest = {"schema_version": 1, "suite": "cpu", "repetitions": 6, "state": "finished",
                "cells": [{**c, "repetitions": 6} for c in
                          {r["key"]: r["config"] for r in records}.values()],
                "plan": {"estimate_s": 900.0, "processes": 18, "rough": 18, "budget_min": 13.0,
                         "short_of_budget_min": 17, "cuts": ["#1: repetitions 6 -> 3"],
                         "dropped": [drop], "weakened": {k: [6, 3] for k in keys},
                         "refit": {"after_s": 90.0, "estimate_left_s": 500.0, "cuts": [],
                                   "dropped": [], "short_of_budget": False}}}
    _, page = read(render_run(write_run(tmp_path, records, manifest=manifest)))
    text = page.all_text()
    assert "not held here" not in text and "nothing cut" not in text
    assert "Readings a budget weakened" not in text  # the run went on at 6 of the 6 asked
    assert drop in text


def test_the_header_says_which_dropped_tables_the_refit_brought_back(tmp_path):
    """What finally ran: the refit after the first round brought #6 back, #9 stayed out."""
    records = standard_records(("mlp",), 2)
    cells = list({r["key"]: r["config"] for r in records}.values())
    first = ["[[matrix]] #9 (priority 1, 3 cells: mlp): dropped",
             "[[matrix]] #6 (priority 4, 18 cells: mlp): dropped"]
    manifest = {"schema_version": 1, "suite": "cpu", "repetitions": 2, "state": "finished",
                "cells": [{**c, "repetitions": 2} for c in cells],
                "plan": {"estimate_s": 754.0, "processes": 6, "rough": 6, "budget_min": 13.0,
                         "cuts": [], "dropped": first,
                         "refit": {"after_s": 90.0, "estimate_left_s": 500.0, "cuts": [],
                                   "dropped": first[:1],
                                   "restored": ["[[matrix]] #6 (priority 4, 18 cells: mlp): "
                                                "restored"]}}}
    _, page = read(render_run(write_run(tmp_path, records, manifest=manifest)))
    text = page.all_text()
    assert "found room for them and they ran" in text
    assert "[[matrix]] #6 (priority 4, 18 cells: mlp): restored" in text
    assert first[0] in text and first[1] not in text


def test_a_run_without_a_plan_shows_no_budget(tmp_path):
    _, page = read(render_run(write_run(tmp_path, standard_records(("mlp",), 2))))
    assert "Budget" not in page.all_text() and "Estimated before" not in page.all_text()


def test_the_header_counts_the_further_rounds_apart_from_the_plan(tmp_path):
    """Records past a cell's planned repetitions came from the further rounds (until_excess):
    the header says so instead of reading "8 of 6 planned" alone."""
    records = standard_records(("mlp",), 4)
    cells = list({r["key"]: r["config"] for r in records}.values())
    keys = {r["config"]["paradigm"]: r["key"] for r in records}
    manifest = {"schema_version": 1, "suite": "cpu", "repetitions": 2, "state": "finished",
                "cells": [{**c, "key": keys[c["paradigm"]], "repetitions": 2} for c in cells]}
    _, page = read(render_run(write_run(tmp_path, records, manifest=manifest)))
    further = sum(1 for r in records if r["repetition"] >= 2)
    assert f"of {len(cells) * 2} planned, {further} of further rounds" in page.all_text()
