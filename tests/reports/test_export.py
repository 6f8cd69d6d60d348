"""The Export and predict section beside the training sections (records are made up)."""

from __future__ import annotations

from reports import export
from reports.render import render_run
from tests.harness.analyse.test_exports_predictions import predict_record
from tests.reports.fixtures import standard_records, write_run
from tests.reports.htmlcheck import read


def test_predict_cells_stay_out_of_the_training_sections_and_show_their_overhead(tmp_path):
    training = standard_records(workloads=("mlp",), repetitions=1)
    assert not export.section(training)["present"]  # the section says there is nothing
    records = list(training)
    for r in range(6):
        records += [predict_record("plain", "predict", r, 1e-3 + r * 1e-5),
                    predict_record("lightning", "predict", r, 1.5e-3 + r * 1e-5)]
    for r in records:
        r.setdefault("process_wall_s", 1.0)
    _, page = read(render_run(write_run(tmp_path, records)))
    section = page.section_text("export")
    assert "Batch prediction" in section and "+500 us +48.8%" in " ".join(section.split())
    assert "+500..+500 us" in section  # the sign test's interval from six paired repetitions
    # the training Verdict still has its one group: the predict cells formed none there (the
    # group is named by the glance table's reference line, once per framework in the rows set
    # apart for want of an interval, once in the folded sentences; a predict group never)
    verdict = page.section_text("verdict")
    assert verdict.count("mlp (tiny) · minimal") == 4 and "predict" not in verdict
