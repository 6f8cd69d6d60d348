"""Placeholder replaced below."""
from pathlib import Path
def render_run(run_dir: Path, output: Path | None = None) -> Path:
    return run_dir
