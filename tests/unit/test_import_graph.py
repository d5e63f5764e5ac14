"""The import graph of husk: rooms that import only downwards, no cycles.

Every import counts, at module level or inside a function (moving an import
into a function hides a cycle from Python, not from a reader); only imports
under ``if TYPE_CHECKING:`` are left out, as they never run."""

import ast
import pathlib

CORE = pathlib.Path(__file__).resolve().parents[2] / "core"

#: each room, and the rooms it may import (husk itself, for __version__, define and faults are open to all)
ROOMS = {
    "formats": set(),
    "state": {"formats"},
    "storage": {"formats", "state"},
    "network": {"formats", "state"},
    "volumes": {"formats", "state", "storage"},
    "engine": {"formats", "state", "storage", "network", "volumes",
               "monitor"},  # the stdlib-only leaf's unix-socket binding and child subreaper, for its launcher
    "presentation": {"formats", "state", "storage", "network", "engine", "volumes"},
    # husk build: RUN runs containers (the engine); the front ends call it
    "build": {"formats", "state", "storage", "network", "engine", "volumes"},
    "api": {"formats", "state", "storage", "network", "engine", "presentation", "volumes", "build",
            "monitor"},  # the stdlib-only leaf's unix-socket binding
    # `husk system service` starts the API service: the one arrow between the front ends
    "cli": {"formats", "state", "storage", "network", "engine", "presentation", "api", "volumes", "build"},
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(CORE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["husk", *parts])


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(path): path for path in CORE.rglob("*.py") if "__pycache__" not in path.parts}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING"


def _imports(name: str, path: pathlib.Path, modules: dict) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[:len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:
                    submodule = f"{target}.{alias.name}"
                    found.add(submodule if submodule in modules else target)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    return {target for target in found if target in modules and target != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "husk"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
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
                components.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return components


def test_the_graph_sees_imports_inside_functions():
    graph = _graph()
    # husk.engine.runtime imports Container inside its methods only
    assert "husk.engine.container" in graph["husk.engine.runtime"]


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_api_never_imports_the_cli():
    wrong = [(module, target) for module, targets in _graph().items() if _room(module) == "api"
             for target in targets if _room(target) == "cli"]
    assert wrong == []


def test_rooms_import_only_downwards():
    wrong = []
    for module, targets in _graph().items():
        allowed = ROOMS.get(_room(module))
        if allowed is None:
            continue
        wrong += [(module, target) for target in targets
                  if _room(target) not in allowed | {_room(module), "define", "faults", "husk"}]
    assert wrong == []


def test_define_faults_and_the_monitor_import_nothing_of_husk():
    graph = _graph()
    assert graph["husk.define"] == set()
    assert graph["husk.faults"] == set()
    monitor = [name for name in graph if name == "husk.monitor" or name.startswith("husk.monitor.")]
    assert len(monitor) > 1  # the package and its parts
    assert [(name, target) for name in monitor for target in graph[name]
            if not target.startswith("husk.monitor")] == []
