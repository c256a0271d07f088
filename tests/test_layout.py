"""The code layout: sub-packages by role, dependencies one way, no import circles.

Imports are read from the source (every `import` statement, including those inside
functions, which is where the old circles hid), not by importing the modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGES = ("inspectors", "migrate")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that `path` imports anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    edges = {name: imports_of(path, modules) for name, path in modules.items()}
    # `from pkg import module` also names the package; a package importing its own
    # modules is not an edge back into it.
    return {name: {t for t in targets
                   if t != name and not name.startswith(t + ".") and not t.startswith(name + ".")}
            for name, targets in edges.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_inspectors_never_imports_migrate():
    edges = graph()
    offending = {name: sorted(t for t in targets if t.startswith("migrate"))
                 for name, targets in edges.items() if name.startswith("inspectors")}
    assert {name: found for name, found in offending.items() if found} == {}


def test_sub_packages_by_role():
    modules = project_modules()
    for package in ("inspectors.sources", "inspectors.formats", "inspectors.graphs",
                    "inspectors.cli", "migrate.rebuild", "migrate.names", "migrate.write",
                    "migrate.targets", "migrate.cli"):
        assert package in modules, package
        docstring = ast.get_docstring(ast.parse(modules[package].read_text()))
        assert docstring and "May import" in docstring, package
    flat = sorted(name for name in modules if name.count(".") == 1)
    assert len(flat) < 27, flat


def test_package_inits_import_nothing():
    """`tfckpt --help` must not pay for a package's __init__."""
    for name, path in project_modules().items():
        if path.name == "__init__.py":
            tree = ast.parse(path.read_text())
            assert not [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))], name


def test_help_imports_neither_tensorflow_nor_numpy():
    script = ("import sys\nfrom migrate.cli.main import main\n"
              "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in ('tensorflow', 'numpy', 'h5py') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
