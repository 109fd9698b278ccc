"""The project's modules import one another without a circle: read from the code (every
import statement, also those inside functions, and the packages' __init__ each import runs),
not from what happens to load."""

import ast
from pathlib import Path

from tests.helpers import ROOT

PACKAGES = ("src", "hydra_plugins")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:k]) for k in range(1, len(parts))}


def import_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports."""
    files = {module_name(p): p for top in PACKAGES for p in (ROOT / top).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package upwards
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from package import module` imports the module
                found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files
                             else base for alias in node.names)
        # importing a.b.c runs a/__init__ and a/b/__init__ too (those the importer is itself
        # inside have run already: a package that imports its own modules is no circle)
        own = ancestors(name)
        found |= {p for m in found for p in ancestors(m) - own}
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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


def test_no_module_imports_itself_through_others():
    assert circles(import_graph()) == []


def test_a_circle_would_be_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    graph = import_graph()
    assert "src.config.command_config" in graph["src.run"]  # the reader sees real imports
    assert "src.config" in graph["src.run"]  # and the package __init__ an import runs


def test_the_shared_sweeper_name_is_the_plugin_class():
    import importlib

    from src.config.names import OPTUNA_SWEEPER

    module, _, name = OPTUNA_SWEEPER.rpartition(".")
    plugin = getattr(importlib.import_module(module), name)
    assert plugin.__module__ == module and plugin.__name__ == name
