"""The phase probes: torch hooks only, the same in every paradigm, and they add up."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from harness.launch.runner import run_cell
from harness.measure.phases import PROBED_FRACTION, PhaseTimer, probed
from tests.conftest import FIXTURES, PARADIGMS, tiny_cell
from tests.fixtures.known_phases import (
    BACKWARD_US,
    FORWARD_US,
    OPTIMIZER_US,
    READ_COST_FILE,
    SAMPLE_US,
    KnownPhases,
)
from workloads.mlp import MLP

KNOWN = f"{FIXTURES / 'known_phases.py'}:KnownPhases"
# Each phase holds its busy-wait and a little real work (a tiny Linear layer, the loss, the
# autograd function's own call, an SGD update): 100-200 us on a slow 2-core VM. A phase that
# swallowed another (the optimizer step timing Lightning's closure) would be off by 1-3 ms.
# The data phase also holds reading and collating 16 samples one by one, which the cell's
# process measures for itself (known_phases.READ_COST_FILE): 300-450 us on that VM.
EXTRA_S = 400e-6


def _batch(workload):
    data = workload.build_dataset()
    xs, ys = zip(*(data[i] for i in range(16)))
    return torch.stack(xs), torch.stack(ys)


def _first_probed_step() -> int:
    return next(s for s in range(1, 100) if probed(s))


def test_a_quarter_of_the_steps_are_probed_and_not_a_periodic_quarter():
    picks = [probed(s) for s in range(1, 4001)]
    assert abs(sum(picks) / len(picks) - PROBED_FRACTION) < 0.03
    assert not all(picks[i] == picks[i % 16] for i in range(64))  # not tied to a period


def test_closure_steps_time_the_update_not_the_closure():
    """Lightning runs forward and backward inside optimizer.step(closure)."""
    workload = MLP.from_size("tiny")
    timer = PhaseTimer()
    timer.attach(workload)
    torch.manual_seed(0)
    model = workload.build_model()
    optimizer = workload.build_optimizer(model.parameters())
    x, y = _batch(workload)

    def closure():
        optimizer.zero_grad()
        loss = workload.loss(model, (x, y))
        loss.backward()
        return loss

    timer.resume_at(_first_probed_step() - 1)  # make the next step a probed one
    optimizer.step(closure)
    timer.step_end(_first_probed_step())
    (_, (forward, backward, update, _, _)), = timer.steps
    assert forward > 0 and backward > 0 and update > 0
    assert update < forward + backward  # the closure's work is not in the update


def test_unprobed_steps_record_nothing_and_validation_calls_are_not_forward():
    workload = MLP.from_size("tiny")
    timer = PhaseTimer()
    timer.attach(workload)
    model = workload.build_model()
    x, y = _batch(workload)
    unprobed = next(s for s in range(1, 100) if not probed(s))
    timer.resume_at(unprobed - 1)
    workload.loss(model, (x, y)).backward()
    timer.step_end(unprobed)
    timer.resume_at(_first_probed_step() - 1)
    with torch.no_grad():
        workload.loss(model, (x, y))  # a validation forward
    timer.step_end(_first_probed_step())
    assert timer.steps == [(_first_probed_step(), [0.0] * 5)]


def _scaled_step(timer, workload, model, optimizer, scaler, x, y, step):
    timer.resume_at(step - 1)
    optimizer.zero_grad()
    scaler.scale(workload.loss(model, (x, y))).backward()
    scaler.step(optimizer)
    scaler.update()
    timer.step_end(step)
    return timer.steps[-1][1]


@pytest.mark.parametrize("timed_syncs", [True, False])
def test_gradscalers_sync_is_timed_between_its_step_and_the_optimizers(timed_syncs):
    # on CUDA cells (timed_syncs) the found_inf.item() that GradScaler.step runs before the
    # optimizer step is the sync phase; elsewhere nothing is wrapped and the phase stays 0
    workload = MLP.from_size("tiny")
    timer = PhaseTimer(timed_syncs=timed_syncs)
    timer.attach(workload)
    torch.manual_seed(0)
    model = workload.build_model()
    optimizer = workload.build_optimizer(model.parameters())
    scaler = torch.amp.GradScaler("cpu")
    timer.attach_scaler(scaler)
    assert ("_maybe_opt_step" in vars(scaler)) is timed_syncs
    x, y = _batch(workload)
    forward, backward, update, data, sync = _scaled_step(
        timer, workload, model, optimizer, scaler, x, y, _first_probed_step())
    assert forward > 0 and backward > 0 and update > 0 and data == 0
    assert (sync > 0) is timed_syncs
    # a skipped step (an inf gradient): no optimizer pre-hook ends the sync, its return does
    x[0, 0] = float("inf")
    second = next(s for s in range(_first_probed_step() + 1, 200) if probed(s))
    forward, backward, update, data, sync = _scaled_step(
        timer, workload, model, optimizer, scaler, x, y, second)
    assert update == 0 and (sync > 0) is timed_syncs


def test_a_frameworks_sync_call_is_timed_only_where_syncs_are():
    calls = []
    timer = PhaseTimer(timed_syncs=True)
    timer.resume_at(_first_probed_step() - 1)
    timer.timed_sync(lambda: calls.append(1))()
    timer.step_end(_first_probed_step())
    assert calls == [1] and timer.steps[-1][1][4] > 0
    untouched = PhaseTimer().timed_sync(print)
    assert untouched is print


def test_every_paradigm_fetches_a_steps_batch_inside_that_step(tmp_path, monkeypatch):
    """The data wait counts in the step it feeds: one fetch while each step runs (Lightning
    does not prefetch from a loader with a length), none ahead of it."""
    from harness.launch.worker import prepare, train

    monkeypatch.chdir(tmp_path)
    for paradigm in PARADIGMS:  # in this process: a dozen tiny steps each
        prepared = prepare(tiny_cell("linear", paradigm, steps=10, warmup=2, window=1),
                           rank=0, local_rank=0, world=1)
        ctx, during = prepared.ctx, []
        timer_fetched = ctx.phases.data_fetched

        def fetched(seconds: float, ctx=ctx, during=during, timer_fetched=timer_fetched):
            during.append(ctx.probe.step)  # the steps finished when this fetch ended
            timer_fetched(seconds)

        ctx.phases.data_fetched = fetched
        train(prepared)
        assert during == list(range(ctx.cfg.total_steps)), paradigm  # 12 of 16 per epoch


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("known")
    # forked warm: what the phases hold, not the framework's import, is what these check
    return {p.value: run_cell(tiny_cell(KNOWN, p, steps=96, warmup=4, window=4), run_dir, 0, {},
                              keep_files=True, warm=True)
            for p in PARADIGMS}


@pytest.mark.parametrize("paradigm", [p.value for p in PARADIGMS])
def test_each_phase_is_what_the_workload_spends_in_it(known, paradigm):
    record = known[paradigm]
    assert record["status"] == "ok", record.get("message")
    phases = record["ranks"][0]["phases"]
    assert len(phases["index"]) >= 12
    batch = record["config"]["batch_size"]
    assert batch == KnownPhases.default_batch_size  # the batch its read cost was measured at
    read_s = json.loads((Path(record["work_dir"]) / READ_COST_FILE).read_text())
    # Every probed step holds at least the busy-waits (wall-clock spins). The shortest probed
    # step holds at most those, the real work and, for the data, the read cost without the
    # wait: a shared machine's preemptions only ever lengthen some steps, while a phase that
    # swallowed another would be long in every one.
    for name, wait_s, work_s in (("forward", FORWARD_US * 1e-6, 0.0),
                                 ("backward", BACKWARD_US * 1e-6, 0.0),
                                 ("optimizer", OPTIMIZER_US * 1e-6, 0.0),
                                 ("data", SAMPLE_US * batch * 1e-6, read_s)):
        shortest = min(phases[f"{name}_s"])
        assert wait_s <= shortest <= wait_s + work_s + EXTRA_S, (name, shortest, read_s)


@pytest.mark.parametrize("paradigm", [p.value for p in PARADIGMS])
def test_phases_and_framework_add_up_to_every_probed_step(known, paradigm):
    """The stated tolerance: zero. The four phases never overlap each other or leave their
    step (the residual, the framework time, is never negative), and the record's framework
    time is exactly the mean residual of the probed steps."""
    record = known[paradigm]
    rank = record["ranks"][0]
    steps, ph = rank["timing"]["step_host_s"], rank["phases"]
    residuals = [steps[j] - (f + b + o + d) for j, f, b, o, d in
                 zip(ph["index"], ph["forward_s"], ph["backward_s"], ph["optimizer_s"],
                     ph["data_s"])]
    assert min(residuals) >= 0
    assert record["measurements"]["phases"]["framework_s"] == pytest.approx(
        statistics.fmean(residuals))
