"""The house's shape holds: no import cycle in `engine/` outside the emulator, the core takes the step contract
from `engine.api`, and built-in plugins use that API and nothing else of the engine."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ENGINE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every engine module `path` imports, at the top or inside a function (lazily imported still depends)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "engine"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "engine":
                continue
            # `from . import kube` names a module; `from .api import Outcome` names a module's member.
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if (ENGINE.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (ENGINE.parent / sub.replace(".", "/") / "__init__.py").exists() else target)
    return found


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for path in ENGINE.rglob("*.py"):
        module = _module(path)
        if module.startswith("engine.emulator"):
            continue
        graph.add_node(module)
        for target in _imports(path):
            if not target.startswith("engine.emulator") and target != module:
                graph.add_edge(module, target)
    # A package's __init__ is imported with any of its modules: not an edge back into the package.
    for a, b in list(graph.edges()):
        if a.startswith(b + "."):
            graph.remove_edge(a, b)
    return graph


def test_no_import_cycle_in_engine_outside_the_emulator():
    cycles = list(nx.simple_cycles(_graph()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + [c[0]]) for c in cycles[:5])


def test_the_core_takes_the_step_contract_from_the_api_not_from_plugins():
    graph = _graph()
    users = sorted(m for m in graph.predecessors("engine.plugins.base")) if "engine.plugins.base" in graph else []
    assert users == [], f"modules importing engine.plugins.base instead of engine.api: {users}"


def test_built_in_plugins_use_only_the_public_api():
    graph = _graph()
    for module in sorted(m for m in graph if m.startswith("engine.plugins.") and m not in (
            "engine.plugins.registry", "engine.plugins.base")):
        beyond = sorted(t for t in graph.successors(module)
                        if t != "engine.api" and not t.startswith("engine.plugins"))
        assert not beyond, f"{module} imports {beyond} beyond engine.api"


MAP = ENGINE.parent / "docs" / "architecture-map.md"


def _layers_of_the_map() -> dict[str, int]:
    """docs/architecture-map.md's layer table: module (or package) -> its layer's number."""
    layers: dict[str, int] = {}
    for line in MAP.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            for name in re.findall(r"`([\w.]+)/?`", cells[2]):
                layers[name] = int(cells[0])
    return layers


def _placed(module: str, layers: dict[str, int]) -> str | None:
    """The entry of the map that holds `module`: itself (`fleet.cli`) or its package (`fleet`)."""
    name = module.removeprefix("engine.")
    while name and name not in layers:
        name = name.rpartition(".")[0]
    return name or None


def test_the_architecture_map_places_every_module_and_none_imports_from_a_later_layer():
    layers = _layers_of_the_map()
    graph = _graph()
    modules = [m for m in graph if m != "engine"]
    assert [m for m in modules if _placed(m, layers) is None] == []
    upward = sorted(f"{a} ({layers[_placed(a, layers)]}) -> {b} ({layers[_placed(b, layers)]})"
                    for a, b in graph.edges() if b != "engine"
                    and layers[_placed(b, layers)] > layers[_placed(a, layers)])
    assert upward == []
