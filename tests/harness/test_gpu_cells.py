"""The GPU tests' cells are valid configs, checked on every machine (no GPU needed).

Found by reading: the MFU test once built a cell with ``steps=60`` and ``window=8``, which
the config refuses, so it could never run; nothing showed it without a GPU.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from harness.config import CellConfig
from tests.harness import gpu_cells

TESTS = Path(__file__).resolve().parents[1]
GPU_MARK = re.compile(r"^(pytestmark = |@)pytest\.mark\.gpu\b", re.M)
GPU_TESTS = [p for p in TESTS.rglob("test_*.py") if GPU_MARK.search(p.read_text())]
BUILDERS = {"tiny_cell", "cuda_cell", "CellConfig", "from_dict", "replace"}


def test_every_cell_of_the_gpu_tests_is_a_valid_config():
    cells = gpu_cells.all_cells()  # building them runs every check CellConfig makes
    assert cells and all(isinstance(c, CellConfig) and c.device == "cuda" for c in cells)
    for cell in cells:
        assert CellConfig.from_dict(cell.to_dict()) == cell


def _gpu_code(tree: ast.Module) -> list[ast.AST]:
    """The module (when ``pytestmark`` marks it gpu) or its gpu-decorated functions."""
    if any(isinstance(n, ast.Assign) and any(getattr(x, "id", "") == "pytestmark"
                                             for x in n.targets)
           and "gpu" in ast.unparse(n.value) for n in tree.body):
        return [tree]
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
            and any("mark.gpu" in ast.unparse(d) for d in n.decorator_list)]


def test_the_gpu_tests_build_no_cell_of_their_own():
    # every cell a GPU test runs must come from gpu_cells, where the test above checks it
    assert len(GPU_TESTS) >= 3
    for path in GPU_TESTS:
        calls = {node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                 for code in _gpu_code(ast.parse(path.read_text())) for node in ast.walk(code)
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)}
        assert not calls & BUILDERS, (path.name, calls & BUILDERS)
