"""Load a rendered report in headless Chromium: it parses, shows its plots, logs no errors.

Skipped where no ``chromium`` binary is installed. Chromium runs with networking features off
and every host name unresolvable, so a page that tried to fetch anything would fail loudly
(as a console error) rather than quietly succeed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from reports.context import SECTIONS
from reports.render import render_run
from tests.reports.fixtures import showcase_records, write_run

pytestmark = pytest.mark.browser

CHROMIUM_TIMEOUT_S = 120
# Set to a path to keep a copy of the screenshot for a person to look at.
SCREENSHOT_COPY_ENV = "PARADIGM_BENCH_REPORT_SCREENSHOT"


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("headless Chromium is not installed")
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True,
                          timeout=CHROMIUM_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    run = write_run(tmp_path_factory.mktemp("run"), showcase_records(), suite="showcase")
    return render_run(run)


def _page_fetches(net_log: Path) -> list[str]:
    """URLs the page itself asked for beyond its own file, from Chromium's network log.

    Chromium's own service requests are told apart by their isolation key: only requests made
    on behalf of the file:// page carry a ``file://`` key.
    """
    events = json.loads(net_log.read_text())["events"]
    return sorted({p["url"] for e in events if (p := e.get("params") or {}).get("url")
                   and str(p.get("network_isolation_key", "")).startswith("file://")
                   and not p["url"].startswith("file:")})


def _console_lines(stderr: str) -> list[str]:
    """Console messages from the page (Chromium logs them as ``CONSOLE(line)``)."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line]


def test_dom_has_every_section_and_plot_and_no_console_errors(report, tmp_path):
    net_log = tmp_path / "net.json"
    result = _chromium(tmp_path, f"--log-net-log={net_log}", "--dump-dom", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    for section, _ in SECTIONS:
        assert f'id="{section}"' in dom
    # 6 groups: distributions, throughput, start-up and loss curves each; then the
    # mixed-precision speedup bars and one DDP scaling plot. The Verdict draws no picture here:
    # the showcase's reference rows have no interval (too few repetitions, a failed paradigm),
    # and such rows are listed apart, never drawn as results (test_render checks the picture)
    assert len(re.findall(r"<svg\b", dom)) == 6 * 4 + 2
    assert "Without an interval" in dom
    assert "<img" not in dom
    assert _console_lines(result.stderr) == []
    assert _page_fetches(net_log) == []


def test_page_fetch_detection_works(tmp_path):
    """The checks above can fail: a page that fetches and logs is caught by both."""
    page = tmp_path / "bad.html"
    page.write_text('<script>console.error("x")</script><img src="https://example.com/a.png">')
    net_log = tmp_path / "net.json"
    result = _chromium(tmp_path, f"--log-net-log={net_log}", "--dump-dom", page.as_uri())
    assert _console_lines(result.stderr)
    assert _page_fetches(net_log) == ["https://example.com/a.png"]


def test_screenshot_is_a_real_picture(report, tmp_path):
    shot = tmp_path / "report.png"
    result = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,4000",
                       report.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    assert _console_lines(result.stderr) == []
    assert shot.stat().st_size > 20_000
    pixels = image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (4000, 1400)
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50  # text, plots, badges: not a blank or single-colour page
    assert pixels.std() > 0.05
    if os.environ.get(SCREENSHOT_COPY_ENV):
        shutil.copyfile(shot, os.environ[SCREENSHOT_COPY_ENV])
