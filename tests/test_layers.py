"""The layers import one way: genolang (core) <- compiler <- runtime <- searchers (the drivers).

Every ``import`` and ``from ... import`` of the package's sources, at module level or inside a
function, is read with :mod:`ast` (imports named as strings, as the CLI's sub-command groups,
are wiring, not dependencies). Oracles: no import goes against the layer order, so the
layers form no cycle; the package's modules form no cycle among themselves (imports of
``TYPE_CHECKING`` blocks and inside functions included); and no module imports another
module's private (``_``-prefixed) name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: source folder -> (package prefix, layer rank: a module imports only from ranks <= its own)
LAYERS = {"genolang": ("genolang", 0), "compiler": ("genolang.compiler", 1), "runtime": ("genolang.runtime", 2),
          "searchers": ("genolang.searchers", 3)}
def modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the four packages."""
    found = {}
    for folder, (prefix, _) in LAYERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((prefix, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(imported module, names taken from it) for every genolang import in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, ()) for a in node.names if a.name.startswith("genolang")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("genolang"):
            out.append((node.module, tuple(a.name for a in node.names)))
    return out


def rank(module: str) -> int:
    best = max((prefix for prefix, _ in LAYERS.values() if module == prefix or module.startswith(prefix + ".")),
               key=len)
    return next(r for prefix, r in LAYERS.values() if prefix == best)


MODULES = modules()


def edges() -> dict[str, set[str]]:
    """Module -> the package modules it imports.

    ``from pkg import mod`` where ``mod`` is a submodule counts as importing ``pkg.mod``, not
    ``pkg`` itself; ``pkg`` (its ``__init__``) counts when a name taken from it is not a submodule.
    """
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for target, names in imports(path):
            submodules = {n for n in names if f"{target}.{n}" in MODULES}
            graph[name] |= {f"{target}.{n}" for n in submodules}
            if target in MODULES and (not names or set(names) - submodules):
                graph[name].add(target)
    return graph


def test_every_import_follows_the_layer_order():
    wrong = sorted(f"{name} imports {target}" for name, path in MODULES.items() for target, _ in imports(path)
                   if rank(target) > rank(name))
    assert wrong == []


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(edges())
    assert cycle is None, " -> ".join(cycle or [])


def test_a_submodule_taken_from_its_package_is_an_edge_to_the_submodule():
    graph = edges()
    assert "genolang.ast" in graph["genolang.resolve"]  # `from genolang import ast as A`
    assert "genolang" not in graph["genolang.resolve"]
    assert "genolang" in graph["genolang.compiler.export"]  # `from genolang import __version__`


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path (first node repeated at the end), or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    return next((c for n in sorted(graph) if n not in state and (c := visit(n))), None)


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_is_imported_across_modules(name):
    private = [f"{target}.{n}" for target, names in imports(MODULES[name]) for n in names
               if n.startswith("_") and not n.startswith("__")]
    assert private == []
