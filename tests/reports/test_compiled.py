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
