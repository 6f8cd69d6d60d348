"""The Compiled section, rendered from fabricated records."""

from __future__ import annotations

import re

from reports.render import render_run
from tests.reports.compile_fixtures import compiled_records
from tests.reports.fixtures import standard_run, write_run


def _section(html: str) -> str:
    start = html.index('<section id="compiled">')
    return html[start:html.index("</section>", start)]


def test_compiled_section_shows_before_and_after_compile_costs_and_the_known_failure(tmp_path):
    html = render_run(write_run(tmp_path / "run", compiled_records())).read_text()
    assert '<a href="#compiled">Compiled</a>' in html
    section = _section(html)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))
    assert "2.50x" in text  # the plain loop: 1.0 ms eager over 0.4 ms compiled
    assert "+30.0% → +75.0%" in text  # Lightning's overhead share, eager -> compiled
    assert "30.00 s" in text and "4.00 s" in text and "r0 cold 30.00 s" in text
    assert "Lightning issue 21836" in text and "is_param_in_hook_signature" in text
    assert "Call to `torch._dynamo.graph_break()`" in text
    assert section.count("<svg") == 1  # the overhead-share picture


def test_a_run_without_compiled_cells_says_how_to_get_them(tmp_path):
    section = _section(render_run(standard_run(tmp_path / "run")).read_text())
    assert "No compiled cells in this run" in section and "<svg" not in section


def test_the_section_says_when_paradigms_shared_one_compile_cache(tmp_path):
    records = compiled_records()
    for record in records:
        if "compile_cache" in record:
            record["compile_cache"]["shared_by"] = ["PARADIGM_BENCH_COMPILE_CACHE"]
    section = _section(render_run(write_run(tmp_path / "run", records)).read_text())
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))
    assert "These compiled cells shared one compile cache ( PARADIGM_BENCH_COMPILE_CACHE )" \
        in text
    unshared = _section(render_run(write_run(tmp_path / "own", compiled_records())).read_text())
    assert "shared one compile cache" not in unshared
