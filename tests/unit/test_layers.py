"""The import graph of prefopt runs one way: each package imports only from the packages below it, and no two
modules import each other, directly or through others (function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "prefopt"

# lowest first; a module may import from its own layer's package or a lower one
LAYERS = (
    ("types", "hub_names", "quickstart", "registry", "rankings", "config", "plots", "atomic", "storage"),
    ("losses",),
    ("data",),
    ("model",),
    ("reference",),
    ("run",),
    ("engine",),
    ("sampling",),
    ("scoring",),
    ("verify",),
    ("api",),
    ("iterative",),
    ("experiments",),
    ("cli",),
    ("__init__",),
)
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The prefopt modules ``path`` imports, anywhere in it (``from prefopt import x`` names ``prefopt.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("prefopt."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "prefopt":
            if node.module == "prefopt":
                found.update(f"prefopt.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


GRAPH = {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _level(module: str) -> int:
    """A module's layer: its top-level package's; a ``__main__`` (a command line of its own) stands with cli."""
    parts = module.split(".")
    if parts[-1] == "__main__":
        return LEVEL["cli"]
    return LEVEL["__init__" if len(parts) == 1 else parts[1]]


def test_every_top_level_module_has_a_layer():
    for module in GRAPH:
        _level(module)  # KeyError names a module without a layer


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    upward = [target for target in GRAPH[module] if _level(target) > _level(module)]
    assert not upward, f"{module} imports from a layer above its own: {upward}"


def test_no_cycles():
    packages = {_module_name(path) for path in PACKAGE.rglob("__init__.py")}
    visiting, done, cycles = [], set(), []

    def visit(module: str) -> None:
        if module in done:
            return
        if module in visiting:
            cycles.append(visiting[visiting.index(module) :] + [module])
            return
        visiting.append(module)
        for target in sorted(GRAPH.get(module, ())):
            # a package's __init__ gathering its own modules is how a package is built, not a cycle
            if not (module in packages and target.startswith(module + ".")):
                visit(target)
        visiting.pop()
        done.add(module)

    for module in GRAPH:
        visit(module)
    assert not cycles, cycles
