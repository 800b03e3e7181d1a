"""The import graph of the project reads in one direction: no module imports one that
(directly or through others) imports it back, and registrations happen in ``AppConfig.ready()``.

The graph is built with grimp over the project's packages; imports inside functions count,
imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
PACKAGES = ("orderhub", "channels_app", "health", "traceability")


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of two or more modules that import each
    other (a module importing itself counts too), each sorted, sorted by first module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1 or node in graph[node]:
                        groups.append(sorted(group))
    return sorted(groups)


def _cycle_path(graph: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """The shortest cycle through ``start`` as a list of modules, first == last."""
    previous: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        next_frontier = []
        for node in frontier:
            for successor in sorted(graph[node] & members):
                if successor == start:
                    path = [node]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])  # type: ignore[arg-type]
                    return [*reversed(path), start]
                if successor not in previous:
                    previous[successor] = node
                    next_frontier.append(successor)
        frontier = next_frontier
    return [start]


def _line(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    return f"{importer}:{details[0]['line_number']}" if details else importer


def import_cycles(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """One line per group of modules that import each other: a shortest cycle through its
    first module, each step with the line of the import."""
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=True, cache_dir=None)
    edges = {
        module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules
    }
    found = []
    for group in _strongly_connected(edges):
        path = _cycle_path(edges, group[0], set(group))
        steps = " -> ".join(
            _line(graph, importer, imported) for importer, imported in itertools.pairwise(path)
        )
        found.append(f"{', '.join(group)}: {steps} -> {path[-1]}")
    return found


def test_the_project_has_no_import_cycles() -> None:
    cycles = import_cycles()
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_the_cycle_finder_reports_every_cycle_and_only_cycles() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": set(),
        "e": {"e"},
        "f": {"g"},
        "g": {"f"},
    }
    assert _strongly_connected(graph) == [["a", "b", "c"], ["e"], ["f", "g"]]
    assert _cycle_path(graph, "a", {"a", "b", "c"}) == ["a", "b", "c", "a"]
    assert _cycle_path(graph, "e", {"e"}) == ["e", "e"]
    assert _strongly_connected({"a": {"b"}, "b": set()}) == []


def _side_effect_imports(path: Path) -> Iterator[str]:
    """Imports of ``path`` kept although unused (``noqa: F401``) outside a function named
    ``ready``: a module imported only for what it registers."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    in_ready: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "ready":
            in_ready.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno not in in_ready:
            text = " ".join(lines[node.lineno - 1 : node.end_lineno])
            if "F401" in text and "noqa" in text:
                yield f"{path.relative_to(BASE_DIR)}:{node.lineno}"


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_are_imported_for_what_they_register_only_in_ready(package: str) -> None:
    found = [
        hit
        for path in sorted((BASE_DIR / package).rglob("*.py"))
        if "migrations" not in path.parts and "tests" not in path.parts
        for hit in _side_effect_imports(path)
    ]
    assert found == [], "imported only for what they register (move to ready()):\n" + "\n".join(
        found
    )
