"""The budget: cuts down the priorities to each table's fewest, optional tables dropped whole,
and what it holds aside (studies, serving, further rounds)."""

from __future__ import annotations

import math

import pytest

from harness.analyse.stopping import Plan
from harness.features import Features
from harness.plan.budget import (
    BudgetError,
    extension_reserve_s,
    fewest,
    fit_budget,
)
from harness.plan.plan import Table, build_plan
from tests.harness.plan.plans import cells, host_of, three_tables


@pytest.mark.parametrize("plan, table, expected", [
    (Plan(30, until_ci_pct=4, min_repetitions=12), Table(), 12),
    (Plan(10), Table(min_repetitions=2), 2),
    (Plan(10), Table(), 6),  # the paired overhead's interval
    (Plan(6), Table(), 6),
    (Plan(4), Table(), 3),  # the mean difference's t interval
    (Plan(2), Table(), 2),  # a table asking for fewer keeps its own count
    (Plan(1), Table(min_repetitions=3), 1),
])
def test_the_fewest_repetitions_a_table_keeps(plan, table, expected):
    assert fewest(plan, table) == expected


def test_a_fitting_budget_cuts_nothing():
    *_, plans, tables, host = three_tables()
    full = build_plan(plans, host)
    run = fit_budget(plans, tables, host, full.seconds / 60)
    assert run.cuts == [] and run.plans == plans


def test_the_lowest_priority_is_cut_first_and_only_as_far_as_needed():
    a, b, c, plans, tables, host = three_tables()
    full = build_plan(plans, host).seconds  # (5 + 5 + 30) x 3 cells x 10 s = 1200 s
    run = fit_budget(plans, tables, host, (full - 30) / 60)  # one round of one table less
    assert [cut.table.index for cut in run.cuts] == [2]  # priority 0
    assert {run.plans[x].repetitions for x in b} == {4}
    assert all(run.plans[x] == plans[x] for x in a + c)
    assert run.seconds <= full - 30


def test_cuts_go_down_the_priorities_and_stop_at_each_tables_fewest():
    _, _, c, plans, tables, host = three_tables()
    budget_s = 3 * 10.0 * (3 + 3 + 20)  # b and a at their fewest (3), c cut to 20
    run = fit_budget(plans, tables, host, budget_s / 60)
    assert [cut.table.index for cut in run.cuts] == [2, 1, 3]
    assert [(cut.before, cut.after) for cut in run.cuts] == [(5, 3), (5, 3), (30, 20)]
    assert run.plans[c[0]].until_ci_pct == 4 and run.plans[c[0]].min_repetitions == 8
    assert set(run.plans) == set(plans)  # no cell dropped
    assert run.to_manifest()["cuts"][0] == "[[matrix]] #2 (priority 0, 3 cells): " \
                                           "repetitions 5 -> 3"


def test_among_equal_priorities_the_later_table_is_cut_first():
    a, b = cells("linear"), cells("mlp")
    plans = dict.fromkeys(a + b, Plan(5))
    tables = {**dict.fromkeys(a, Table(1)), **dict.fromkeys(b, Table(2))}
    run = fit_budget(plans, tables, host_of(a + b), 3 * 10.0 * 9 / 60)
    assert [cut.table.index for cut in run.cuts] == [2]


def test_the_command_lines_cells_are_one_table_a_budget_cuts():
    mlp = cells("mlp")
    plans = dict.fromkeys(mlp, Plan(8))
    run = fit_budget(plans, {}, host_of(mlp), 3 * 10.0 * 6 / 60)  # two rounds less
    assert {run.plans[x].repetitions for x in mlp} == {6}
    assert [cut.text() for cut in run.cuts] == [
        "the command line's cells (3 cells): repetitions 8 -> 6"]


def test_a_budget_below_every_tables_fewest_names_the_smallest_that_fits():
    *_, plans, tables, host = three_tables()
    smallest_s = 3 * 10.0 * (3 + 3 + 8)
    with pytest.raises(BudgetError) as caught:
        fit_budget(plans, tables, host, 1.0)
    assert caught.value.smallest_min == math.ceil(smallest_s / 60)
    assert f"smallest budget that can is {math.ceil(smallest_s / 60)} min" in str(caught.value)
    fit_budget(plans, tables, host, caught.value.smallest_min)  # and that one is accepted


def test_the_studies_estimate_is_held_against_the_budget():
    *_, plans, tables, host = three_tables()
    full = build_plan(plans, host).seconds
    assert fit_budget(plans, tables, host, full / 60).cuts == []
    run = fit_budget(plans, tables, host, full / 60, studies_s=30.0)  # a round less for them
    assert [cut.table.index for cut in run.cuts] == [2] and run.seconds <= full - 30
    assert run.to_manifest()["studies_s"] == 30.0


def test_a_suites_own_budget_not_held_here_runs_every_table_at_its_fewest():
    *_, plans, tables, host = three_tables()
    smallest_s = 3 * 10.0 * (3 + 3 + 8)
    run = fit_budget(plans, tables, host, 1.0, strict=False)
    assert run.seconds == pytest.approx(smallest_s)
    assert run.short_of_budget_min == math.ceil(smallest_s / 60)
    assert run.to_manifest()["short_of_budget_min"] == run.short_of_budget_min
    assert fit_budget(plans, tables, host, 60.0, strict=False).short_of_budget_min is None


def test_a_budget_drops_optional_tables_whole_before_going_below_any_floor():
    a, b, c, plans, tables, host = three_tables()
    tables = {**tables, **dict.fromkeys(a, Table(1, priority=1, optional=True))}
    # every table at its fewest (3, 3 and 8 repetitions) is 30 s over: a, optional, goes
    floors = sum(3 * n * 10.0 for n in (3, 3, 8))
    run = fit_budget(plans, tables, host, (floors - 30) / 60)
    assert [d.table.index for d in run.dropped] == [1]
    assert not set(a) & set(run.plans)  # its cells do not run at all
    assert {run.plans[x].repetitions for x in b} == {3}  # the others keep their floors
    # the 60 s the drop freed go back to the headline (priority 5) first: 8 -> 10
    assert {run.plans[x].repetitions for x in c} == {10}
    assert run.seconds <= (floors - 30)
    assert "[[matrix]] #1 (priority 1, 3 cells: linear): dropped" in run.to_manifest()["dropped"]
    assert run.to_manifest()["dropped_tables"] == [
        {"table": "[[matrix]] #1", "workloads": ["linear"], "features": []}]
    assert all(run.to_manifest()["weakened"][x.key] == [5, 3] for x in b)
    assert [(cut.table.index, cut.after) for cut in run.cuts] == [(2, 3), (3, 10)]
    assert not [cut for cut in run.cuts if cut.table.index == 1]  # a dropped table is no cut
    from harness.plan.plan_text import plan_text

    listing = plan_text(run, host, tables)
    assert "dropped whole" in listing and "#1 (priority 1, 3 cells: linear): dropped" in listing


def test_a_dropped_table_names_the_conveniences_it_would_have_measured():
    """The report's Verdict at a glance says "dropped by the budget" from these, rather than
    leaving the conveniences' cells blank."""
    a = cells("mlp", features=Features(ckpt_every=40)) + cells("mlp", features=Features(
        val_every=40))
    b = cells("mlp")
    plans = dict.fromkeys(a + b, Plan(3))
    tables = {**dict.fromkeys(a, Table(6, priority=4, optional=True)),
              **dict.fromkeys(b, Table(1, priority=10))}
    host = host_of(a + b)
    run = fit_budget(plans, tables, host, build_plan(dict.fromkeys(b, Plan(3)), host).seconds
                     / 60)
    assert run.to_manifest()["dropped_tables"] == [
        {"table": "[[matrix]] #6", "workloads": ["mlp"], "features": ["checkpoint", "validate"]}]


def test_a_budget_that_fits_once_cut_drops_nothing():
    a, *_, plans, tables, host = three_tables()
    tables = {**tables, **dict.fromkeys(a, Table(1, priority=1, optional=True))}
    full = build_plan(plans, host).seconds
    run = fit_budget(plans, tables, host, (full - 30) / 60)
    assert run.dropped == [] and set(run.plans) == set(plans)


def test_a_table_dropped_first_comes_back_where_a_later_drop_made_room():
    small, big, head = cells("linear"), cells("mlp"), cells("gpt")
    plans = {**dict.fromkeys(small, Plan(3)), **dict.fromkeys(big, Plan(10)),
             **dict.fromkeys(head, Plan(3))}
    tables = {**dict.fromkeys(small, Table(1, priority=0, optional=True)),
              **dict.fromkeys(big, Table(2, priority=1, optional=True, min_repetitions=10)),
              **dict.fromkeys(head, Table(3, priority=5))}
    host = host_of(small + big + head)
    # 3 x (3 + 10 + 3) x 10 s = 480 s: 300 s holds the headline and the small table only
    run = fit_budget(plans, tables, host, 300 / 60)
    assert [d.table.index for d in run.dropped] == [2]
    assert set(small) <= set(run.plans) and not set(big) & set(run.plans)


def test_a_budget_holds_the_serving_tables_and_the_further_rounds_where_it_can():
    """The reserve for further rounds (``Extension``) is one member and the plain loop for
    every repetition up to the most; it is let go where the cells at their fewest need it."""
    from harness.analyse.stopping import Extension

    group = cells("mlp")
    plans = {c: Plan(4, extension=Extension(10, 10)) for c in group}
    host = host_of(group, seconds=10.0)
    assert extension_reserve_s(plans, host) == pytest.approx(6 * 2 * 10.0)
    roomy = fit_budget(plans, {}, host, budget_min=5, serving_s=30.0)
    assert roomy.reserve_s == pytest.approx(120.0) and roomy.serving_s == 30.0
    assert roomy.seconds + roomy.held_s <= 5 * 60
    tight = fit_budget(plans, {}, host, budget_min=roomy.seconds / 60 + 0.6, strict=False,
                       serving_s=30.0)
    assert tight.reserve_s == 0.0 and tight.short_of_budget_min is None

