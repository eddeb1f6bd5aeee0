"""The import graph of ``tinydl`` has one cycle only: the engine core, Tensor <-> ops.

``tinydl/tensor.py`` defines ``Tensor`` and then (at its bottom) imports ``tinydl.autograd`` and
``tinydl.ops``, so that ``a + b`` or ``x.sum()`` can call the primitives; ``autograd`` and every
``ops`` module import ``Tensor`` back. That strongly connected group, ``ALLOWED_CYCLE`` below
(``tinydl.tensor``, ``tinydl.autograd``, ``tinydl.promotion`` (the dtype rules that
``Function.apply`` uses), the ``tinydl.ops`` package and its modules), is the one documented
cycle. Any other cycle (``functional`` <-> ``functional.attention``, say, or a layer
importing a module that imports the layer) fails this test.

The graph is read from the source with ``ast``, without importing anything: an edge A -> B for
every ``import B`` at module level of A (also inside ``if`` / ``try`` blocks at module level);
for ``from B import name`` an edge A -> B.name when ``name`` is a module, else A -> B. Imports inside a
function run when it is called, not when the module loads, so they are not edges of the
import-time graph; the implicit import of a parent package (``tinydl`` for ``tinydl.nn``) is
not an edge either, since every module would then sit in one cycle through ``tinydl/__init__``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import tinydl

PACKAGE_ROOT = Path(tinydl.__file__).parent

ALLOWED_CYCLE_CORE = {"tinydl.tensor", "tinydl.autograd", "tinydl.promotion", "tinydl.ops"}


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _module_level_imports(tree: ast.Module):
    """Import statements run at import time: module level, including inside if/try/with."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)


def import_graph() -> dict[str, set[str]]:
    """{module: the tinydl modules it imports at load time}."""
    modules = _module_names()
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in _module_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            if node.level:  # relative import: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            submodules = {f"{source}.{alias.name}" for alias in node.names} & modules.keys()
            targets.update(submodules)
            if len(submodules) < len(node.names):  # some names are attributes of ``source``
                targets.add(source)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def strongly_connected_groups(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the groups of modules that reach each other (size > 1 = a cycle)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _is_engine_core(module: str) -> bool:
    return module in ALLOWED_CYCLE_CORE or module.startswith("tinydl.ops.")


def test_the_only_import_cycle_is_tensor_and_ops():
    cycles = [group for group in strongly_connected_groups(import_graph()) if len(group) > 1]
    outside = [sorted(group) for group in cycles if not all(map(_is_engine_core, group))]
    assert not outside, f"import cycles outside the documented Tensor <-> ops one: {outside}"
    assert len(cycles) == 1 and {"tinydl.tensor", "tinydl.ops"} <= cycles[0], cycles


def test_the_graph_sees_known_edges():
    """The parser finds real imports (a graph without edges would have no cycles either)."""
    graph = import_graph()
    assert "tinydl.ops" in graph["tinydl.tensor"]
    assert "tinydl.tensor" in graph["tinydl.ops.elementwise"]
    assert "tinydl.functional" in graph["tinydl.nn.rnn"]


def test_a_cycle_is_found():
    groups = strongly_connected_groups({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert sorted(map(sorted, groups)) == [["a", "b", "c"], ["d"]]


def test_nn_uses_functional_not_ops_functions():
    """nn/ reaches compositions through tinydl.functional; no layer imports a Function class."""
    graph = import_graph()
    for module in sorted(m for m in graph if m.startswith("tinydl.nn.")):
        for target in ("tinydl.ops.recurrent", "tinydl.ops.normalization", "tinydl.ops.loss"):
            assert target not in graph[module], f"{module} imports {target}; use tinydl.functional"
