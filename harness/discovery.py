"""Find workloads without a registry: modules in ``workloads/``, a module or file named on the
command line, or an entry point in the ``paradigm_bench.workloads`` group.

A workload spec is one of:

- a name (``mlp``): the ``name`` of a Workload subclass in a module of the ``workloads`` package
  or registered as an entry point;
- a module (``mypkg.models.tiny``) or a file (``./my_workload.py``), optionally followed by
  ``:ClassName`` when the module defines more than one workload.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from harness.config import NAME_PATTERN

if TYPE_CHECKING:  # importing the Workload base imports torch; keep `check_spec` fast
    from harness.workload import Workload

ENTRY_POINT_GROUP = "paradigm_bench.workloads"


class UnknownWorkloadError(LookupError):
    """Raised when a spec names no workload; the message lists the valid names."""


def workloads_in(module: ModuleType) -> list[type[Workload]]:
    """The concrete Workload subclasses defined in ``module`` (not merely imported into it)."""
    from harness.workload import Workload

    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Workload)
        and not inspect.isabstract(obj)
        and obj.__module__ == module.__name__
    ]


def builtin_workloads() -> dict[str, type[Workload]]:
    """Every workload found in the ``workloads`` package and in entry points, by name."""
    import workloads

    found: dict[str, type[Workload]] = {}
    for info in pkgutil.iter_modules(workloads.__path__, prefix="workloads."):
        for cls in workloads_in(importlib.import_module(info.name)):
            found[cls.name] = cls
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        found.setdefault(getattr(cls, "name", ep.name), cls)
    return found


def declared_names() -> list[str]:
    """Workload names in ``workloads/`` and entry points, read without importing anything.

    The CLI validates ``--workload`` with this before torch is imported, so that a typo is
    rejected in well under a second; ``resolve`` later imports the module for real.
    """
    names = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names | set(declared_requirements()))


def declared_requirements() -> dict[str, dict[str, str]]:
    """Each workload of ``workloads/`` -> its ``requires`` (import name -> install command),
    read from the source without importing anything (``{}`` where it declares none)."""
    import workloads

    found: dict[str, dict[str, str]] = {}
    for folder in workloads.__path__:
        for path in sorted(Path(folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    for name in _class_attr(node, "name"):
                        requires = _class_attr(node, "requires")
                        found[name] = requires[0] if requires else {}
    return found


def _class_attr(node: ast.ClassDef, attr: str) -> list[Any]:
    """The literal values ``attr`` is assigned in a class body (a str for ``name``, a dict of
    str for ``requires``); values that are not literals are skipped."""
    values = []
    for stmt in node.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            try:
                values.append(ast.literal_eval(value))
            except ValueError:
                continue
    expected = str if attr == "name" else dict
    return [v for v in values if isinstance(v, expected)]


class MissingLibrary(NotImplementedError):
    """A library the workload builds on is not installed (recorded as ``unsupported``)."""


def missing_libraries(name: str, requires: Mapping[str, str]) -> str | None:
    """Why workload ``name`` cannot run here (its libraries and their install commands), or
    None when every library it requires is installed. Finds them without importing them."""
    missing = {module: install for module, install in requires.items()
               if importlib.util.find_spec(module.partition(".")[0]) is None}
    if not missing:
        return None
    needs = ", ".join(sorted(missing))
    commands = " ".join(sorted({f"'{install}'" for install in missing.values()}))
    return f"workload {name!r} needs {needs}, which is not installed: pip install {commands}"


def import_requirements(cls: type[Workload]) -> None:
    """Import the libraries ``cls`` requires, or raise MissingLibrary with the install command.

    The worker calls this before it imports the paradigm, so that the library's import time
    falls on no paradigm's start-up (with torchvision installed, Lightning's torchmetrics
    would otherwise import it inside Lightning's timed import but not the plain loop's).
    """
    reason = missing_libraries(cls.name, cls.requires)
    if reason is not None:
        raise MissingLibrary(reason)
    for module in cls.requires:
        importlib.import_module(module)


def default_batch_size(spec: str, size: str = "default") -> int:
    """The per-process batch size a workload asks for at ``size`` when a cell names none."""
    check_spec(spec)  # a typo fails here, before the import that resolve() needs
    return resolve(spec).batch_size_for(size)


def batch_misfit(spec: str, size: str, batch_size: int, world_size: int) -> str | None:
    """Why one batch of ``batch_size`` per process cannot be drawn from the workload's
    training set at ``size`` split over ``world_size`` ranks, naming the largest batch that
    fits; None when it fits or the workload cannot say without building its data."""
    workload = resolve(spec).from_size(size)
    samples = workload.train_samples()
    if samples is None:
        return None
    per_rank = samples // world_size
    if per_rank >= batch_size:
        return None
    fits = (f"the largest batch that fits is {per_rank} (--batch-size {per_rank})" if per_rank
            else "no batch fits at this world size")
    return (f"{spec} at size {size!r} has {samples} training samples, {per_rank} per rank over "
            f"{world_size}: fewer than one batch of {batch_size}; {fits}")


def check_spec(spec: str) -> None:
    """Reject a workload spec that cannot resolve, cheaply (no torch import for names)."""
    target, _, class_name = spec.partition(":")
    if target.endswith(".py") or "/" in target:
        if not Path(target).is_file():
            raise UnknownWorkloadError(f"workload file not found: {target}")
    elif "." in target or class_name:
        if importlib.util.find_spec(target) is None:
            raise UnknownWorkloadError(f"workload module {target!r} not found")
    elif target not in declared_names():
        raise UnknownWorkloadError(
            f"unknown workload {target!r}; valid: {', '.join(declared_names())} "
            "(or a module / .py file defining a Workload)"
        )


def _import_file(path: Path) -> ModuleType:
    module_name = f"_user_workload_{path.stem}"
    loaded = sys.modules.get(module_name)
    if loaded is not None and Path(loaded.__file__ or "").resolve() == path.resolve():
        return loaded  # once per process: a study resolves its workload for every trial
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UnknownWorkloadError(f"cannot import workload file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


def _pick(candidates: list[type[Workload]], class_name: str | None, where: str) -> type[Workload]:
    if class_name is not None:
        for cls in candidates:
            if cls.__name__ == class_name:
                return cls
        raise UnknownWorkloadError(f"{where} defines no workload class {class_name!r}")
    if len(candidates) != 1:
        names = ", ".join(c.__name__ for c in candidates) or "none"
        raise UnknownWorkloadError(
            f"{where} must define exactly one Workload subclass (found: {names}); "
            "name one with MODULE:CLASS"
        )
    return candidates[0]


def resolve(spec: str) -> type[Workload]:
    """Return the Workload class a spec names, or raise UnknownWorkloadError listing choices."""
    target, _, class_name = spec.partition(":")
    if target.endswith(".py") or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise UnknownWorkloadError(f"workload file not found: {target}")
        cls = _pick(workloads_in(_import_file(path)), class_name or None, str(path))
    elif "." in target or class_name:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise UnknownWorkloadError(f"cannot import workload module {target!r}: {exc}") from exc
        cls = _pick(workloads_in(module), class_name or None, target)
    else:
        known = builtin_workloads()
        if target not in known:
            raise UnknownWorkloadError(
                f"unknown workload {target!r}; valid: {', '.join(sorted(known))} "
                "(or a module / .py file defining a Workload)"
            )
        cls = known[target]
    if not NAME_PATTERN.match(getattr(cls, "name", "")):
        raise UnknownWorkloadError(
            f"workload class {cls.__name__} needs a name of [A-Za-z0-9_.-], got {cls.name!r}"
        )
    return cls
