"""Three studies, one per paradigm, from one ``hpo`` command: the same study, reports that
differ exactly as documented, a time split that adds up, figures and the page.

One command for the whole module, its parent in the test process (about 30 to 40 s on 2
busy cores): 6 trials of 32 steps of the tiny Linear workload, validated every epoch (16
steps), the median pruner from the third trial, in blocks of 2 trials the studies take turns
at, with the A/A check's second study of the plain loop.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from harness.search import analysis as an
from harness.search.clock import PARTS
from harness.search.results import load_studies
from harness.search.schedule import blocks
from tests.harness.search.conftest import TRIAL, hpo_here
from tests.reports.htmlcheck import external_references, read

TRIALS = 6


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hpo")
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        code = hpo_here("--workload", "linear", *TRIAL, "--trials", str(TRIALS),
                        "--pruner-startup-trials", "2", "--block", "2", "--aa", "--out",
                        str(out))
    assert code == 0
    studies = {an.entry(s): s for s in load_studies(out)}
    assert set(studies) == {"plain", "plain-aa", "lightning", "ignite"}
    return out, studies, summary.getvalue()


def test_the_three_studies_are_the_same_study(run):
    _, studies, _ = run
    plain = studies["plain"]
    states = [t["state"] for t in plain["trials"]]
    assert "PRUNED" in states and "COMPLETE" in states, states  # both outcomes are compared
    for name in ("plain-aa", "lightning", "ignite"):
        verdict = an.parity(studies[name], plain)
        assert verdict.verdict == "same study", verdict.problems
        assert verdict.compared == TRIALS
        assert an.best_trial(studies[name]) == an.best_trial(plain) is not None
        assert [t["params"] for t in studies[name]["trials"]] == \
            [t["params"] for t in plain["trials"]]
        assert [t["value"] for t in studies[name]["trials"] if t["state"] == "COMPLETE"] == \
            [t["value"] for t in plain["trials"] if t["state"] == "COMPLETE"]  # bitwise


def _stored(trial):
    return [r for r in trial["reports"] if r["stored"]]


def test_each_integration_reports_at_its_own_steps_and_values_exactly_as_documented(run):
    _, studies, _ = run
    rules = {"plain": [16, 32], "plain-aa": [16, 32], "lightning": [0, 1],
             "ignite": [1, 2]}  # step, epoch-1, epoch
    lightning_gaps = []
    for number, base in enumerate(studies["plain"]["trials"]):
        reports = {name: _stored(s["trials"][number]) for name, s in studies.items()}
        k = len(reports["plain"])
        assert k in (1, 2)
        for name, steps in rules.items():
            assert [r["step"] for r in reports[name]] == steps[:k], name
            assert {str(s): v for s, v in zip(steps, [r["value"] for r in reports[name]])} \
                == studies[name]["trials"][number]["intermediate"]
        plain_values = [r["value"] for r in reports["plain"]]
        assert [r["value"] for r in reports["ignite"]] == plain_values  # float64, bitwise
        for r, p in zip(reports["lightning"], plain_values):
            assert float(np.float32(r["value"])) == r["value"]  # Lightning's float32 mean
            lightning_gaps.append(abs(r["value"] - p) / p)
        if base["state"] == "PRUNED":  # a pruned trial's value is its own last report
            for name, s in studies.items():
                assert s["trials"][number]["value"] == reports[name][-1]["value"]
    assert 0 < max(lightning_gaps) < 1e-6


def test_every_trial_time_split_adds_up_to_its_wall_time(run):
    _, studies, _ = run
    for study in studies.values():
        for t in study["trials"]:
            parts = t["time"]
            assert all(parts[p] >= 0 for p in PARTS)
            assert sum(parts[p] for p in PARTS) == pytest.approx(parts["wall"], rel=1e-9)
            assert parts["construction"] > 0 and parts["training"] > 0
            assert parts["validation"] > 0 and parts["bookkeeping"] > 0
            assert t["steps"] == (32 if t["state"] == "COMPLETE" else 16)


def test_the_studies_took_turns_in_the_seeded_order_each_resuming_where_it_stopped(run):
    """Blocks of 2 trials: each study's three blocks ran in the order the schedule drew, on
    the workers' clocks, one study's processes (started once) running each block."""
    _, studies, _ = run
    ran = sorted((b["started"], b["ended"], name) for name, s in studies.items()
                 for b in s["processes"] if b["kind"] == "block")
    by_name = {s["study"]: n for n, s in studies.items()}
    expected = blocks({s["study"]: TRIALS for s in studies.values()}, block=2, seed=0)
    assert [name for *_, name in ran] == [by_name[n] for n, _ in expected]
    assert all(a[1] <= b[0] for a, b in zip(ran, ran[1:]))  # one block at a time
    names = [name for *_, name in ran]
    assert names[:4] != names[4:8] or names[4:8] != names[8:]  # shuffled, not fixed
    for study in studies.values():  # one process per study, started once
        assert len([p for p in study["processes"] if p["kind"] == "process"]) == 1
        assert [t["number"] for t in study["trials"]] == list(range(TRIALS))


def test_times_come_from_the_workers_clocks_start_up_apart_from_trials(run):
    _, studies, summary = run
    for study in studies.values():
        start, trials = an.startup_s(study), an.trials_wall_s(study)
        assert start > 0 and trials > 0
        assert an.wall_s(study) == pytest.approx(start + trials)
        walls = sum(t["time"]["wall"] for t in study["trials"])
        assert trials >= walls - 1e-3  # each block holds its trials (one worker)
        assert an.trials_per_hour_of_trials(study) == pytest.approx(TRIALS * 3600 / walls)
        assert an.trials_per_hour(study) < an.trials_per_hour_of_trials(study)
    assert "trials/h, trial time" in summary and "trials/h, study wall" in summary
    assert "A/A: " in summary


def test_figures_pair_trials_and_count_them(run):
    _, studies, _ = run
    plain = studies["plain"]
    for name, study in studies.items():
        assert sum(an.counts(study).values()) == TRIALS
        assert an.trials_per_hour(study) > 0 and an.wall_s(study) > 0
        assert len(an.rss_series(study)) == TRIALS
        if name != "plain":
            ov = an.overhead_vs(study, plain)
            assert ov.paired and ov.n == TRIALS and ov.ci is not None


def test_the_page_and_the_summary_show_the_studies(run):
    out, studies, summary = run
    assert "same study" in summary and "start-up" in summary
    html, page = read(out / "hpo.html")
    assert not external_references(page)
    text = page.all_text()
    for name in studies:
        assert name in text
    assert "same study" in text and "current_epoch, 0-based" in text
    assert "Trials / hour, trial time" in text and "Trials / hour, study wall" in text
    assert "A/A: " in text and "Start-up" in text
    assert len(page.tags("svg")) == 3  # time split, memory, trajectories
    assert "<script" not in html


@pytest.mark.gpu
def test_studies_on_cuda_are_the_same_study_within_the_gpu_tolerance(tmp_path):
    """The same path on a CUDA device (unverified here: no GPU on the development machine)."""
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        code = hpo_here("--workload", "linear", *TRIAL, "--device", "cuda", "--trials", "6",
                        "--pruner-startup-trials", "2", "--out", str(tmp_path))
    assert code == 0
    studies = {s["paradigm"]: s for s in load_studies(tmp_path)}
    for name in ("lightning", "ignite"):
        verdict = an.parity(studies[name], studies["plain"])
        assert verdict.verdict == "same study", verdict.problems
    for t in studies["plain"]["trials"]:
        assert sum(t["time"][p] for p in PARTS) == pytest.approx(t["time"]["wall"], rel=1e-9)
