"""The by-release page: releases ordered by version, each held against the previous one."""

from __future__ import annotations

import json

import pytest

from reports.load import load
from reports.render import render_versions
from reports.versions import versions_context
from tests.reports.fixtures import cell, fake_record, write_run
from tests.reports.htmlcheck import external_references, read


def _release_run(root, framework, release, factor=1.0, sync=None, reps=6, world=1,
                 machine=1.0, framework_s=None, environment=None):
    """A versions run folder: the plain loop and one framework, ``factor`` times plain's
    step time (times the fixture's usual overhead), the release in the recorded packages.
    ``machine`` scales every step (a machine that drifted); ``framework_s`` gives (plain,
    framework) framework times; ``environment`` overrides recorded environment fields."""
    records = []
    for rep in range(reps):
        for paradigm in ("plain", framework):
            cfg = cell("mlp", paradigm, world_size=world)
            step = 0.001 * machine * (factor if paradigm != "plain" else 1.0)
            record = fake_record(cfg, rep, step, lightning_sync_s=sync
                                 if paradigm == "lightning" else None)
            if framework_s is not None:
                own = framework_s[paradigm != "plain"] * machine * (1 + 0.01 * rep)
                record["measurements"]["phases"] = {"framework_s": own}
            records.append(record)
    package = {"lightning": "pytorch-lightning", "ignite": "pytorch-ignite"}[framework]
    run = write_run(root / f"{framework}-{release}", records)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["environment"] = {**manifest["environment"], **(environment or {}),
                               "packages": {**manifest["environment"]["packages"],
                                            package: release,
                                            **(environment or {}).get("packages", {})}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def test_releases_are_ordered_by_version_and_a_slowdown_is_marked(tmp_path):
    runs = [_release_run(tmp_path, "lightning", "2.10.0", factor=1.5),  # 2.10 after 2.9
            _release_run(tmp_path, "lightning", "2.4.0", factor=1.2),
            _release_run(tmp_path, "lightning", "2.9.0", factor=1.2, sync=40e-6),
            _release_run(tmp_path, "ignite", "0.5.1", factor=1.01)]
    ctx = versions_context([load(r) for r in runs])
    frameworks = {f["name"]: f for f in ctx["frameworks"]}
    lightning = frameworks["lightning"]
    assert lightning["versions"] == ["2.4.0", "2.9.0", "2.10.0"]
    [group] = lightning["groups"]
    rows = {r["version"]: r for r in group["rows"]}
    step = {v: r["figures"]["step_time_s"] for v, r in rows.items()}
    assert step["2.4.0"]["mark"] is None and step["2.4.0"]["p"] == ""  # nothing before it
    assert step["2.9.0"]["mark"] is None  # the same step time: no change
    assert step["2.10.0"]["mark"]["css"] == "bad" and float(step["2.10.0"]["p"]) < 0.01
    assert all(r["drift"] is None for r in rows.values())  # plain did not move
    assert rows["2.10.0"]["overhead"].startswith("+")
    assert lightning["ddp_sync_from"] == "2.9.0" and rows["2.4.0"]["ddp_sync"] == ""
    assert frameworks["ignite"]["versions"] == ["0.5.1"] and ctx["warnings"] == []


def test_a_moving_plain_loop_is_shown_as_drift(tmp_path):
    before = _release_run(tmp_path, "ignite", "0.5.1")
    records = [fake_record(cell("mlp", p), rep, 0.002) for rep in range(6)
               for p in ("plain", "ignite")]  # everything twice as slow: the machine
    after = write_run(tmp_path / "later", records)
    manifest = json.loads((after / "manifest.json").read_text())
    manifest["environment"]["packages"]["pytorch-ignite"] = "0.5.3"
    (after / "manifest.json").write_text(json.dumps(manifest))
    [fw] = versions_context([load(before), load(after)])["frameworks"]
    later = fw["groups"][0]["rows"][1]
    assert later["figures"]["step_time_s"]["mark"]["css"] == "bad"
    assert later["drift"] is not None and later["drift"]["css"] == "bad"


def test_too_few_repetitions_for_an_interval_still_render(tmp_path):
    runs = [_release_run(tmp_path, "ignite", v, reps=3) for v in ("0.5.1", "0.5.3")]
    ctx = versions_context([load(r) for r in runs])
    row = ctx["frameworks"][0]["groups"][0]["rows"][1]
    assert row["overhead_ci"] == "n too small" and row["figures"]["step_time_s"]["mark"] is None
    render_versions(runs, tmp_path / "v.html")


def test_a_folder_with_two_frameworks_is_named_not_used(tmp_path):
    records = [fake_record(cell("mlp", p), 0) for p in ("plain", "lightning", "ignite")]
    mixed = write_run(tmp_path / "mixed", records)
    ctx = versions_context([load(mixed)])
    assert ctx["frameworks"] == [] and "mixed" in ctx["warnings"][0]


def test_versions_page_is_self_contained_and_says_its_rule(tmp_path):
    runs = [_release_run(tmp_path, "lightning", v, factor=f)
            for v, f in (("2.5.1", 1.2), ("2.5.2", 1.6))]
    path = render_versions(runs, tmp_path / "versions.html")
    _, page = read(path)
    text = page.all_text()
    assert "2.5.1" in text and "2.5.2" in text and "p < 0.01" in text
    assert page.tags("svg") and page.tags("script") == [] and external_references(page) == []


def test_a_failed_release_does_not_switch_the_test_off(tmp_path):
    ok = _release_run(tmp_path, "lightning", "2.4.0", factor=1.2)
    failed = write_run(tmp_path / "lightning-2.5.1",
                       [fake_record(cell("mlp", p), rep, status="error" if p != "plain" else "ok")
                        for rep in range(6) for p in ("plain", "lightning")])
    manifest = json.loads((failed / "manifest.json").read_text())
    manifest["environment"]["packages"]["pytorch-lightning"] = "2.5.1"
    (failed / "manifest.json").write_text(json.dumps(manifest))
    slower = _release_run(tmp_path, "lightning", "2.5.2", factor=1.8)
    ctx = versions_context([load(r) for r in (ok, failed, slower)], missing=["lightning-2.6.6"])
    rows = {r["version"]: r for r in ctx["frameworks"][0]["groups"][0]["rows"]}
    assert rows["2.5.1"]["n"] == 0 and rows["2.5.1"]["overhead_ci"] == "no successful repetition"
    assert rows["2.5.2"]["against"] == "2.4.0"
    assert rows["2.5.2"]["figures"]["step_time_s"]["mark"]["css"] == "bad"
    assert any("lightning-2.6.6: no run folder" in w for w in ctx["warnings"])
    assert any("lightning error" in w for w in ctx["warnings"])


def test_a_later_release_without_the_broadcast_figure_is_flagged(tmp_path):
    runs = [_release_run(tmp_path, "lightning", "2.5.2", sync=40e-6),
            _release_run(tmp_path, "lightning", "2.7.0")]
    [fw] = versions_context([load(r) for r in runs])["frameworks"]
    assert fw["ddp_sync_from"] == "2.5.2" and fw["ddp_sync_unseen"] == ["2.7.0"]


def test_a_point_without_an_interval_is_drawn_hollow():
    from reports.plots import by_release

    tight = by_release("k", "t", ["1.0", "2.0"], {"g": [(1e-4, (0.9e-4, 1.1e-4)),
                                                        (2e-4, (1.9e-4, 2.1e-4))]})
    missing = by_release("k", "t", ["1.0", "2.0"], {"g": [(1e-4, None),
                                                          (2e-4, (1.9e-4, 2.1e-4))]})
    hollow = "fill: #ffffff; stroke: #1f77b4"  # a white marker edged in the line's colour
    assert hollow not in tight and hollow in missing


def _rows(runs):
    [fw] = versions_context([load(r) for r in runs])["frameworks"]
    return {r["version"]: r for r in fw["groups"][0]["rows"]}


def test_a_machine_that_drifted_between_folders_moves_no_drift_robust_figure(tmp_path):
    """Everything 1.5x slower in the later folder: the raw step time is marked (with the
    plain drift beside it), the paired overhead share and the framework excess are not."""
    rows = _rows([_release_run(tmp_path, "ignite", "0.5.1", 1.2, framework_s=(2e-4, 3e-4)),
                  _release_run(tmp_path, "ignite", "0.5.3", 1.2, machine=1.5,
                               framework_s=(2e-4, 3e-4))])
    later = rows["0.5.3"]
    assert later["figures"]["step_time_s"]["mark"]["css"] == "bad" and later["drift"]
    assert later["overhead_mark"] is None and later["excess_mark"] is None


def test_a_grown_overhead_is_marked_where_the_raw_step_time_hides_it(tmp_path):
    """The machine got faster while the release got slower: the raw step time did not move,
    the overhead and framework excess, as shares of the plain step beside them, did."""
    rows = _rows([_release_run(tmp_path, "lightning", "2.5.1", 1.2, framework_s=(2e-4, 3e-4)),
                  _release_run(tmp_path, "lightning", "2.5.2", 1.5, machine=0.8,
                               framework_s=(2e-4, 4.5e-4))])
    later = rows["2.5.2"]
    assert later["figures"]["step_time_s"]["mark"] is None  # 0.8 x 1.5 = 1.2 ms as before
    assert later["overhead_mark"]["css"] == "bad" and later["overhead_mark"]["text"] == \
        "+30.0% of plain"
    assert later["excess_mark"]["css"] == "bad" and float(later["excess_mark"]["p"]) < 0.01
    assert rows["2.5.1"]["overhead_mark"] is None  # nothing before it


def test_folders_of_another_harness_or_torch_are_refused_unless_allowed(tmp_path, capsys):
    from harness import cli
    from reports.versions import MixedRuns

    runs = [_release_run(tmp_path, "ignite", "0.5.1"),
            _release_run(tmp_path, "ignite", "0.5.3",
                         environment={"git_commit": "f" * 40, "packages": {"torch": "2.12.0"}})]
    with pytest.raises(MixedRuns, match=r"harness commit differs.*torch differs"):
        render_versions(runs, tmp_path / "v.html")
    assert cli.main(["versions", *map(str, runs), "-o", str(tmp_path / "v.html")]) == 2
    assert "--allow-mixed" in capsys.readouterr().err and not (tmp_path / "v.html").exists()
    _, page = read(render_versions(runs, tmp_path / "v.html", allow_mixed=True))
    assert "torch differs between the folders: 2.5.1 (ignite-0.5.1); 2.12.0 (ignite-0.5.3)" \
        in page.all_text()


def test_the_page_defines_framework_time_with_every_phase(tmp_path):
    from harness.analyse.analysis import FRAMEWORK_TIME

    runs = [_release_run(tmp_path, "ignite", v) for v in ("0.5.1", "0.5.3")]
    _, page = read(render_versions(runs, tmp_path / "v.html"))
    assert FRAMEWORK_TIME in " ".join(page.all_text().split())
    assert all(p in FRAMEWORK_TIME for p in ("forward", "backward", "optimizer", "data-wait"))
