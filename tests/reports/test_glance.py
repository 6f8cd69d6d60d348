"""The Verdict at a glance: every entry is a sign, a bound or a stated reason (a question no
table answered says why, from the manifest's plan), never a dash or a bare "no interval"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reports import glance
from reports.groups import build_groups
from reports.load import load
from reports.meta import plan_facts
from tests.reports.fixtures import cell, fake_record, standard_records, write_run

FEATURES_TABLE = {"table": "[[matrix]] #6", "workloads": ["mlp"],
                  "features": ["validate", "checkpoint"]}
REAL_TABLE = {"table": "[[matrix]] #4", "workloads": ["resnet18"], "features": []}


def _records(real: bool = True) -> list[dict[str, Any]]:
    """The headline (with its A/A) at six repetitions; a real model at three, without A/A."""
    out = standard_records(("mlp",), repetitions=6)
    out += [fake_record(cell("mlp", "plain-aa"), rep, 0.001) for rep in range(6)]
    if real:
        out += standard_records(("resnet18",), repetitions=3)
    return out


def _table(tmp_path: Path, plan: dict[str, Any] | None, real: bool = True
           ) -> dict[str, list[str]]:
    run = load(write_run(tmp_path, _records(real)))
    facts = plan_facts({"plan": plan} if plan is not None else {})
    rows = glance.rows(build_groups(run.cells, run.frame), run.frame, facts)
    return {r.paradigm: r.cells()[1:] for r in rows}


def _answers(entry: str) -> bool:
    """A sign, a bound, a figure, or a reason: never a dash or an unexplained gap."""
    return bool(entry.strip()) and entry.strip() != "—" and not re.search(
        r"no interval(?! \()", entry)


def test_a_suite_without_conveniences_or_real_models_says_so(tmp_path):
    table = _table(tmp_path, {"dropped": [], "dropped_tables": []}, real=False)
    lightning = dict(zip(glance.COLUMNS[1:], table["lightning"]))
    assert lightning["costliest"] == lightning["cheapest"] == "not in this suite"
    assert lightning["real_models"] == "not in this suite"
    assert all(_answers(e) for entries in table.values() for e in entries), table


def test_a_table_the_budget_dropped_is_named_as_the_reason(tmp_path):
    plan = {"dropped": ["[[matrix]] #6 (priority 4, 18 cells: mlp): dropped",
                        "[[matrix]] #4 (priority 6, 3 cells: resnet18): dropped"],
            "dropped_tables": [FEATURES_TABLE, REAL_TABLE]}
    table = _table(tmp_path, plan, real=False)
    ignite = dict(zip(glance.COLUMNS[1:], table["ignite"]))
    assert ignite["costliest"] == ignite["cheapest"] == "not run: dropped by the budget"
    assert ignite["real_models"] == "resnet18: not run: dropped by the budget"


def test_a_manifest_from_before_drops_named_their_tables_points_at_the_header(tmp_path):
    table = _table(tmp_path, {"dropped": ["[[matrix]] #6 (priority 4, 18 cells: mlp): dropped"]})
    costliest = table["lightning"][glance.COLUMNS.index("costliest") - 1]
    assert costliest == "not run (the budget dropped 1 table: see the header)"


def test_the_aa_row_says_it_runs_on_the_headline_only(tmp_path):
    table = _table(tmp_path, None)
    aa = dict(zip(glance.COLUMNS[1:], table["plain-aa"]))
    assert aa["costliest"] == aa["cheapest"] == aa["real_models"] == glance.AA_ONLY
    assert aa["reference"].startswith(("no difference larger than", "costs", "saves"))
    # the frameworks' real-model entries: a bound per model, or why there is none
    assert table["lightning"][glance.COLUMNS.index("real_models") - 1].startswith(
        "resnet18: no interval (3 repetitions")
    assert all(_answers(e) for entries in table.values() for e in entries), table
