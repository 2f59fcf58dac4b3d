"""No import circle in cds_service/: every module can be imported first, in any order.

The graph counts every import a module writes, wherever it stands (module level, inside a
function, under TYPE_CHECKING), and the package `__init__` that Python runs before a module of
another package. A circle through a lazy or type-only import is still a circle: it only
waits for the next refactoring to bite.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cds_service

PACKAGE_DIR = Path(cds_service.__file__).parent


def module_names(package_dir: Path) -> dict[str, Path]:
    root = package_dir.parent
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name an import in the file names (a module, or a module plus attribute)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    modules = module_names(package_dir)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        for name in imported_names(module, path):
            if name not in modules:
                continue
            # Importing a.b.c runs a and a.b first, unless the importer already lives inside.
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                target = ".".join(parts[:end])
                inside = module == target or module.startswith(target + ".")
                if target in modules and not inside:
                    graph[module].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_graph_sees_the_packages_and_their_imports():
    graph = import_graph(PACKAGE_DIR)
    assert {"cds_service.web.app", "cds_service.replay", "cds_service.feedback"} <= set(graph)
    assert "cds_service.vocabulary" in graph["cds_service.knowledge.model"]


def test_there_is_no_import_circle_in_cds_service():
    assert circles(import_graph(PACKAGE_DIR)) == []


def test_the_knowledge_does_not_import_the_decision_core():
    graph = import_graph(PACKAGE_DIR)
    knowledge = [m for m in graph if m.startswith("cds_service.knowledge")]
    assert [
        (m, t) for m in knowledge for t in graph[m] if t.startswith("cds_service.decision")
    ] == []


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_a_circle_through_a_type_only_import_is_found(tmp_path):
    package = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/report.py": "from pkg.html import render\n",
            "pkg/html.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.report import Report\n"
            ),
        },
    )
    assert circles(import_graph(package)) == [["pkg.html", "pkg.report"]]


def test_a_circle_through_a_package_init_is_found(tmp_path):
    # b.model imports a.model; a/__init__ re-exports a.core, which needs b.model: importing
    # b.model first fails halfway, the trap knowledge/ and decision/ were in.
    package = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a/__init__.py": "from pkg.a.core import run\n",
            "pkg/a/core.py": "from pkg.b.model import Thing\n",
            "pkg/a/model.py": "X = 1\n",
            "pkg/b/__init__.py": "",
            "pkg/b/model.py": "from pkg.a.model import X\n",
        },
    )
    assert circles(import_graph(package)) == [["pkg.a", "pkg.a.core", "pkg.b.model"]]


def test_a_package_importing_its_own_modules_is_no_circle(tmp_path):
    package = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a/__init__.py": "from pkg.a.core import run\n",
            "pkg/a/core.py": "from pkg.a import helpers\n",
            "pkg/a/helpers.py": "",
        },
    )
    assert circles(import_graph(package)) == []
