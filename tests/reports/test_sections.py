"""The cross-cell sections (mixed precision, DDP scaling), MFU and energy, per-cell warnings."""

from __future__ import annotations

import re

from reports.render import render_run
from tests.reports.fixtures import (
    HOSTILE_WARNING,
    amp_records,
    cell,
    ddp_records,
    fake_record,
    standard_records,
    standard_run,
    write_run,
)
from tests.reports.htmlcheck import read

WARNING_BADGE = '<span class="badge warn">warning</span>'


def _section_html(html: str, section: str) -> str:
    match = re.search(rf'<section id="{section}">(.*?)</section>', html, re.DOTALL)
    assert match, f"no section {section}"
    return match.group(1)


def _rows(section_html: str) -> list[str]:
    """Each table row of a section as its text, cells separated by '|'."""
    rows = re.findall(r"<tr\b.*?</tr>", section_html, re.DOTALL)
    cells = [re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", r, re.DOTALL) for r in rows]
    return ["|".join(re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in row) for row in cells]


def test_mixed_precision_section_shows_the_speedup(tmp_path):
    # fp32 23.1 ms everywhere; bf16 10 / 12.5 / 11 ms: speedups 2.31, 1.848, 2.1
    records = amp_records(0.0231, {"plain": 0.010, "lightning": 0.0125, "ignite": 0.011})
    html, page = read(render_run(write_run(tmp_path, records)))
    rows = _rows(_section_html(html, "amp"))
    assert "plain|23.1 ms|10.0 ms|2.31x|baseline|0|0.05" in rows
    assert "lightning|23.1 ms|12.5 ms|1.85x|close|1.00e-03|0.05" in rows
    assert "ignite|23.1 ms|11.0 ms|2.10x|close|1.00e-03|0.05" in rows
    # the tolerance rule: a table of every (device, precision), CPU fp32 bitwise
    assert "cpu|fp32|bitwise|identical final weights (bitwise)" in rows
    assert any(r.startswith("cuda|bf16-mixed|0.05|") for r in rows)
    amp = _section_html(html, "amp")
    assert amp.count("<svg") == 1 and "2.31x" in amp.split("<svg", 1)[1]  # bar label
    assert "No mixed-precision cells" not in page.section_text("amp")


def test_sections_say_when_there_is_nothing_to_show(tmp_path):
    html, page = read(render_run(standard_run(tmp_path)))
    assert "No mixed-precision cells in this run" in page.section_text("amp")
    assert "bitwise" in page.section_text("amp")  # the tolerance rule still shows
    assert "No DDP scaling in this run" in page.section_text("scaling")
    assert "<svg" not in _section_html(html, "amp") + _section_html(html, "scaling")
    assert "No successful cell carries a warning" in page.section_text("warnings")
    assert _section_html(html, "overhead").count(WARNING_BADGE) == 0


def test_ddp_section_shows_efficiency_ideal_and_lightning_sync(tmp_path):
    # world 1 at 1 ms per step and world 2 at 1.25 ms, 32 samples per process: 80% efficient
    html, page = read(render_run(write_run(tmp_path, ddp_records(paradigms=("plain",
                                                                               "lightning")))))
    section = _section_html(html, "scaling")
    rows = _rows(section)
    assert "plain|1|2|32k samples/s|32k samples/s|reference|—|" in rows
    assert ("plain|2|3|51.2k samples/s|64k samples/s|80.0%|—|"
            "oversubscribed: 2 process(es) x 3 thread(s) on 4 cores") in rows
    # Lightning is 1.6x slower throughout (fixtures.OVERHEAD): the same 80%, plus its sync
    assert ("lightning|2|3|32k samples/s|40k samples/s|80.0%|400 us|"
            "oversubscribed: 2 process(es) x 3 thread(s) on 4 cores") in rows
    assert "lightning|1|2|20k samples/s|20k samples/s|reference|—|" in rows
    text = page.section_text("scaling")
    assert ("Lightning >= 2.5.2 broadcasts a one-element tensor from rank 0 and calls .item() "
            "on it every training step under DDP") in text and "upstream issue 21487" in text
    # the plot: a solid line per paradigm and its dashed ideal, named in the legend
    assert section.count("<svg") == 1
    assert "ideal (N x world 1)" in section and "stroke-dasharray" in section
    # the world-2 cells carry their warning into the overhead table and the Warnings section
    assert _section_html(html, "overhead").count(WARNING_BADGE) == 2
    assert page.section_text("warnings").count("oversubscribed") == 2


def test_mfu_energy_and_achieved_flops_on_a_known_gpu(tmp_path):
    # 2 TFLOP per step in 10 ms = 200 TFLOP/s; against a 989.4 TFLOP/s peak, 20.2%
    records = [fake_record(cell("gpt", p, device="cuda", precision="bf16-mixed"), 0, 0.01,
                           noise=0.0, flops_per_step=2e12, peak_flops=989.4e12,
                           energy_per_item_j=0.0025) for p in ("plain", "ignite")]
    html, page = read(render_run(write_run(tmp_path, records)))
    rows = _rows(_section_html(html, "throughput"))
    assert ("Paradigm|Throughput|Achieved FLOP/s (per process)|MFU|Energy (J/item)"
            in rows)
    assert "plain|410k tokens/s|200 TFLOP/s|20.2%|0.0025" in rows
    assert "MFU omitted" not in page.section_text("throughput")


def test_mfu_omitted_for_a_gpu_without_a_known_peak(tmp_path):
    records = [fake_record(cell("mlp", p, device="cuda"), 0, 0.002, flops_per_step=1e9)
               for p in ("plain", "ignite")]
    html, page = read(render_run(write_run(tmp_path, records)))
    assert "MFU omitted: unknown device peak" in page.section_text("throughput")
    rows = _rows(_section_html(html, "throughput"))
    assert any(r.startswith("plain|") and r.endswith("|—|—") for r in rows)  # MFU, energy


def test_cpu_run_leaves_out_mfu_and_energy(tmp_path):
    plain = write_run(tmp_path / "plain", standard_records(("mlp",), 1))
    header = _rows(_section_html(read(render_run(plain))[0], "throughput"))[0]
    assert header == "Paradigm|Throughput"
    counted = [fake_record(cell("mlp", p), 0, 0.002, noise=0.0, flops_per_step=4e6)
               for p in ("plain", "ignite")]
    html, page = read(render_run(write_run(tmp_path / "flops", counted)))
    rows = _rows(_section_html(html, "throughput"))
    assert rows[0] == "Paradigm|Throughput|Achieved FLOP/s (per process)"
    assert "plain|16k samples/s|2 GFLOP/s" in rows  # 4 MFLOP in 2 ms
    assert "MFU" not in page.section_text("throughput")


def test_warnings_are_escaped_everywhere(tmp_path):
    records = standard_records(("mlp",), 2)
    records += [fake_record(cell("mlp", p, batch_size=8), r, extra_warnings=[HOSTILE_WARNING])
                for r in range(2) for p in ("plain", "lightning")]
    html, page = read(render_run(write_run(tmp_path, records)))
    assert page.tags("script") == []
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;warned&#34;)&lt;/script&gt; check &amp; compare" in html
    warnings = page.section_text("warnings")
    assert warnings.count(HOSTILE_WARNING) == 2  # once per cell, both repetitions merged
    assert "repetitions 0, 1" in warnings
    # the overhead badge carries the text in its tooltip, escaped in the attribute
    titles = [a["title"] for a in page.tags("a") if a.get("href") == "#warnings" and a.get("title")]
    assert titles == [HOSTILE_WARNING, HOSTILE_WARNING]
