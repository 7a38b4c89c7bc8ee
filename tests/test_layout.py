"""The shape of the source tree: no import cycles, nothing outside tests/ imports tests/, and
experiments/ keeps the command line and the run store at its top with the rest in subpackages."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agents", "configs", "envs", "experiments", "reward_clients", "robots")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (annotations only, never imported)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def imported_names(path: Path) -> set[str]:
    """Every module name an import statement in `path` names (function-level imports too)."""
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    return {name: {m for m in imported_names(path) if m in modules and m != name}
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_for_type_checking_only_are_not_edges(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nimport a\nif TYPE_CHECKING:\n    import b\n"
                      "def f():\n    import c\n")
    assert imported_names(module) == {"typing", "typing.TYPE_CHECKING", "a", "c"}


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_nothing_outside_tests_imports_tests():
    offenders = {name: sorted(m for m in imported_names(path) if m == "tests" or m.startswith("tests."))
                 for name, path in source_modules().items()}
    assert {name: found for name, found in offenders.items() if found} == {}
    loaders = [name for name, path in source_modules().items() if '"tests"' in path.read_text()]
    assert loaders == [], "modules that build paths into tests/"


def test_experiments_top_level_is_the_command_line_and_the_run_store():
    top = sorted(p.stem for p in (ROOT / "experiments").glob("*.py"))
    # The command line and the run store (rundir, with its durable JSONL appends) only.
    assert top == ["__init__", "__main__", "cli", "jsonl", "rundir"]
    subpackages = sorted(p.parent.name for p in (ROOT / "experiments").glob("*/__init__.py"))
    assert subpackages == ["bench", "dashboard", "datasets", "hardware", "training"]
