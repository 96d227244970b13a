"""The package's imports run down its layers (see entembed/__init__.py) and never in a circle.

Every import is read with ``ast``, including those inside functions: an import placed in a function to
dodge a cycle is a cycle all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "entembed"

#: Top to bottom; a module may import from its own layer and the layers below it. A module is placed by its
#: longest matching prefix ("models.pair" falls under "models").
LAYERS = [
    ["__main__"],
    ["cli"],
    ["serve"],
    ["viz", "export", "demo", "sklearn", "protocols"],
    ["api", "foldin", "checkpoints", "distributed"],
    ["storage"],
    ["train"],
    ["models"],
    ["data"],
    ["embeddings", "evaluate"],
    ["index", "ann", "vocab"],
    ["atomic", "errors", "version"],
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def internal_imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports (relative or absolute), as dotted names below entembed."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif (node.module or "").startswith("entembed"):
                target = node.module.removeprefix("entembed").lstrip(".")
            else:
                continue
            found.add(target)
            found.update(f"{target}.{alias.name}".strip(".") for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("entembed").lstrip(".") for a in node.names if a.name.startswith("entembed"))
    modules = all_modules()
    return {m for m in found if m in modules and m and m != name}


def all_modules() -> set[str]:
    return {module_name(p) for p in PACKAGE.rglob("*.py")} - {""}


def layer_of(module: str) -> int:
    best, layer = -1, None
    for index, names in enumerate(LAYERS):
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), index
    if layer is None:
        raise AssertionError(f"module {module!r} has no layer: add it to LAYERS (and to entembed/__init__.py)")
    return layer


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): internal_imports(p) for p in PACKAGE.rglob("*.py") if module_name(p)}


def test_every_import_runs_down_the_layers():
    upward = [f"{source} imports {target}" for source, targets in import_graph().items() for target in targets
              if layer_of(target) < layer_of(source)]
    assert upward == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a list of modules, first repeated last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    graph = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in import_graph().items()}
    assert find_cycle(graph) is None


def test_the_checks_catch_a_cycle_and_an_upward_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer_of("train") < layer_of("models.pair") < layer_of("data.pairs") < layer_of("vocab")
    with pytest.raises(AssertionError, match="has no layer"):
        layer_of("newroom")
