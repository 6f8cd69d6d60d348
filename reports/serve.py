"""The serving page (``serve.html`` in a serve folder, or ``<run>/serve/serve.html`` for a
suite's ``[[serve]]`` tables): per comparison, latency against request rate for every target
(p50 and p99, the SLO drawn), the highest rate within the SLO with its interval, parity, the
generator's ceiling, failures, and the machine."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import jinja2
import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from harness.results import write_text_atomic
from harness.serve import analysis
from harness.serve.spec import NOOP
from harness.serve.sweep import load_all
from reports.plots import STYLE, color, to_svg

PAGE = "serve.html"
PARITY_CSS = {"bitwise": "ok", "within tolerance": "info", "differs": "bad", "unchecked": "warn"}


def _key(text: str) -> str:
    return "s-" + re.sub(r"[^A-Za-z0-9_-]", "-", text)


def latency_plot(key: str, slo_ms: float, rows: list[dict[str, Any]]) -> str:
    """p50 (dashed) and p99 (solid) against target rate, one colour per paradigm, one marker
    per path; the SLO a horizontal line."""
    markers = "osD^vP*X"
    paths = sorted({r["path"] for r in rows})
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(6.8, 3.6), layout="constrained")
        ax = fig.add_subplot()
        for row in rows:
            curve = row["curve"]
            if not curve:
                continue
            x = [c["target_rps"] for c in curve]
            hue = "#64748b" if row["path"] == NOOP else color(row["paradigm"] or "")
            mark = markers[paths.index(row["path"]) % len(markers)]
            ax.plot(x, [c["p99_ms"] for c in curve], "-", marker=mark, color=hue,
                    markersize=4, linewidth=1.3, label=f"{row['label']} p99")
            ax.plot(x, [c["p50_ms"] for c in curve], "--", marker=mark, color=hue,
                    markersize=3, linewidth=0.8, alpha=0.7)
        ax.axhline(slo_ms, color="#dc2626", linewidth=0.9, linestyle=":")
        ax.set_xlabel("target rate (requests/s)")
        ax.set_ylabel("latency from scheduled send (ms)")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # no mathtext
        fig.legend(loc="outside right center", fontsize=6)
        ax.set_title("p99 (solid) and p50 (dashed); dotted: the SLO", loc="left")
        return to_svg(fig, key)


def _fmt(value: float, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _rate_text(row: dict[str, Any]) -> str:
    if not row["limits"]:
        return "–"
    text = f"{row['mean']:g}" + ("+" if row["lower_bound"] else "")
    if row["interval"]:
        lo, hi = row["interval"]
        text += f" [{max(lo, 0):.0f}, {hi:.0f}]"
    return text


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        last = row["curve"][-1] if row["curve"] else {}
        out.append({
            "label": row["label"], "paradigm": row["paradigm"] or "", "rate": _rate_text(row),
            "range": "–" if not row["limits"] else
            f"{min(row['limits']):g}–{max(row['limits']):g} ({len(row['limits'])} rep.)",
            "parity": row["parity"] or "", "parity_css": PARITY_CSS.get(row["parity"] or "", ""),
            "statuses": ", ".join(row["statuses"]), "messages": row["messages"],
            "startup": _fmt(min(row["startup_s"], default=math.nan)),
            "unstable": f"{row['unstable_points']}/{row['points']}",
            "last": f"{last.get('target_rps', math.nan):g} req/s: p50 "
                    f"{_fmt(last.get('p50_ms', math.nan))} ms, p99 "
                    f"{_fmt(last.get('p99_ms', math.nan))} ms" if last else "–"})
    return out


def comparison(data: dict[str, Any]) -> dict[str, Any]:
    spec = data["spec"]
    rows = analysis.target_rows(data)
    env = data.get("environment") or {}
    return {
        "id": _key(data["name"]), "name": data["name"], "spec": spec,
        "verdict": analysis.verdict(data), "rows": table_rows(rows),
        "plot": latency_plot(_key(data["name"]) + "-lat", spec["slo_ms"], rows)
        if any(r["curve"] for r in rows) else "",
        "warnings": data.get("warnings", []), "refused": data.get("refused", {}),
        "environment": [(k, str(env[k])) for k in ("cpu", "cpu_count", "server_cpu",
                                                   "generator_cpu", "date", "git_commit")
                        if k in env],
        "packages": sorted((env.get("packages") or {}).items()),
        "batching": env.get("batching")}


def serve_context(out: Path) -> dict[str, Any]:
    return {"title": f"{Path(out).name} · serving",
            "comparisons": [comparison(d) for d in load_all(Path(out))]}


def verdict_lines(out: Path) -> list[str]:
    """The Verdict's serving lines (one per comparison) for a run's report."""
    return [analysis.verdict(d) for d in load_all(Path(out))]


def render_serve(out: Path, output: Path | None = None) -> Path:
    """Write the serving page of the serve folder ``out`` (default ``out/serve.html``)."""
    output = Path(output) if output else Path(out) / PAGE
    env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    write_text_atomic(output, env.get_template("serve.html.j2").render(serve_context(out)))
    return output
