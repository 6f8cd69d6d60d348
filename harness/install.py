"""``python -m harness.install``: install the project into an interpreter that already holds
most of what it needs (a GPU host's own CUDA torch, Lightning, pandas...), replacing nothing it
has and asking no package registry for anything it has.

It reads the project's requirements from ``pyproject.toml`` (the base dependencies and the
extras asked for), finds which distributions this interpreter has (``importlib.metadata``:
nothing is imported), installs the project itself without dependencies, and then only what is
missing, group by group: first from a local folder of wheels alone (``--find-links``, no
registry), then, unless ``--no-index``, from the registry too. A group that cannot be installed
is named with its install command; the rest go on:

- an optional library missing (an extra's): what needs it says so when it runs (its cells
  ``unsupported``, its tests skipped, each with the install command);
- a paradigm's framework missing (Ignite, Lightning): that paradigm's cells are
  ``unsupported``; Ignite is pure Python, so its wheel travels in the folder;
- anything else of the base missing: the harness cannot run; exit 1.

Filling the wheel folder on a machine that has a registry::

    pip download pytorch-ignite==0.5.5 --no-deps -d .whl

The host's torch is pinned for every install (``torch==<its version>``), so that no extra ever
replaces it with a torch of pip's choosing. Nothing here imports torch unless ``--require-cuda``
asks whether it sees a GPU (in a child process, whose one marked line is parsed).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # an interpreter without packaging still has pip's copy of it
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[assignment]

PROJECT = "paradigm-bench"
WHEELS_ENV = "PARADIGM_BENCH_WHEELS"
DEFAULT_WHEELS = Path(".whl")  # ignored by git: wheels are fetched, never committed
BASE = "base"
# a paradigm's framework: without it, that paradigm's cells are `unsupported`, nothing else
FRAMEWORKS = {"pytorch-ignite": "ignite", "pytorch-lightning": "lightning"}
FILL_COMMAND = "pip download pytorch-ignite==0.5.5 --no-deps -d {folder}"
TORCH_MARKER = "paradigm-bench-torch:"  # the line of the child's output that holds the answer
EXIT_MISSING = 1


@dataclass(frozen=True)
class Need:
    """One requirement of the project and what this interpreter has of it."""

    requirement: str  # as pyproject.toml writes it
    group: str  # "base", or the extra that asks for it
    installed: str | None  # the version found, None when the distribution is missing

    @property
    def name(self) -> str:
        return str(canonicalize_name(Requirement(self.requirement).name))

    @property
    def within_range(self) -> bool:
        """Whether the version found is one the requirement admits (a host's other version is
        kept all the same: the sessions replace nothing the host has)."""
        spec = Requirement(self.requirement).specifier
        return self.installed is not None and spec.contains(self.installed, prereleases=True)


def requirements(pyproject: dict, extras: Iterable[str]) -> list[tuple[str, str]]:
    """(group, requirement) for the base dependencies and each extra, the project's own
    extras that an extra names (``paradigm-bench[loggers]``) expanded, each extra once."""
    project = pyproject["project"]
    optional = project.get("optional-dependencies", {})
    out = [(BASE, r) for r in project.get("dependencies", [])]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise ValueError(f"{PROJECT} has no extra {extra!r}; it has {', '.join(optional)}")
        seen.add(extra)
        for text in optional[extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == PROJECT:
                todo += sorted(req.extras)
            else:
                out.append((extra, text))
    return out


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def survey(pyproject: dict, extras: Iterable[str],
           version_of: Callable[[str], str | None] = installed_version) -> list[Need]:
    """Every requirement of the base and ``extras``, with the version this interpreter has."""
    return [Need(text, group, version_of(Requirement(text).name))
            for group, text in requirements(pyproject, extras)]


def missing_by_group(needs: Sequence[Need]) -> dict[str, list[str]]:
    """The requirements to install, by group, in the order pyproject lists them."""
    out: dict[str, list[str]] = {}
    for need in needs:
        if need.installed is None:
            out.setdefault(need.group, []).append(need.requirement)
    return out


def pip_install(python: str, requirements: Sequence[str], wheels: Path, constraints: Path,
                index: bool) -> list[str]:
    """One pip call: the wheel folder always, the registry only with ``index`` (tried once,
    briefly: a host that cannot reach one must not wait through pip's retries)."""
    registry = ["--retries", "0", "--timeout", "10"] if index else ["--no-index"]
    return [python, "-m", "pip", "install", "--disable-pip-version-check", *registry,
            "--find-links", str(wheels), "-c", str(constraints), *requirements]


def project_install(python: str, root: Path) -> list[str]:
    """The project itself, editable, without dependencies and with the interpreter's own
    setuptools: no registry is asked for anything."""
    return [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps",
            "--no-index", "--no-build-isolation", "-e", str(root)]


def consequence(group: str, requirement: str, folder: Path) -> str:
    """What a requirement left missing means, with the command that adds it."""
    name = str(canonicalize_name(Requirement(requirement).name))
    if group == BASE and name in FRAMEWORKS:
        fill = FILL_COMMAND.format(folder=folder) if name == "pytorch-ignite" else \
            f"pip download '{requirement}' -d {folder}"
        return (f"{requirement}: not installed; {FRAMEWORKS[name]} cells are recorded "
                f"`unsupported`. On a machine with a registry: `{fill}`, then copy {folder} "
                f"here and install again")
    if group == BASE:
        return (f"{requirement}: not installed, and the harness needs it: "
                f"pip install '{requirement}' (or its wheel in {folder})")
    return (f"{requirement} ([{group}]): not installed; what needs it is `unsupported` or "
            f"skipped when it runs: pip install '{requirement}'")


def torch_seen(python: str) -> dict[str, object]:
    """The torch ``python`` imports: its version and whether it sees a CUDA device. Read from
    one marked line of the child's output: a warning printed at import changes nothing."""
    code = ("import json, torch; print(" + repr(TORCH_MARKER) + " + json.dumps({'version': "
            "torch.__version__, 'cuda': torch.cuda.is_available()}))")
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return parse_torch_line(proc.stdout) or {"version": None, "cuda": False,
                                             "error": proc.stderr.strip()[-300:]}


def parse_torch_line(output: str) -> dict[str, object] | None:
    for line in output.splitlines():
        if line.startswith(TORCH_MARKER):
            return dict(json.loads(line[len(TORCH_MARKER):]))
    return None


def host_torch_pin(version: str | None) -> str:
    """The constraint that keeps the host's torch: ``torch==2.11.0+cu130``, or nothing."""
    if version is None:
        return ""
    if not re.fullmatch(r"[0-9A-Za-z.+!_-]+", version):
        raise ValueError(f"unexpected torch version {version!r}")
    return f"torch=={version}\n"


def externally_managed() -> bool:
    """Whether pip will refuse to install into this interpreter (PEP 668: a distribution's
    system Python outside any virtual environment), unless told to anyway."""
    import sysconfig

    marker = Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED"
    return (sys.prefix == sys.base_prefix and marker.exists()
            and not os.environ.get("PIP_BREAK_SYSTEM_PACKAGES"))


VENV_ADVICE = ("pip refuses to install into this interpreter (an externally managed system "
               "Python): make an environment that sees its packages first, `python3 -m venv "
               "--system-site-packages .venv`, then run this with .venv/bin/python")


def describe(needs: Sequence[Need]) -> list[str]:
    """One line per requirement: found (and whether within the project's range), or missing."""
    lines = []
    for n in needs:
        if n.installed is None:
            lines.append(f"  missing  {n.requirement} [{n.group}]")
        else:
            note = "" if n.within_range else " (outside the project's range: kept as it is)"
            lines.append(f"  found    {n.name} {n.installed} [{n.group}]{note}")
    return lines


def install(root: Path, extras: Sequence[str], wheels: Path, index: bool,
            python: str = sys.executable,
            run: Callable[[list[str]], int] = lambda argv: subprocess.run(argv).returncode,
            version_of: Callable[[str], str | None] = installed_version) -> int:
    """Install the project and what it lacks; 0, or EXIT_MISSING when the harness cannot run
    (a base requirement other than a framework is missing)."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    needs = survey(pyproject, extras, version_of)
    print(f"{PROJECT}: what this interpreter ({python}) has of [{','.join(extras) or BASE}]:")
    print("\n".join(describe(needs)))
    if externally_managed():
        print(f"error: {VENV_ADVICE}")
        return EXIT_MISSING
    with tempfile.TemporaryDirectory() as tmp:
        pin = Path(tmp) / "host-torch.txt"
        pin.write_text(host_torch_pin(version_of("torch")))
        if run(project_install(python, root)) != 0:
            print(f"error: the project itself did not install (pip install --no-deps -e {root})")
            return EXIT_MISSING
        left = {}
        for group, reqs in missing_by_group(needs).items():
            done = run(pip_install(python, reqs, wheels, pin, index=False)) == 0 or (
                index and run(pip_install(python, reqs, wheels, pin, index=True)) == 0)
            if not done:
                left[group] = reqs
    for group, reqs in left.items():
        for req in reqs:
            print(f"warning: {consequence(group, req, wheels)}")
    fatal = [r for r in left.get(BASE, [])
             if canonicalize_name(Requirement(r).name) not in FRAMEWORKS]
    return EXIT_MISSING if fatal else 0


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m harness.install` (the docs' commands parse with it)."""
    p = argparse.ArgumentParser(prog="python -m harness.install", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--extras", default="", help="comma-separated extras, e.g. test,export")
    p.add_argument("--find-links", type=Path, default=None, metavar="DIR",
                   help=f"the folder of wheels (default: ${WHEELS_ENV}, else {DEFAULT_WHEELS})")
    p.add_argument("--no-index", action="store_true",
                   help="never ask a package registry (a host without one)")
    p.add_argument("--require-cuda", action="store_true",
                   help="stop first unless this interpreter's torch sees a CUDA device")
    p.add_argument("--check", action="store_true",
                   help="only say what this interpreter has and lacks; install nothing")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.require_cuda:
        seen = torch_seen(sys.executable)
        if not seen.get("cuda"):
            print(f"error: the torch this interpreter imports ({seen.get('version')}) sees no "
                  f"CUDA device: install a CUDA build of torch into it, or use the CPU "
                  f"sessions (nox -s bench-cpu) {seen.get('error') or ''}".rstrip())
            return 2
    wheels = args.find_links or Path(os.environ.get(WHEELS_ENV) or args.root / DEFAULT_WHEELS)
    extras = [e for e in args.extras.split(",") if e]
    if args.check:
        needs = survey(tomllib.loads((args.root / "pyproject.toml").read_text()), extras)
        print("\n".join(describe(needs)))
        return 0
    return install(args.root, extras, wheels, index=not args.no_index)


if __name__ == "__main__":
    sys.exit(main())
