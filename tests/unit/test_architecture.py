"""The import rules of ARCHITECTURE.md, checked on every module of mlkit and every notebook.

Every `import` and `from ... import` is read with `ast`, at any depth (imports inside
functions count), so a forbidden arrow fails here with the file, line and rule.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlkit.settings import repo_root

ROOT = repo_root()
PACKAGE = ROOT / "mlkit"
DATA_LAYER = ("mlkit.data", "mlkit.churn_model", "mlkit.contract")
RUNTIME_MAY_IMPORT = ("mlkit._runtime", "mlkit.errors", "mlkit.settings")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, package: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of an mlkit module in `tree`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against the importing package
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # `from mlkit import lessons` and `from mlkit.lessons import x` both count
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("mlkit."):  # the bare package is every module's parent
                yield node.lineno, name


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def mlkit_imports() -> list[tuple[str, int, str]]:
    rows = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(), filename=str(path))
        rows += [(module, line, name) for line, name in imported(tree, package)]
    return rows


RULES = {
    "the library, the runtime and the grader never import a lesson prop": lambda src, dst: (
        not within(src, "mlkit.lessons") and within(dst, "mlkit.lessons")
    ),
    "data and models never import settings, the runtime or the rest of mlkit": lambda src, dst: (
        within(src, *DATA_LAYER) and not within(dst, *DATA_LAYER, "mlkit.errors")
    ),
    "the runtime imports only the runtime, errors and settings": lambda src, dst: (
        within(src, "mlkit._runtime") and not within(dst, *RUNTIME_MAY_IMPORT)
    ),
    "errors and settings import nothing from mlkit": lambda src, dst: within(
        src, "mlkit.errors", "mlkit.settings"
    ),
    # A copy of api_guard.py ships next to service.py in images that have no mlkit.
    "the API guard imports nothing from mlkit": lambda src, dst: within(src, "mlkit.api_guard"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_no_forbidden_import_in_mlkit(rule):
    broken = [
        f"{src} (line {line}) imports {dst}"
        for src, line, dst in mlkit_imports()
        if RULES[rule](src, dst)
    ]
    assert not broken, f"{rule}:\n" + "\n".join(broken)


def test_the_rules_see_imports_inside_functions_and_relative_ones():
    tree = ast.parse("def f():\n    from mlkit.lessons import capstone\nfrom . import net\n")
    found = [name for _, name in imported(tree, "mlkit._runtime")]
    assert "mlkit.lessons.capstone" in found and "mlkit._runtime.net" in found
    assert RULES["the library, the runtime and the grader never import a lesson prop"](
        "mlkit.serving", "mlkit.lessons.capstone"
    )


def notebook_imports() -> Iterator[tuple[str, str]]:
    for folder in ("course", "labs", "solutions"):
        for notebook in sorted((ROOT / folder).glob("*.ipynb")):
            cells = json.loads(notebook.read_text())["cells"]
            for index, cell in enumerate(cells):
                if cell["cell_type"] != "code":
                    continue
                source = "".join(cell["source"])
                lines = [line for line in source.splitlines() if not line.startswith(("%", "!"))]
                try:
                    tree = ast.parse("\n".join(lines))
                except SyntaxError:  # a lab placeholder or cell magic: not Python to check
                    continue
                for _, name in imported(tree, ""):
                    yield f"{folder}/{notebook.name} cell {index}", name


def test_notebooks_import_only_the_public_mlkit():
    private = [
        f"{where} imports {name}"
        for where, name in notebook_imports()
        if any(part.startswith("_") for part in name.split("."))
    ]
    assert not private, "notebooks import public mlkit modules only:\n" + "\n".join(private)


def test_notebooks_are_read():
    assert sum(1 for _ in notebook_imports()) > 50
