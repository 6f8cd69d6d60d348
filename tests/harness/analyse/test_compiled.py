"""Compiled cells against their eager twins (fabricated records, no training)."""

from __future__ import annotations

import pytest

from harness.analyse.analysis import cells_frame, records_frame
from harness.analyse.compiled import compiled_rows, failed_compiled
from tests.reports.compile_fixtures import (
    COLD_S,
    EAGER_STEP,
    SAVED_S,
    WARM_S,
    compiled_records,
)


@pytest.fixture(scope="module")
def frames():
    records = records_frame(compiled_records())
    return cells_frame(records), records


def test_compiled_and_eager_cells_are_separate_groups_each_with_its_plain_baseline(frames):
    cells, _ = frames
    assert sorted(set(cells["compile"])) == ["default", "none"]
    compiled = cells[(cells["compile"] == "default") & (cells["paradigm"] == "lightning")]
    # against the compiled plain loop: 0.7 ms - 0.4 ms = 0.3 ms, 75% of the plain step
    assert compiled["overhead_s"].iloc[0] == pytest.approx(0.3e-3)
    assert compiled["overhead_frac"].iloc[0] == pytest.approx(0.75)
    assert compiled["parity"].iloc[0] == "bitwise"


def test_speedup_overhead_before_and_after_and_compile_costs(frames):
    rows = compiled_rows(*frames).set_index("paradigm")
    assert list(rows.index) == ["plain", "lightning", "ignite"]
    for paradigm, eager in EAGER_STEP.items():
        assert rows.loc[paradigm, "speedup"] == pytest.approx(eager / (eager - SAVED_S))
    lightning = rows.loc["lightning"]
    assert lightning["eager_overhead_frac"] == pytest.approx(0.3)  # 1.3 / 1.0 ms
    assert lightning["overhead_frac"] == pytest.approx(0.75)  # the share grows
    assert lightning["eager_framework_share"] == pytest.approx(0.5 / 1.3)
    assert lightning["framework_share"] == pytest.approx(0.5 / 0.7)
    assert lightning["cold_s"] == COLD_S and lightning["warm_s"] == WARM_S
    assert sorted(lightning["paid"]) == [(0, "cold", COLD_S), (1, "warm", WARM_S),
                                         (2, "warm", WARM_S)]
    assert lightning["first_step_cold_extra_s"] == pytest.approx(COLD_S)
    assert lightning["first_step_warm_extra_s"] == pytest.approx(WARM_S)
    assert (lightning["graphs"], lightning["graph_breaks"], lightning["recompiles"]) == (2, 1, 0)


def test_failed_compiled_cells_are_listed(frames):
    failed = failed_compiled(frames[1])
    assert set(failed["status"]) == {"error"} and set(failed["paradigm"]) == {"lightning"}
    assert set(failed["compile_style"]) == {"documented"} and len(failed) == 3


def test_graphs_that_differ_from_the_plain_loops_are_flagged(frames):
    cells, records = frames
    records = records.copy()
    lightning = (records["paradigm"] == "lightning") & (records["compile"] == "default")
    records.loc[lightning, "graph_breaks"] = 3  # e.g. self.log inside the region
    rows = compiled_rows(cells, records).set_index("paradigm")
    assert rows.loc["lightning", "graphs_differ"] and not rows.loc["ignite", "graphs_differ"]
    assert not rows.loc["plain", "graphs_differ"]
