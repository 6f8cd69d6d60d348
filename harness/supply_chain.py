"""Framework releases the harness refuses to install or run: compromised ones.

pytorch-lightning and lightning 2.6.2 and 2.6.3 on PyPI ran a credential stealer on import
(advisory GHSA-w37p-236h-pfx3). pyproject.toml excludes them; the version matrix's releases
file (``benchmarks/versions.toml``, read by the noxfile) is refused if it names one; and a
command that would start cell processes is refused where one is installed, before anything
imports it (``installed_problem`` reads package metadata only). Nothing here imports more than
the standard library: the noxfile loads this file by its path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version

ADVISORY = "GHSA-w37p-236h-pfx3"
COMPROMISED: Mapping[str, frozenset[str]] = {
    "pytorch-lightning": frozenset({"2.6.2", "2.6.3"}),
    "lightning": frozenset({"2.6.2", "2.6.3"}),
}


def _message(package: str, release: str) -> str:
    return (f"{package} {release} is a compromised release (it steals credentials on import, "
            f"advisory {ADVISORY}): never install or run it")


def release_problem(package: str, release: str) -> str | None:
    """Why ``package==release`` must not be installed, or None."""
    return _message(package, release) if release in COMPROMISED.get(package, ()) else None


def releases_problem(versions: Mapping[str, tuple[str, Iterable[str]]]) -> str | None:
    """The first compromised release in a releases file (framework -> (package, releases)),
    with where it is named; None when there is none."""
    for framework, (package, releases) in versions.items():
        for release in releases:
            problem = release_problem(package, release)
            if problem:
                return f"benchmarks/versions.toml [{framework}] names {problem}"
    return None


def installed_problem() -> str | None:
    """A compromised release installed in this environment (read from its metadata, without
    importing it), or None."""
    for package in COMPROMISED:
        try:
            installed = version(package)
        except PackageNotFoundError:
            continue
        problem = release_problem(package, installed)
        if problem:
            return f"installed: {problem}; pip install 'pytorch-lightning>=2.6.6'"
    return None
