"""Compromised framework releases (GHSA-w37p-236h-pfx3) are never installed or run, and the
version matrix loads no checkpoint it did not write (GHSA-qqmf-gpg7-g8gw)."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from harness import supply_chain
from harness.cli import main
from harness.matrix.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
BAD = ("2.6.2", "2.6.3")


def test_the_dependency_excludes_the_compromised_releases():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    [lightning] = [Requirement(d) for d in deps if d.startswith("pytorch-lightning")]
    assert not any(lightning.specifier.contains(v) for v in BAD)
    assert all(lightning.specifier.contains(v) for v in ("2.4.0", "2.6.1", "2.6.6"))


def test_the_releases_file_names_none_and_one_that_did_would_be_refused():
    data = tomllib.loads((ROOT / "benchmarks" / "versions.toml").read_text())
    versions = {fw: (spec["package"], spec["releases"]) for fw, spec in data.items()}
    assert supply_chain.releases_problem(versions) is None
    versions["lightning"][1].append("2.6.3")
    problem = supply_chain.releases_problem(versions)
    assert problem == ("benchmarks/versions.toml [lightning] names pytorch-lightning 2.6.3 is a "
                       "compromised release (it steals credentials on import, advisory "
                       "GHSA-w37p-236h-pfx3): never install or run it")
    assert supply_chain.release_problem("lightning", "2.6.2")
    assert supply_chain.release_problem("pytorch-ignite", "2.6.2") is None


def test_a_run_is_refused_where_a_compromised_release_is_installed(monkeypatch, capsys, tmp_path):
    installed = {"pytorch-lightning": "2.6.3"}

    def version(package):
        if package not in installed:
            raise supply_chain.PackageNotFoundError(package)
        return installed[package]

    monkeypatch.setattr(supply_chain, "version", version)
    assert main(["run", "--workload", "linear", "--plan", "--out", str(tmp_path / "r")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: installed: pytorch-lightning 2.6.3 is a compromised release")
    assert "GHSA-w37p-236h-pfx3" in line
    installed["pytorch-lightning"] = "2.6.6"
    assert supply_chain.installed_problem() is None


def test_the_version_matrix_loads_only_checkpoints_it_wrote():
    """No cell of the versions suite names a checkpoint to resume from; a ``resume_at`` cell
    would resume from the one its own first leg wrote (``runner._resume_from_first_leg``)."""
    cells = load_suite(ROOT / "benchmarks" / "suites" / "versions.toml").cells
    assert cells and not any(c.features.resume_from for c in cells)


@pytest.mark.parametrize("package", sorted(supply_chain.COMPROMISED))
def test_both_distributions_are_covered(package):
    assert supply_chain.COMPROMISED[package] == frozenset(BAD)


@pytest.mark.skipif(shutil.which("nox") is None, reason="nox is not on PATH")
def test_the_noxfile_refuses_a_releases_file_that_names_one(tmp_path):
    (tmp_path / "harness").mkdir()
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(ROOT / "noxfile.py", tmp_path)
    shutil.copy(ROOT / "harness" / "supply_chain.py", tmp_path / "harness")
    releases = (ROOT / "benchmarks" / "versions.toml").read_text()
    (tmp_path / "benchmarks" / "versions.toml").write_text(
        releases.replace('    "2.6.6",\n', '    "2.6.6",\n    "2.6.2",\n'))
    listed = subprocess.run(["nox", "-l"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode != 0
    assert "names pytorch-lightning 2.6.2 is a compromised release" in listed.stderr
