"""The layers hold: pyproject.toml's import-linter contracts pass, no module of harness,
reports or workloads reaches itself through a chain of imports, and every import of them
names a module that exists.

An import inside a function counts as much as one at the top: hiding it there delays the
import, it does not remove the dependency. Only ``if TYPE_CHECKING:`` blocks are left out
(annotations, never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "reports", "workloads")


def test_the_import_linter_contracts_are_kept(capsys):
    use_cases = pytest.importorskip("importlinter.application.use_cases")
    pytest.importorskip("importlinter.api")  # configures import-linter's adapters

    passed = use_cases.lint_imports(config_filename=str(ROOT / "pyproject.toml"),
                                    cache_dir=None, no_logo=True)
    assert passed, capsys.readouterr().out


def module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _statements(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _statements(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _statements([c for c in children if isinstance(c, ast.AST)])


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules ``name`` imports (``from package import module`` names the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _statements(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")[:len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                     for a in node.names)
    return {m for m in (_known_prefix(f, known) for f in found) if m and m != name}


def _known_prefix(module: str, known: set[str]) -> str | None:
    while module and module not in known:
        module = module.rpartition(".")[0]
    return module or None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None: a depth-first walk."""
    state: dict[str, str] = {}  # "open" while on the walk's path, then "done"
    path: list[str] = []

    def walk(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return [*path[path.index(target):], target]
            if target not in state and (cycle := walk(target)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := walk(module)):
            return cycle
    return None


def test_no_module_imports_itself_through_a_chain():
    files = module_files()
    graph = {name: imported_modules(name, path, set(files)) for name, path in files.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def unknown_imports(path: Path, known: set[str]) -> list[str]:
    """The modules of harness, reports or workloads that ``path`` imports and that do not
    exist: a path that moved, say, and an import that a merge brought in under the old one."""
    missing = []
    for node in _statements(ast.parse(path.read_text()).body):
        if isinstance(node, ast.ImportFrom):
            names = [] if node.level or node.module is None else [node.module]
        else:
            names = [alias.name for alias in node.names]
        missing += [n for n in names if n.split(".")[0] in PACKAGES and n not in known]
    return missing


def test_every_import_of_the_project_names_a_module_that_exists():
    known = set(module_files())
    sources = [p for folder in (*PACKAGES, "tests", "benchmarks")
               for p in sorted((ROOT / folder).rglob("*.py"))]
    missing = {str(p.relative_to(ROOT)): m for p in sources if (m := unknown_imports(p, known))}
    assert not missing, missing


def test_the_cycle_walk_finds_a_cycle_and_its_absence():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_lazy_and_relative_imports_are_edges(tmp_path):
    (tmp_path / "pkg").mkdir()
    module = tmp_path / "pkg" / "mod.py"
    module.write_text("from typing import TYPE_CHECKING\n"
                      "from . import sibling\n"
                      "if TYPE_CHECKING:\n    import pkg.annotations\n"
                      "def later():\n    from pkg.deep.inner import thing\n")
    known = {"pkg", "pkg.mod", "pkg.sibling", "pkg.annotations", "pkg.deep", "pkg.deep.inner"}
    assert imported_modules("pkg.mod", module, known) == {"pkg.sibling", "pkg.deep.inner"}
