"""No import circle among transformer_lab's modules.

The graph is read from the source with `ast`, without importing anything: an edge A -> B for every
`import B` / `from B import x` in A, at module level or inside a function (a deferred import still ties
the two modules together), except under `if TYPE_CHECKING:` (annotations only). `from P import m` where
`P.m` is a module counts as an edge to `P.m`. A circle is a strongly connected component of more than one
module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "transformer_lab"
SRC = Path(__file__).resolve().parents[2] / "src" / PACKAGE

# Circles in areas being refactored in parallel, each named by its sorted modules; remove an entry once its
# circle is gone (the test then insists that it stays gone).
KNOWN_CYCLES: set[frozenset[str]] = set()


def module_names(root: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the package (a package is named by its __init__)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement outside `if TYPE_CHECKING:` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package modules that module `name` (file `path`) imports."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            while target and target not in modules:  # `import a.b.c` of a name inside a module: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    names = module_names(root)
    return {name: imports_of(name, path, set(names)) for name, path in names.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_cycle_finder_finds_a_circle_and_nothing_else(tmp_path):
    root = tmp_path / PACKAGE
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("from . import a\n")
    (root / "sub" / "a.py").write_text("def f():\n    from transformer_lab.sub.b import g\n")
    (root / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nfrom .c import h\n"
                                       "if TYPE_CHECKING:\n    from transformer_lab.sub import d\n")
    (root / "sub" / "c.py").write_text("import transformer_lab.sub.a\n")
    (root / "sub" / "d.py").write_text("from transformer_lab.sub.b import g\n")
    graph = import_graph(root)
    assert graph["transformer_lab.sub"] == {"transformer_lab.sub.a"}
    assert graph["transformer_lab.sub.b"] == {"transformer_lab.sub.c"}  # the TYPE_CHECKING import is no edge
    assert cycles(graph) == [frozenset({"transformer_lab.sub.a", "transformer_lab.sub.b", "transformer_lab.sub.c"})]


def _describe(cycle: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = [f"{a} -> {b}" for a in sorted(cycle) for b in sorted(graph[a] & cycle)]
    return "{" + ", ".join(sorted(cycle)) + "}: " + "; ".join(edges)


def test_no_import_cycles_in_the_package():
    graph = import_graph()
    assert len(graph) > 50 and "transformer_lab.decoding.search" in graph  # the walk found the package
    new = [cycle for cycle in cycles(graph) if cycle not in KNOWN_CYCLES]
    assert not new, "import circles (break each, e.g. by moving the shared part into its own module):\n" + \
        "\n".join(_describe(cycle, graph) for cycle in new)


def test_known_cycles_are_still_there():
    """A known circle that has been broken must leave KNOWN_CYCLES, so that it cannot come back."""
    present = set(cycles(import_graph()))
    gone = [sorted(cycle) for cycle in KNOWN_CYCLES if cycle not in present]
    assert not gone, f"no longer circles, remove them from KNOWN_CYCLES: {gone}"
