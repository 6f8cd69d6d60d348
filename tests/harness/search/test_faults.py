"""Faults inside a study: a trial that raises, a workload that leaks across trials, Ctrl-C
inside Lightning's fit, and Ctrl-C of the whole command (then the same command resumes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna", reason="needs Optuna: pip install '.[search]'")

from harness.config import Paradigm
from harness.discovery import resolve
from harness.search import analysis as an
from harness.search.results import load_studies, read_lines, records_path, snapshot
from harness.search.spec import StudySpec
from harness.search.storage import default_storage
from harness.search.trial import Interrupts, Objective
from tests.conftest import tiny_cell
from tests.harness.search.conftest import SEARCH_WORKLOADS, TRIAL, hpo_here, run_in_process


def _spec(workload: str, out, paradigm=Paradigm.PLAIN, trials: int = 4) -> StudySpec:
    cell = tiny_cell(workload, paradigm, steps=14, warmup=2, window=2, phases=False)
    return StudySpec(cell, trials=trials, pruner="none", storage=default_storage(out))


def test_a_trial_that_raises_is_failed_with_the_workloads_exception_and_the_study_goes_on(
        tmp_path):
    workload = f"{SEARCH_WORKLOADS}:FailsSecondTrial"
    sys.modules[resolve(workload).__module__].BUILDS["count"] = 0
    spec = _spec(workload, tmp_path)
    assert run_in_process(spec, tmp_path, trials=4) == 0
    snapshot(spec, tmp_path)
    (study,) = load_studies(tmp_path)
    assert [t["state"] for t in study["trials"]] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    failed = study["trials"][1]
    assert (failed["error_type"], failed["error"]) == ("WorkloadBug", "no model for trial two")
    assert failed["time"]["construction"] > 0  # measured up to the failure
    (record,) = [r for r in read_lines(records_path(tmp_path, spec.name, 0))
                 if r.get("number") == 1]
    assert record["error_type"] == "WorkloadBug" and record["state"] == "FAIL"


def test_memory_kept_alive_across_trials_shows_as_rss_growth(tmp_path):
    growth = {}
    for name in ("linear", f"{SEARCH_WORKLOADS}:Leaky"):
        out = tmp_path / name.rsplit(":", 1)[-1]
        spec = _spec(name, out, trials=5)
        assert run_in_process(spec, out, trials=5) == 0
        snapshot(spec, out)
        (study,) = load_studies(out)
        growth[name] = an.rss_growth(study)
    assert growth["linear"] < 4 * 2**20  # nothing kept: a few MiB at most
    assert growth[f"{SEARCH_WORKLOADS}:Leaky"] > 12 * 2**20  # 16 MiB kept per trial


def test_ctrl_c_inside_lightning_fit_ends_the_trial_as_interrupted(tmp_path):
    """Lightning turns KeyboardInterrupt inside fit() into sys.exit(1) and ignores SIGINT
    from then on; the objective must still end the trial as interrupted, failed in the
    storage (not left RUNNING), and give Ctrl-C back its handler."""
    pytest.importorskip("pytorch_lightning")
    interrupts = Interrupts()
    handler = signal.getsignal(signal.SIGINT)

    class Interrupted(resolve("linear")):
        def loss(self, model, batch):
            interrupts.signal()  # what the study process's SIGINT handler does mid-step
            return super().loss(model, batch)

    sys.modules[__name__].Interrupted = Interrupted  # resolvable as a module:class spec
    cell = tiny_cell(f"{__name__}:Interrupted", Paradigm.LIGHTNING, steps=14, warmup=2,
                     window=2, phases=False)
    objective = Objective(cell, tmp_path, interrupts, lambda: signal.signal(
        signal.SIGINT, handler))
    study = optuna.create_study()
    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=1)
    (trial,) = study.get_trials()
    assert trial.state.name == "FAIL" and trial.user_attrs["interrupted"] is True
    assert signal.getsignal(signal.SIGINT) is handler


def test_ctrl_c_keeps_finished_trials_renders_exits_130_and_the_same_command_resumes(tmp_path):
    """Two worker processes sharing the default journal file: Ctrl-C ends both running
    trials (failed and ``interrupted`` in the storage, none left running), keeps the
    finished ones, renders the page and exits 130; the same command then runs the rest,
    again in two processes."""
    args = ["--workload", f"{SEARCH_WORKLOADS}:Slow", *TRIAL, "--paradigm", "plain",
            "--trials", "6", "--workers", "2", "--pruner", "none", "--out", str(tmp_path)]
    cli = subprocess.Popen([sys.executable, "-m", "harness", "hpo", *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
            r.get("kind") == "trial" for p in tmp_path.glob("trials/*.w*.jsonl")
            for r in read_lines(p)):
        time.sleep(0.1)
    time.sleep(0.1)  # both workers inside a trial now (each is about 0.4 s)
    cli.send_signal(signal.SIGINT)
    _, err = cli.communicate(timeout=90)
    assert cli.returncode == 130, err[-2000:]
    assert "run the same command to resume" in err
    assert (tmp_path / "hpo.html").exists()
    (study,) = load_studies(tmp_path)
    first = an.counts(study)
    assert first["complete"] >= 1 and first["interrupted"] >= 1 and first["running"] == 0
    assert first["complete"] <= 4  # so that the resume has work for both processes
    assert hpo_here(*args) == 0  # the same command
    (study,) = load_studies(tmp_path)
    assert an.counts(study)["complete"] == 6
    assert an.counts(study)["interrupted"] == first["interrupted"]
    resumed = study["sessions"][1]
    assert len(study["sessions"]) == 2 and resumed["processes"] == 2
    pids = {t["pid"] for t in study["trials"] if t.get("session") == resumed["session"]}
    assert len(pids) == 2  # both processes of the resumed session ran trials of the study
    assert study["spec"]["storage"] == str(tmp_path / "optuna.journal")
    assert an.parity(study, study).verdict == "not comparable"  # interrupted and resumed


class _CountingSampler:
    """NVML's sampler thread as the trial sees it, counting starts and stops (no GPU)."""

    events: list[str] = []

    def __init__(self):
        self.alive = False
        self.used, self.power, self.foreign, self.others, self.energy_j = [], [], set(), 0, None

    def start(self):
        self.alive = True
        self.events.append("start")

    def is_alive(self):
        return self.alive

    def stop(self):
        if self.alive:
            self.events.append("stop")
        self.alive = False

    def mark_start(self):
        pass

    def mark_end(self):
        pass


def test_every_trial_stops_its_nvml_sampler_whether_it_completes_is_pruned_or_fails(
        tmp_path, monkeypatch):
    """On CUDA the probe starts an NVML sampler thread per trial and stopped it only at the
    last step: a pruned or failed trial leaked it. Here a counting fake stands in on CPU."""
    import harness.training.context as context
    from harness.measure.memory import MemoryTracker

    class Tracked(MemoryTracker):
        def __init__(self, device, idle=None):
            super().__init__(device, idle)
            self.nvml = _CountingSampler()
            self.nvml.start()

    monkeypatch.setattr(context, "MemoryTracker", Tracked)
    _CountingSampler.events = []
    workload = f"{SEARCH_WORKLOADS}:FailsSecondTrial"
    sys.modules[resolve(workload).__module__].BUILDS["count"] = 0
    cell = tiny_cell(workload, steps=30, warmup=2, window=2, phases=False)
    spec = StudySpec(cell, trials=6, pruner="median", pruner_startup_trials=1,
                     storage=default_storage(tmp_path))
    assert run_in_process(spec, tmp_path, trials=6) == 0
    snapshot(spec, tmp_path)
    (study,) = load_studies(tmp_path)
    states = [t["state"] for t in study["trials"]]
    assert "FAIL" in states and "PRUNED" in states, states
    starts = _CountingSampler.events.count("start")
    assert starts == _CountingSampler.events.count("stop")
    assert starts == len(states)  # one per trial, the failed one included


def test_a_study_whose_worker_fails_outside_any_trial_makes_the_command_exit_non_zero(
        tmp_path, capsys):
    """A worker that fails before its first trial (here: a workload class the command would
    have refused up front) ends with code 1; the command names its log and no longer exits
    0 as it did."""
    from harness.commands.hpo import run_studies

    spec = _spec(f"{SEARCH_WORKLOADS}:NoSuchWorkload", tmp_path, trials=1)
    assert run_studies([spec], tmp_path, report=False) == 1
    err = capsys.readouterr().err
    assert "its worker processes failed (exit codes [1])" in err and ".w*.log" in err
    log = (tmp_path / "logs" / f"{spec.name}.w0.log").read_text()
    assert "NoSuchWorkload" in log
