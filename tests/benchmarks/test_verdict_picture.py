"""benchmarks/verdict_picture.py: the report's Verdict figure as a PNG, captioned with the run,
its machine and date (the README's picture is made by it from a real run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.reports.fixtures import standard_records, write_run

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("verdict_picture",
                                               ROOT / "benchmarks" / "verdict_picture.py")
assert _spec and _spec.loader
verdict_picture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verdict_picture)


def test_a_stored_run_becomes_a_captioned_png(tmp_path, capsys):
    run = write_run(tmp_path / "run", standard_records(("mlp",), repetitions=6))
    out = tmp_path / "pictures" / "verdict.png"
    assert verdict_picture.main([str(run), "--out", str(out), "--dpi", "40"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    said = capsys.readouterr().out
    assert "fixture suite, run run, AMD EPYC 7B13, 4 logical CPUs, torch 2.5.1, " \
           "pytorch-lightning 2.5.0, pytorch-ignite 0.5.1, 2025-01-01" in said


def test_a_folder_without_records_is_refused(tmp_path, capsys):
    assert verdict_picture.main([str(tmp_path), "--out", str(tmp_path / "v.png")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert not (tmp_path / "v.png").exists()
